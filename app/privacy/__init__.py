"""A person's data on request: export everything Herald holds about them, and erasure (GDPR 15, 17, 20)."""

from flask import Blueprint, Flask

bp = Blueprint("privacy", __name__)


def init_app(app: Flask) -> None:
    """Mount the export pages (Me and admin) and the admin's erasure page."""
    from app.privacy import admin_routes, routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
