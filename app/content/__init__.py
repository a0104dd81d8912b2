"""Content: the library admins curate, the feed employees share from, tracked links and clicks."""

from flask import Blueprint

bp = Blueprint("content", __name__)

from app.content import admin_routes, routes, tasks  # noqa: E402,F401
