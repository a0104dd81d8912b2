"""Engine tuning per database.

SQLite: WAL journal, a busy timeout, foreign keys on, and ``BEGIN IMMEDIATE`` for
every transaction that may write. A deferred transaction that later writes can
fail with "database is locked" without waiting on the busy timeout, so requests
with unsafe methods, CLI commands and tasks take the write lock up front; GET
requests stay deferred and never block writers (WAL lets them read alongside).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from flask import current_app, has_request_context, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDLE_PING_SECONDS = 10.0  # a server connection idle longer than this is tested before use
SQLITE_PAGE_SIZE = 1024  # bytes, for new databases; SQLite's default is 4096 (docs/performance.md)
_intent: ContextVar[str | None] = ContextVar("herald_db_intent", default=None)


@contextmanager
def _with_intent(value: str):
    token = _intent.set(value)
    try:
        yield
    finally:
        _intent.reset(token)


def write_intent():
    """Make transactions begun inside this block take SQLite's write lock up front."""
    return _with_intent("write")


def read_intent():
    """Make transactions begun inside this block plain (deferred) reads, even outside a request."""
    return _with_intent("read")


def _wants_immediate() -> bool:
    intent = _intent.get()
    if intent is not None:
        return intent == "write"
    if has_request_context():
        if request.method in SAFE_METHODS:
            return False
        view = current_app.view_functions.get(request.endpoint)
        return not getattr(view, "herald_deferred_write", False)
    return True


def deferred_write(view):
    """Mark a view whose POST reads first and writes last: SQLite's write lock waits for ``begin_writes``.

    Taken up front, the lock is held while the view loads the user, the forms and what they
    refer to, so writers queue behind reads that need no lock. The view must call
    ``begin_writes()`` before its first write (a deferred SQLite transaction that writes can
    fail at once instead of waiting for the lock).
    """
    view.herald_deferred_write = True
    return view


def begin_writes(session) -> None:
    """SQLite: end the read snapshot and take the write lock (``BEGIN IMMEDIATE``) on the same connection.

    Objects already loaded stay as they are (the ORM is not told, so nothing expires); what
    the writes rely on must hold under concurrency by itself (unique keys, guarded updates),
    as the rows read before may change between the two transactions. Other databases: nothing.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql("COMMIT")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(view):
    """Mark a view that never writes: on a database server it runs without a transaction.

    PostgreSQL then sees no BEGIN and no ROLLBACK around the page's queries (two round
    trips of four on the feed page). Each statement still reads a consistent snapshot, as
    under READ COMMITTED inside a transaction; a write would commit at once and a savepoint
    would fail, so only views that read nothing but SELECTs carry this mark (tests run them
    on PostgreSQL). SQLite is unaffected (its reads are deferred transactions already).
    """
    view.herald_read_only = True
    return view


def install_read_only_views(app, db) -> None:
    """On a database server, give GET requests of ``read_only`` views an autocommit connection."""
    if db.engine.dialect.name == "sqlite":
        return

    def _autocommit_reads():
        if request.method in SAFE_METHODS and getattr(
            app.view_functions.get(request.endpoint), "herald_read_only", False
        ):
            # Taken before anything else runs (the signed-in user is the first query).
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    app.before_request_funcs.setdefault(None, []).insert(0, _autocommit_reads)


def configure_engine(engine: Engine) -> None:
    """Attach per-dialect connection settings to ``engine``."""
    if engine.dialect.name != "sqlite":
        _ping_when_idle(engine)
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let us issue BEGIN ourselves (pysqlite's own handling would defer it).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        # Only a new database takes it (an existing one keeps its page size until VACUUM). Small pages
        # make an award write less: it changes a dozen index entries in different pages, and every
        # changed page goes whole into the WAL and back at the checkpoint.
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        # Checkpoint the WAL every 10,000 pages instead of SQLite's 1,000: a checkpoint stalls the
        # committing writer, and awarding points commits once per event.
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _wants_immediate() else "BEGIN")


def _ping_when_idle(engine: Engine) -> None:
    """Test a server connection on checkout when it sat in the pool longer than ``IDLE_PING_SECONDS``."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["herald_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.pop("herald_idle_since", None)
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another one.
            raise exc.DisconnectionError(str(error)) from error
