"""Rewards: catalog, redemptions, fulfilment and kudos (blueprint, models, services)."""

from flask import Blueprint

bp = Blueprint("rewards", __name__)

from rewards import routes  # noqa: E402,F401
