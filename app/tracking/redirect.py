"""``/r/<code>``: the public, hot redirect of tracked links, as a small WSGI layer in front of Flask.

It needs no session, template, locale or limiter, so it skips Flask's request
machinery: look the code up (cached per process), append the click to the spool,
answer 302. With attribution on (an analytics setting), the target also carries the link's
code in a query parameter: the lookup reads the setting in the same statement, so it costs
no query of its own, nothing per click, and is as fresh as the cached code (a minute).
Anything it does not recognise (an unknown or disabled code, another method) goes on to
Flask, whose ``content.redirect`` route answers the 404 page, so the redirect can only ever
lead to the URL stored for the post.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import bindparam, event, select
from werkzeug.http import parse_cookie

from app import rawsql
from app.content.models import Campaign, Post
from app.extensions import db
from app.gamification.models import ProgramSetting
from app.tracking.clicks import Flusher, Spool, is_bot, network_hash, salts, visitor_hash
from app.tracking.links import attribution_param, utm_target
from app.tracking.models import TrackedLink

CODE_RE = re.compile(r"[A-Za-z0-9]{6,16}")
SHARER_COOKIE = "herald_sharer"
CACHE_TTL = 60.0
CACHE_MAX = 200_000


# Built once: constructing the select per lookup costs more than running it. The last column is
# the analytics setting (attribution on or off, and its parameter), a primary-key read.
_SETTINGS = select(ProgramSetting.value).where(ProgramSetting.key == "analytics").scalar_subquery()
_LOOKUP = (
    select(
        TrackedLink.id, TrackedLink.post_id, TrackedLink.user_id, TrackedLink.network,
        TrackedLink.variant, TrackedLink.enabled, Post.url, Post.slug, Campaign.slug, _SETTINGS,
    )
    .join(Post, Post.id == TrackedLink.post_id)
    .outerjoin(Campaign, Campaign.id == Post.campaign_id)
    .where(TrackedLink.code == bindparam("p_code"))
)  # fmt: skip
_LOOKUP_RAW = rawsql.Prepared(_LOOKUP)


class LinkEntry(NamedTuple):
    """What the redirect needs to know about a code."""

    link_id: int
    post_id: int
    sharer_id: int
    network: str
    target: str


@lru_cache(maxsize=4096)
def sharer_token(secret: str, user_id: int) -> str:
    """The value of the cookie that tells the redirect a click is the sharer's own.

    Cached per process: every signed-in page and every click with the cookie needs it,
    and it depends only on these two values.
    """
    mac = hmac.new(secret.encode(), f"sharer:{user_id}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"{user_id}.{mac}"


def _cookie(environ, name: str) -> str:
    """The value of cookie ``name`` (Werkzeug's parser; skipped when the header cannot hold it)."""
    raw = environ.get("HTTP_COOKIE", "")
    if name not in raw:  # most visitors of a shared link carry no Herald cookie at all
        return ""
    return parse_cookie(raw).get(name, "")


class RedirectMiddleware:
    """Answers ``GET/HEAD /r/<code>`` before Flask; everything else passes through."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.secret = app.config["SECRET_KEY"]
        # code -> (expiry, *LinkEntry) or (expiry,) for an unknown code. Plain tuples of numbers
        # and strings: the collector stops tracking them after one pass. A worker caches up to
        # 200,000 codes, and as tracked objects (dataclasses) they made every collection walk
        # them all: long pauses that set the redirect's p99.
        self.cache: dict[str, tuple] = {}
        self.spool = Spool(Path(app.config["INSTANCE_PATH"]) / "spool")
        self.flusher = Flusher(app, self.spool, app.config.get("CLICK_FLUSH_SECONDS", 0.5))
        self._engine = None
        self._local = threading.local()  # each thread's own lookup connection
        self._held: list = []  # every thread's, closed when the engine is disposed
        self._held_lock = threading.Lock()

    @property
    def engine(self):
        if self._engine is None:
            with self.app.app_context():
                engine = db.engine
            event.listen(engine, "engine_disposed", lambda _engine: self.close_lookup_connections())
            self._engine = engine
        return self._engine

    def _lookup_cursor(self) -> rawsql.RawCursor:
        """This thread's connection for lookups, kept out of the pool for the thread's life.

        A lookup is one SELECT. Checking a connection out of the pool and back in and the
        transaction around it cost more than the query, so
        each thread keeps one connection in autocommit: on PostgreSQL no BEGIN or ROLLBACK,
        on SQLite each SELECT reads the latest commit. The connection is detached from the
        pool, so however many threads a worker runs, requests still find their pool whole.
        """
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            connection = self.engine.raw_connection()
            if self.engine.dialect.name != "sqlite":
                connection.driver_connection.autocommit = True  # SQLite's is in autocommit already
            connection.detach()
            cursor = rawsql.RawCursor(connection.cursor(), self.engine.dialect)
            self._local.connection, self._local.cursor = connection, cursor
            with self._held_lock:
                self._held.append(connection)
        return cursor

    def _drop_lookup_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.cursor = None
        if connection is not None:
            with self._held_lock:
                if connection in self._held:  # not already closed by close_lookup_connections()
                    self._held.remove(connection)
            with contextlib.suppress(Exception):  # it may be broken already
                connection.close()

    def close_lookup_connections(self) -> None:
        """Close every thread's lookup connection (on ``engine.dispose()``; a thread then opens a new one)."""
        with self._held_lock:
            held, self._held = self._held, []
        for connection in held:
            with contextlib.suppress(Exception):
                connection.close()
        self._local = threading.local()

    def _fetch(self, code: str):
        try:
            return _LOOKUP_RAW.execute(self._lookup_cursor(), {"p_code": code}).fetchall()
        except self.engine.dialect.loaded_dbapi.Error:
            # The server dropped the connection (a restart, a failover): one retry on a new one.
            self._drop_lookup_connection()
            return _LOOKUP_RAW.execute(self._lookup_cursor(), {"p_code": code}).fetchall()

    def lookup(self, code: str) -> LinkEntry | None:
        """The link behind ``code`` (None when unknown or disabled), cached for a minute."""
        now = time.monotonic()
        hit = self.cache.get(code)
        if hit is not None and hit[0] > now:
            return LinkEntry._make(hit[1:]) if len(hit) > 1 else None
        rows = self._fetch(code)  # all rows: a finished statement holds no SQLite read snapshot
        entry = None
        if rows and rows[0][5]:
            link_id, post_id, sharer_id, network, variant, _enabled, url, post_slug, campaign_slug, settings = rows[0]
            param = attribution_param(settings)
            target = utm_target(url, network, campaign_slug or post_slug, variant, (param, code) if param else None)
            entry = LinkEntry(link_id, post_id, sharer_id, network, target)
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
        self.cache[code] = (now + CACHE_TTL, *entry) if entry is not None else (now + CACHE_TTL,)
        return entry

    def forget(self, code: str | None = None) -> None:
        """Drop a code (or everything) from this process's cache."""
        if code is None:
            self.cache.clear()
        else:
            self.cache.pop(code, None)

    def record(self, environ, entry: LinkEntry) -> None:
        """Append the click to the spool (before the 302 goes out)."""
        now = time.time()
        day = datetime.fromtimestamp(now, UTC).date()
        ua = environ.get("HTTP_USER_AGENT", "")[:512]
        ip = environ.get("REMOTE_ADDR", "")
        token = _cookie(environ, SHARER_COOKIE)
        referrer = environ.get("HTTP_REFERER", "")
        salt = salts.salt_for(day, self.engine)
        self.spool.append(
            {
                "ts": now,
                "link": entry.link_id,
                "post": entry.post_id,
                "sharer": entry.sharer_id,
                "net": entry.network,
                "ref": (urlsplit(referrer).hostname or "") if referrer else "",
                "vh": visitor_hash(salt, ip, ua),
                "nh": network_hash(salt, ip),
                "bot": is_bot(ua),
                "self": bool(token) and hmac.compare_digest(token, sharer_token(self.secret, entry.sharer_id)),
            }
        )
        self.flusher.ensure_running()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/r/"):
            return self.wsgi_app(environ, start_response)
        code = path[3:]
        method = environ.get("REQUEST_METHOD", "GET")
        entry = self.lookup(code) if method in ("GET", "HEAD") and CODE_RE.fullmatch(code) else None
        if entry is None:
            return self.wsgi_app(environ, start_response)
        if method == "GET":
            self.record(environ, entry)
        start_response(
            "302 Found",
            [
                ("Location", entry.target),
                ("Cache-Control", "no-store"),
                ("Content-Length", "0"),
                ("Referrer-Policy", "strict-origin-when-cross-origin"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [b""]
