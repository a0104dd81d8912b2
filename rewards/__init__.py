"""Rewards: catalog, redemptions, fulfilment and kudos (blueprint, models, services)."""

from flask import Blueprint, Flask

bp = Blueprint("rewards", __name__)


def init_app(app: Flask) -> None:
    """Mount the catalog, redemption, fulfilment and kudos pages; register the demo catalog."""
    from app.cli import register_demo_seeder
    from rewards import admin_routes, kudos_routes, models, routes  # noqa: F401  (routes attach to bp)
    from rewards.demo import seed_demo_rewards

    app.register_blueprint(bp)
    register_demo_seeder(app, seed_demo_rewards)
