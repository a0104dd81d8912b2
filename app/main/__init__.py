"""The app shell: home, feed, leaderboard tabs, PWA files, media, health."""

from flask import Blueprint, Flask

bp = Blueprint("main", __name__)


def init_app(app: Flask) -> None:
    """Mount the shell pages."""
    from app.main import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
