"""Accounts: sign-in (password and magic link), invitations, password reset, profile."""

from flask import Blueprint, Flask

bp = Blueprint("accounts", __name__)


def init_app(app: Flask) -> None:
    """Mount the sign-in and profile pages; add ``flask create-user``."""
    from app.accounts import cli, routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
    app.cli.add_command(cli.create_user)
