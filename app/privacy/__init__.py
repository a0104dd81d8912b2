"""A person's data on request: export everything Herald holds about them, and erasure (GDPR 15, 17, 20)."""

from flask import Blueprint

bp = Blueprint("privacy", __name__)

from app.privacy import admin_routes, routes  # noqa: E402,F401
