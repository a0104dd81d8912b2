"""Rewards: catalog, redemptions, fulfilment and kudos (blueprint, models, services)."""

from flask import Blueprint

bp = Blueprint("rewards", __name__)

# Importing the models registers their tables with the metadata (migrations compare against it).
from rewards import models, routes  # noqa: E402,F401
