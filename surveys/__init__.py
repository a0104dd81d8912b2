"""Surveys: builder, distribution, anonymous responses and results (blueprint, models, services)."""

from flask import Blueprint, Flask

bp = Blueprint("surveys", __name__)


def init_app(app: Flask) -> None:
    """Mount the Surveys tab and the HR area."""
    from surveys import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
