"""Rewards: catalog, redemptions, fulfilment and kudos (blueprint, models, services)."""

from flask import Blueprint

bp = Blueprint("rewards", __name__)

# Importing the models registers their tables with the metadata (migrations compare against it).
from rewards import models, routes  # noqa: E402,F401


def _register_demo() -> None:
    from app.cli import register_demo_seeder
    from rewards.demo import seed_demo_rewards

    register_demo_seeder(seed_demo_rewards)


_register_demo()
from rewards import kudos_routes  # noqa: E402,F401
