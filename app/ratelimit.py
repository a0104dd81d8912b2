"""Rate-limit counters every worker process on a host shares, without a Redis server.

Flask-Limiter keeps its counters in a storage named by ``RATELIMIT_STORAGE_URI``. Its
``memory://`` storage lives inside one process, so with ``serve``'s two workers each
counted its own sign-in attempts and an attacker got twice the configured limit. With
``HERALD_REDIS_URL`` the counters live in Redis (shared by every host); without it they
live in a small SQLite file in the instance folder (``herald-sqlite://<path>``), which
every process on the host opens. Each hit is one atomic upsert, so two workers counting
at the same moment never lose a hit.

Only the fixed-window strategy is implemented (Herald configures it explicitly).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from limits.storage import Storage

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
