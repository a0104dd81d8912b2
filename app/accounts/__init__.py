"""Accounts: sign-in (password and magic link), invitations, password reset, profile."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from app.accounts import routes  # noqa: E402,F401
