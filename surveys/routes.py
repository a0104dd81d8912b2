"""Survey pages for employees and HR."""

from __future__ import annotations

from flask import render_template

from app.security import login_required, roles_required
from surveys import bp


@bp.route("/surveys")
@login_required
def inbox():
    """The Surveys tab: surveys waiting for me."""
    return render_template("surveys/inbox.html")


@bp.route("/hr/")
@roles_required("hr")
def hr_home():
    """HR home: surveys and results."""
    return render_template("surveys/hr_home.html")
