"""Content: the library admins curate, the feed employees share from, likes, comments, suggestions, RSS."""

from flask import Blueprint, Flask

bp = Blueprint("content", __name__)


def init_app(app: Flask) -> None:
    """Mount the content pages, register the publishing and feed-polling tasks and the demo library."""
    from app import caches
    from app.cli import register_demo_seeder
    from app.content import admin_routes, cards, routes, services, tasks  # noqa: F401  (routes attach to bp)
    from app.content.demo import seed_demo

    app.register_blueprint(bp)
    register_demo_seeder(app, seed_demo)
    caches.register(app, "card parts", lambda: cards.forget(app))
    caches.register(app, "captions", services.forget_caches)
