"""Tracked links: the ``/r/<code>`` redirect in front of Flask, the click spool and its ingestion.

Content creates a tracked link when someone shares; everything that happens through
the link (the redirect, the click, the visitor hash, the unique-visit decision) lives here.
"""

from flask import Blueprint, Flask

bp = Blueprint("tracking", __name__)


def init_app(app: Flask) -> None:
    """Put the redirect layer in front of Flask; add the fallback route, the sharer cookie, tasks and CLI."""
    from app import caches
    from app.tracking import cli, routes, tasks  # noqa: F401  (routes attach to bp; tasks to Huey)
    from app.tracking.clicks import is_bot, salts
    from app.tracking.redirect import RedirectMiddleware, sharer_token

    app.register_blueprint(bp)
    app.after_request(routes.remember_the_sharer)
    app.cli.add_command(cli.ingest_clicks)
    redirects = RedirectMiddleware(app, app.wsgi_app)
    app.extensions["herald_redirects"] = redirects
    app.wsgi_app = redirects
    caches.register(app, "link codes", redirects.forget)
    caches.register(app, "sharer tokens", sharer_token.cache_clear)
    caches.register(app, "bot user agents", is_bot.cache_clear)
    caches.register(app, "visitor salt", salts.forget)
