"""The app shell: home, feed, leaderboard tabs, PWA files, media, health."""

from flask import Blueprint, Flask

bp = Blueprint("main", __name__)


def init_app(app: Flask) -> None:
    """Mount the shell pages."""
    from app import caches
    from app.main import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
    caches.register(app, "service worker", routes.forget_service_worker)
