"""Rewards pages."""

from __future__ import annotations

from flask import render_template

from app.security import login_required
from rewards import bp


@bp.route("/rewards")
@login_required
def catalog():
    """The Rewards tab: what my points can buy."""
    return render_template("rewards/catalog.html")
