"""Administration: people, departments, locations, employee import."""

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Mount the admin pages for people and the organisation."""
    from app.admin import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
