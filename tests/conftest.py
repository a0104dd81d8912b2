"""Shared fixtures: an app on SQLite or PostgreSQL built through the migrations, clients, factories.

The database is SQLite in a temporary folder unless ``HERALD_TEST_DATABASE_URL``
names a PostgreSQL server; then a fresh database is created for this run and
dropped at the end. The schema is built once per run with the Alembic
migrations; after each test every table is emptied, so tests may commit
(threads, browser tests and concurrency tests need real commits).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

# Set before the app package is imported: the task queue reads them at import.
_TMP = Path(tempfile.mkdtemp(prefix="herald-test-"))
os.environ["HERALD_INSTANCE_PATH"] = str(_TMP / "instance")
os.environ["HERALD_TASKS_IMMEDIATE"] = "1"
os.environ.pop("HERALD_REDIS_URL", None)
os.environ.pop("HERALD_DATABASE_URL", None)
os.environ.pop("HERALD_ENV", None)

from sqlalchemy import create_engine, exists, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from app import caches, create_app  # noqa: E402
from app import mail as mail_module  # noqa: E402
from app.extensions import db  # noqa: E402

TEST_DATABASE_URL = os.environ.get("HERALD_TEST_DATABASE_URL", "")


def _create_pg_database(url: str) -> tuple[str, str]:
    """Create a fresh database on the server ``url`` points at; return (new url, name)."""
    base = make_url(url)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    name = f"herald_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(url: str, name: str) -> None:
    base = make_url(url)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url():
    """The URL of this run's empty database."""
    if TEST_DATABASE_URL:
        url, name = _create_pg_database(TEST_DATABASE_URL)
        yield url
        _drop_pg_database(TEST_DATABASE_URL, name)
    else:
        yield f"sqlite:///{_TMP / 'test.db'}"
    shutil.rmtree(_TMP, ignore_errors=True)


TEST_CONFIG = {
    "TESTING": True,
    "MAIL_BACKEND": "memory",
    "TASKS_IMMEDIATE": True,
    "WTF_CSRF_ENABLED": False,
    "RATELIMIT_ENABLED": False,  # tests of the sign-in limits switch them on
    "BASE_URL": "http://localhost",
    "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
    # Tests ingest clicks with an explicit flush; a background pass landing between a test's
    # clicks and its flush would split them. The thread itself is tested with its own Flusher.
    "CLICK_FLUSH_SECONDS": 3600,
}


@pytest.fixture(scope="session")
def _app(database_url):
    from flask_migrate import upgrade

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "MEDIA_ROOT": str(_TMP / "media")})
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    return app


# PostgreSQL: which tables hold a row (one round trip), and every sequence back to 1. A DELETE
# of the few tables a test filled takes ~5 ms; a TRUNCATE of all 77 took ~150 ms (new files for
# every table and index), about two minutes of the PostgreSQL run.
_RESET_SEQUENCES = text(
    "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
)


def _filled(conn, tables) -> set[int]:
    row = conn.execute(select(*(exists().select_from(t) for t in tables))).one()
    return {i for i, has_rows in enumerate(row) if has_rows}


def _empty_all_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = list(reversed(db.metadata.sorted_tables))
        for attempt in range(3):
            try:
                with db.engine.begin() as conn:
                    postgres = conn.dialect.name == "postgresql"
                    filled = _filled(conn, tables) if postgres else range(len(tables))
                    for i, table in enumerate(tables):
                        if i in filled:
                            conn.execute(table.delete())
                    if postgres:
                        conn.execute(_RESET_SEQUENCES)
                return
            except OperationalError:
                # A live-server request still finishing can meet the TRUNCATE's locks in a
                # deadlock, which PostgreSQL breaks by cancelling one side: try again.
                if attempt == 2:
                    raise
                time.sleep(0.2)


@pytest.fixture
def app(_app):
    """The app, with an empty database and a clean outbox after the test."""
    saved = dict(_app.config)
    mail_module.outbox.clear()
    yield _app
    _app.config.clear()
    _app.config.update(saved)
    redirects = _app.extensions["herald_redirects"]
    with redirects.flusher.paused():  # the flusher thread must not be mid-ingest while tables are emptied
        for leftover in redirects.spool.folder.glob("clicks-*"):
            if leftover != redirects.spool._path:
                leftover.unlink(missing_ok=True)
        redirects.spool.rotate()
        for leftover in redirects.spool.folder.glob("clicks-*.ready"):
            leftover.unlink(missing_ok=True)
        _empty_all_tables(_app)
    mail_module.outbox.clear()
    caches.clear(_app)


@pytest.fixture
def app_ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def outbox():
    """E-mails sent during the test (memory backend)."""
    return mail_module.outbox


class QueryCount:
    """The SQL statements sent during a ``count_queries()`` block, in order."""

    def __init__(self):
        self.statements: list[str] = []

    @property
    def total(self) -> int:
        """How many statements were sent."""
        return len(self.statements)

    def __repr__(self) -> str:  # pytest shows it when an assertion on ``total`` fails
        listed = "".join(f"\n  {n}. {' '.join(sql.split())[:160]}" for n, sql in enumerate(self.statements, 1))
        return f"<{self.total} statements:{listed}>"


class _CountingCursor:
    """A DBAPI cursor that reports each statement it executes."""

    def __init__(self, cursor, record):
        self._cursor = cursor
        self._record = record

    def execute(self, sql, *args, **kwargs):
        self._record(sql)
        return self._cursor.execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        self._record(sql)
        return self._cursor.executemany(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@pytest.fixture
def count_queries(app):
    """Count the SQL statements this thread sends: ``with count_queries() as counted: ...``, then ``counted.total``.

    Two hooks see every statement Herald sends: SQLAlchemy's ``before_cursor_execute`` on the
    engine (ORM and Core, and the ``BEGIN`` Herald issues itself on SQLite), and the driver
    cursor behind ``app.rawsql.RawCursor`` (the hot paths that skip SQLAlchemy's execution:
    feed rows, points, and the ``/r/`` lookup on the redirect's own connection). What the driver
    does without a statement (psycopg's implicit BEGIN, ``commit()``, ``rollback()``, a ping) is
    not counted. Only the calling thread counts: the test client runs the app in it, and
    background threads (the click flusher, a live server) stay out of the figure.
    """
    from contextlib import contextmanager

    from sqlalchemy import event

    from app import rawsql

    with app.app_context():
        engine = db.engine

    @contextmanager
    def count():
        counted = QueryCount()
        thread = threading.get_ident()

        def record(sql):
            if threading.get_ident() == thread:
                counted.statements.append(str(sql))

        def before_cursor_execute(_conn, _cursor, statement, _parameters, _context, _executemany):
            record(statement)

        slot = rawsql.RawCursor.__dict__["cursor"]  # the dataclass's slot: wrap what it hands out
        counting = property(lambda raw: _CountingCursor(slot.__get__(raw), record), slot.__set__)
        event.listen(engine, "before_cursor_execute", before_cursor_execute)
        rawsql.RawCursor.cursor = counting
        try:
            yield counted
        finally:
            rawsql.RawCursor.cursor = slot
            event.remove(engine, "before_cursor_execute", before_cursor_execute)

    return count


class Factory:
    """Builds rows the way the product does (through services), committed."""

    def __init__(self, app):
        self.app = app
        self._n = 0

    def user(self, email=None, name=None, roles=("employee",), status="active", password=None, **kw):
        from app.accounts import services
        from app.org.models import Department, Location

        self._n += 1
        with self.app.app_context():
            if "department_id" in kw:
                kw["department"] = db.session.get(Department, kw.pop("department_id"))
            if "location_id" in kw:
                kw["location"] = db.session.get(Location, kw.pop("location_id"))
            user = services.create_user(
                email or f"person{self._n}@example.com",
                name or f"Person {self._n}",
                roles=roles,
                status=status,
                password=password,
                **kw,
            )
            db.session.commit()
            user_id = user.id
            db.session.remove()
        return user_id

    def department(self, name):
        from app.org.services import get_or_create_department

        with self.app.app_context():
            dept = get_or_create_department(name)
            db.session.commit()
            return dept.id

    def location(self, name, timezone="UTC"):
        from app.org.services import get_or_create_location

        with self.app.app_context():
            loc = get_or_create_location(name, timezone)
            db.session.commit()
            return loc.id


@pytest.fixture
def factory(app):
    """Test data factory."""
    return Factory(app)


class Auth:
    """Signs a test client in as a given user without going through a form."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def login(self, user_id: int):
        from app.accounts.models import User

        with self.app.app_context():
            user = db.session.get(User, user_id)
            session_id = user.get_id()
        with self.client.session_transaction() as sess:
            sess["_user_id"] = session_id
            sess["_fresh"] = True
        return user_id

    def logout(self):
        with self.client.session_transaction() as sess:
            sess.clear()


@pytest.fixture
def auth(app, client):
    """Sign the ``client`` in as someone: ``auth.login(user_id)``."""
    return Auth(app, client)


@pytest.fixture
def users(factory):
    """One user of each kind: employee, admin, hr (ids)."""
    return {
        "employee": factory.user("employee@example.com", "Erin Employee"),
        "admin": factory.user("admin@example.com", "Ada Admin", roles=("employee", "admin")),
        "hr": factory.user("hr@example.com", "Hana HR", roles=("employee", "hr")),
    }


class LiveServer:
    """The app served over HTTP in a thread, for Chromium."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="session")
def _live_server(_app):
    server = LiveServer(_app)
    yield server
    server.stop()


@pytest.fixture
def live_server(app, _live_server):
    """The running server (its database is emptied after each test like any other)."""
    app.config["BASE_URL"] = _live_server.url
    return _live_server


def pytest_terminal_summary(terminalreporter):
    """After a fuzz run: how many generated inputs each state-changing route got (tried/accepted)."""
    from tests.helpers import FUZZ_TRIED

    if FUZZ_TRIED:
        tried = sorted({n for n, _accepted in FUZZ_TRIED.values()})
        terminalreporter.write_sep(
            "-", f"Hypothesis inputs per route: {len(FUZZ_TRIED)} routes, {tried[0]}-{tried[-1]} each"
        )
        terminalreporter.write_line(", ".join(f"{name} {n}/{ok}" for name, (n, ok) in sorted(FUZZ_TRIED.items())))
