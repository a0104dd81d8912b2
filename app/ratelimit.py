"""Rate limits (sign-in, the conversion API and pixel), counted where every worker (and, with Redis, host) sees them.

The ``limits`` library keeps counters in a storage named by ``RATELIMIT_STORAGE_URI``.
Its ``memory://`` storage lives inside one process, so with ``serve``'s two workers each
counted its own sign-in attempts and an attacker got twice the configured limit. With
``HERALD_REDIS_URL`` the counters live in Redis (shared by every host); without it they
live in a small SQLite file in the instance folder (``herald-sqlite://<path>``), which
every process on the host opens. Each hit is one atomic upsert, so two workers counting
at the same moment never lose a hit.

Only the fixed-window strategy is implemented (Herald configures it explicitly).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time

from flask import abort, current_app, request
from limits import parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

SCHEME = "herald-sqlite"

_SCHEMA = "CREATE TABLE IF NOT EXISTS counter (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"
# One statement: a new or expired window starts at ``amount``; a live one adds ``amount``.
_HIT = (
    "INSERT INTO counter (key, count, expires) VALUES (:key, :amount, :expires) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN counter.expires <= :now THEN excluded.count ELSE counter.count + excluded.count END, "
    "expires = CASE WHEN counter.expires <= :now THEN excluded.expires ELSE counter.expires END "
    "RETURNING count"
)


class SQLiteStorage(Storage):
    """Fixed-window counters in a SQLite file shared by the processes of one host."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = (uri or "").removeprefix(f"{SCHEME}://") or ":memory:"
        self._local = threading.local()
        self._hits = 0

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # first use in this thread, or a forked child
            if self.path != ":memory:" and not os.path.exists(self.path):
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))  # private from the start
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` hits in the window of ``key``; return the window's total."""
        now = time.time()
        conn = self._conn()
        count = conn.execute(_HIT, {"key": key, "amount": amount, "expires": now + expiry, "now": now}).fetchone()[0]
        self._hits += 1
        if self._hits % 500 == 0:  # keep the file small: windows that ended are dead weight
            conn.execute("DELETE FROM counter WHERE expires <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        """Hits in the current window of ``key`` (0 when it ended)."""
        row = self._conn().execute("SELECT count FROM counter WHERE key = ? AND expires > ?", (key, time.time()))
        found = row.fetchone()
        return found[0] if found else 0

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends (now, when there is none)."""
        now = time.time()
        found = self._conn().execute("SELECT expires FROM counter WHERE key = ?", (key,)).fetchone()
        return found[0] if found and found[0] > now else now

    def check(self) -> bool:
        """Whether the file can be read."""
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter."""
        return self._conn().execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        """Forget one counter."""
        self._conn().execute("DELETE FROM counter WHERE key = ?", (key,))


# --- the limits ------------------------------------------------------------------------------------------------


class SignInLimits:
    """Fixed-window limits on the sign-in views (and the conversion API and pixel), in storage every worker shares.

    Applied with the ``limits`` library directly: Herald limits a handful of views, and
    an extension's per-request hook for app-wide limits would run on every page for nothing.
    Keys read ``LIMITER/herald/<who>/<endpoint>/<amount>/<multiples>/<period>``.
    """

    def __init__(self, storage_uri: str):
        self.storage = storage_from_string(storage_uri)
        self.strategy = FixedWindowRateLimiter(self.storage)

    def hit(self, limit: str, who: str, endpoint: str) -> bool:
        """Count one attempt by ``who`` at ``endpoint`` against every window of ``limit``; False when over."""
        return all(self.strategy.hit(item, "herald", who, endpoint) for item in parse_many(limit))

    def reset(self) -> None:
        """Forget every counter (tests)."""
        self.storage.reset()


def init_app(app) -> None:
    """Give ``app`` its sign-in limits (``RATELIMIT_STORAGE_URI``; ``RATELIMIT_ENABLED`` switches them)."""
    app.extensions["herald_sign_in_limits"] = SignInLimits(app.config["RATELIMIT_STORAGE_URI"])


def sign_in_limits(app=None) -> SignInLimits:
    """The app's sign-in limits."""
    return (app or current_app).extensions["herald_sign_in_limits"]


def client_address() -> str:
    """Who is asking: the client's address (behind ``HERALD_TRUST_PROXY`` proxies, the forwarded one)."""
    return request.remote_addr or "unknown"


def within_limit(setting: str, *who) -> bool:
    """Count one request at this endpoint against the limit in config ``setting``; False when any key is over.

    Each of ``who`` is a function of the request that names the caller; every key counts
    every attempt (no short-circuit: each is a window of its own). Always True while
    ``RATELIMIT_ENABLED`` is off.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    limits, limit = sign_in_limits(), current_app.config[setting]
    within = [limits.hit(limit, key(), request.endpoint) for key in who or (client_address,)]
    return all(within)


def limited(*who, setting: str = "LOGIN_RATE_LIMIT", methods: frozenset[str] = frozenset({"POST"})):
    """Refuse requests to the view with 429 once any of the ``who`` keys used up the limit in ``setting``.

    Each of ``who`` is a function of the request that names the caller (its address, the
    e-mail address it tries); every key counts every attempt, so one account cannot be
    hammered from many addresses nor many accounts from one. Only ``methods`` count (sign-in
    forms limit their POSTs, not the page that shows them).
    """

    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if request.method in methods and not within_limit(setting, *who):
                abort(429)
            return view(*args, **kwargs)

        return checked

    return decorate
