"""Analytics: the reference article's ten KPIs on one dashboard, content performance, conversions, exports.

Figures for past days come from daily roll-ups (``rollups``), today's from the live tables;
``services`` computes every figure the dashboard, the exports and the weekly report show.
Conversions reach Herald server-to-server with an API token, through an image pixel, or as a
CSV import (``conversions``).
"""

from flask import Blueprint, Flask

bp = Blueprint("analytics", __name__)


def init_app(app: Flask) -> None:
    """Mount the dashboard, content, conversion and settings pages; listen to events; add the tasks."""
    from app import caches
    from app.analytics import cli, conversion_routes, models, routes, services, tasks  # noqa: F401
    from app.analytics.demo import seed_demo_analytics
    from app.cli import register_demo_seeder

    app.register_blueprint(bp)
    app.cli.add_command(cli.analytics_cli)
    caches.register(app, "analytics.today", services.forget_today)
    register_demo_seeder(app, seed_demo_analytics)
