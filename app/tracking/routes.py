"""The Flask side of tracked links: unknown ``/r/`` codes, and the cookie that marks a sharer's own clicks."""

from flask import abort, current_app, request
from flask_login import current_user

from app.tracking import bp
from app.tracking.redirect import SHARER_COOKIE, sharer_token


@bp.route("/r/<code>")
def redirect_link(code: str):
    """Tracked links are answered by ``RedirectMiddleware``; whatever reaches Flask is unknown."""
    abort(404)


def remember_the_sharer(response):
    """A signed cookie lets the redirect flag a sharer's clicks on their own links (no session needed)."""
    if current_user and current_user.is_authenticated:
        token = sharer_token(current_app.config["SECRET_KEY"], current_user.id)
        if request.cookies.get(SHARER_COOKIE) != token:
            response.set_cookie(
                SHARER_COOKIE, token, max_age=365 * 86400, path="/r/", httponly=True, samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"],
            )  # fmt: skip
    return response
