"""The data layer: migrations match the models; SQLite is tuned; timestamps are aware UTC."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc, text

from app.accounts.models import User
from app.extensions import db


def test_migrations_and_models_agree(app):
    """The equivalent of ``flask db check``: autogenerate finds nothing to do."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_schema_came_from_the_migrations(app):
    with app.app_context():
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    assert version is not None


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        assert db.session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
        assert db.session.scalar(text("PRAGMA busy_timeout")) == 15000
        assert db.session.scalar(text("PRAGMA page_size")) == 1024  # a new database: small pages, cheaper awards


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        db.session.add(User(email="x@example.com", display_name="X", department_id=999, status="active",
                            timezone="UTC", locale="en", session_version=1))  # fmt: skip
        with pytest.raises(Exception, match="(?i)foreign key"):
            db.session.commit()
        db.session.rollback()


def test_check_constraints_are_in_the_schema(app):
    with app.app_context():
        db.session.add(User(email="x@example.com", display_name="X", status="bogus",
                            timezone="UTC", locale="en", session_version=1))  # fmt: skip
        with pytest.raises(Exception, match="(?i)check"):
            db.session.commit()
        db.session.rollback()


def test_timestamps_come_back_aware_utc(app, factory):
    uid = factory.user()
    with app.app_context():
        user = db.session.get(User, uid)
        assert user.created_at.tzinfo is not None and user.created_at.utcoffset().total_seconds() == 0


def test_concurrent_writers_do_not_fail_with_database_locked(app, factory):
    """Writers take the lock up front (BEGIN IMMEDIATE on SQLite) and wait on each other."""
    uid = factory.user()
    errors = []
    barrier = threading.Barrier(10)

    def bump():
        try:
            from app.database import write_intent

            with app.app_context(), write_intent():
                barrier.wait()
                for _ in range(10):
                    user = db.session.get(User, uid)
                    db.session.execute(
                        db.update(User).where(User.id == uid).values(session_version=User.session_version + 1)
                    )
                    db.session.commit()
                    assert user is not None
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=bump) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        assert db.session.get(User, uid).session_version == 1 + 100


@pytest.mark.parametrize("idle", [True, False])
def test_a_server_connection_that_died_while_idle_is_replaced(app, monkeypatch, idle):
    """A pooled PostgreSQL connection killed by the server (restart, failover) costs no request once idle."""
    from app import database

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            pytest.skip("a database server only")
        engine.dispose()  # one pooled connection: the one the server is about to end
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # The server ends it while it sits in the pool (a connection of its own, outside the pool).
        killer = engine.pool._creator()
        try:
            killer.execute(f"SELECT pg_terminate_backend({first})")
        finally:
            killer.close()
        # Idle for longer than the threshold (0 s), or in steady use (an hour's threshold).
        monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0 if idle else 3600.0)
        if idle:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != first
        else:
            # In steady use there is no ping: the dead connection fails once, the pool recycles,
            # and the next use gets a live one.
            with pytest.raises(exc.OperationalError), engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != first
        engine.dispose()


def test_read_only_views_run_without_a_transaction_on_a_server(app, client, auth, users):
    """The feed and the leaderboard: no BEGIN/ROLLBACK round trips on PostgreSQL; other pages keep theirs."""
    from flask import request

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("a database server only")
    seen = {}

    def note_autocommit(response):
        seen[request.path] = db.session.connection().connection.driver_connection.autocommit
        return response

    app.after_request_funcs.setdefault(None, []).append(note_autocommit)
    try:
        auth.login(users["employee"])
        for path in ("/feed", "/leaderboard", "/me"):
            assert client.get(path).status_code == 200, path
    finally:
        app.after_request_funcs[None].remove(note_autocommit)
    assert seen == {"/feed": True, "/leaderboard": True, "/me": False}
