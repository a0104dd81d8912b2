"""Content: the library admins curate, the feed employees share from, tracked links and clicks."""

from flask import Blueprint

bp = Blueprint("content", __name__)
