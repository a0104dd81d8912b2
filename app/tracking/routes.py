"""The Flask side of ``/r/<code>``: only unknown codes get this far."""

from flask import abort

from app.tracking import bp


@bp.route("/r/<code>")
def redirect_link(code: str):
    """Tracked links are answered by ``RedirectMiddleware``; whatever reaches Flask is unknown."""
    abort(404)
