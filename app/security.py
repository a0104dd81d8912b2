"""Security baseline: role checks, security headers, strict CSP."""

from __future__ import annotations

import functools

from flask import abort, current_app
from flask_login import current_user

from app.extensions import htmx

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def roles_required(*roles: str):
    """Allow a view only to signed-in users holding any of ``roles``.

    Anonymous visitors are sent to sign in (302); signed-in users without the
    role get the 403 page. With no roles given, any signed-in user passes.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # read by the route x role matrix test
        return wrapped

    return decorator


login_required = roles_required()


def set_security_headers(response):
    """Add security headers to every response."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["HERALD_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html" or htmx:  # flask-htmx tells htmx requests apart but adds no Vary
        response.vary.add("HX-Request")
    return response
