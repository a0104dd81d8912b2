"""Shell pages and the files that make Herald an installable PWA."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import (
    current_app,
    jsonify,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app.database import read_only
from app.extensions import db, htmx
from app.main import bp
from app.security import login_required

# Files the service worker precaches: the shell needed to open Herald offline.
PRECACHE_STATIC = (
    "css/app.css",
    "js/app.js",
    "js/share.js",
    "js/survey.js",
    "js/push.js",
    "vendor/htmx-2.0.11/htmx.min.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/icon.svg",
    "icons/badge-96.png",
)


@bp.route("/")
def index():
    """Send people to their feed, or to sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.feed"))
    return redirect(url_for("accounts.login"))


@bp.route("/feed")
@login_required
@read_only
def feed():
    """The Feed tab: posts for me, newest first, pinned on top; htmx loads the next page on scroll."""
    from flask import request

    from app.content import services

    filter_name = request.args.get("filter", "all")
    if filter_name not in services.FEED_FILTERS:
        filter_name = "all"
    from app.inputs import arg_int

    page = max(arg_int("page", 1), 1)
    posts, has_more = services.feed_page(current_user, filter_name, page)
    context = {
        "posts": posts,
        "has_more": has_more,
        "page": page,
        "filter": filter_name,
        # The viewer's likes and shares came with the posts (one query for the page).
        "shared": {p.id: p.shared_to for p in posts if p.shared_to},
        "liked": {p.id for p in posts if p.liked},
    }
    if page > 1 and htmx:  # the next page for infinite scroll (page 1 skips the header look-up)
        return render_template("content/_cards.html", **context)
    return render_template("main/feed.html", **context)


@bp.route("/offline")
def offline():
    """The page the service worker shows when a page is not cached and the network is down."""
    return render_template("main/offline.html")


@bp.route("/manifest.webmanifest")
def manifest():
    """The web app manifest (install name, icons, colours, start page)."""
    data = {
        "id": "/",
        "name": "Herald",
        "short_name": "Herald",
        "description": _("Share company news, earn points and rewards."),
        "start_url": "/feed?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f6f7fb",
        "theme_color": "#4338ca",
        "lang": "en",
        "categories": ["business", "productivity", "social"],
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": url_for("static", filename="icons/maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [
            {"name": _("Feed"), "url": "/feed"},
            {"name": _("Rewards"), "url": "/rewards"},
        ],
    }
    response = jsonify(data)
    response.mimetype = "application/manifest+json"
    return response


def forget_service_worker() -> None:
    """Drop the built worker script (its version follows the shell's files, read once per process)."""
    _service_worker_source.cache_clear()


@lru_cache(maxsize=1)
def _service_worker_source(static_folder: str) -> tuple[str, str]:
    """The worker script with its precache list and a version derived from the shell's files."""
    root = Path(static_folder)
    digest = hashlib.sha256()
    template = (root / "js" / "sw.js").read_text()
    digest.update(template.encode())
    for name in PRECACHE_STATIC:
        digest.update((root / name).read_bytes())
    version = digest.hexdigest()[:12]
    return template, version


@lru_cache(maxsize=4)
def _push_fallback(languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """What the worker shows for a push it cannot read, in each language (it must show something)."""
    from flask_babel import force_locale

    out = {}
    for lang in languages:
        with force_locale(lang):
            out[lang] = {"title": "Herald", "body": _("Something new is waiting for you in Herald.")}
    return out


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so its scope is the whole app."""
    template, version = _service_worker_source(current_app.static_folder)
    urls = [url_for("main.offline")] + [url_for("static", filename=name) for name in PRECACHE_STATIC]
    import json

    body = (
        template.replace("__VERSION__", version)
        .replace("__PRECACHE__", json.dumps(urls))
        .replace("__FALLBACK__", json.dumps(_push_fallback(tuple(current_app.config["LANGUAGES"])), ensure_ascii=False))
    )
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/media/<path:filename>")
@login_required
def media(filename: str):
    """Uploaded images (avatars, post images)."""
    response = send_from_directory(current_app.config["MEDIA_ROOT"], filename, max_age=86400 * 30)
    response.headers["Cache-Control"] = "private, max-age=2592000, immutable"
    return response


@bp.route("/healthz")
def healthz():
    """Liveness and database check for load balancers."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
