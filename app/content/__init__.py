"""Content: the library admins curate, the feed employees share from, likes, comments, suggestions, RSS."""

from flask import Blueprint, Flask

bp = Blueprint("content", __name__)


def init_app(app: Flask) -> None:
    """Mount the content pages, register the publishing and feed-polling tasks and the demo library."""
    from app.cli import register_demo_seeder
    from app.content import admin_routes, routes, tasks  # noqa: F401  (routes attach to bp; tasks to Huey)
    from app.content.demo import seed_demo

    app.register_blueprint(bp)
    register_demo_seeder(app, seed_demo)
