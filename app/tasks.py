"""Background tasks (Huey).

Storage is SQLite in the instance folder by default and Redis when
``HERALD_REDIS_URL`` is set. The consumer runs with
``huey_consumer app.worker.huey -w 2 -k thread`` (``flask --app wsgi serve``
starts one beside the web server). Tasks run inside an app context and commit
once at the end, like a request; each must be idempotent.
"""

from __future__ import annotations

import functools
import threading

from flask import current_app, has_app_context
from huey import RedisHuey, SqliteHuey

from app.config import create_private_file, env, env_bool, instance_path


def _make_huey():
    redis_url = env("REDIS_URL")
    immediate = env_bool("TASKS_IMMEDIATE", False)
    if redis_url:
        return RedisHuey("herald", url=redis_url, immediate=immediate)
    folder = instance_path()
    create_private_file(folder / "tasks.db")
    return SqliteHuey("herald", filename=str(folder / "tasks.db"), immediate=immediate)


huey = _make_huey()

_app = None
_app_lock = threading.Lock()


def consumer_app():
    """The app a consumer process runs tasks in (created once, lazily)."""
    global _app
    with _app_lock:
        if _app is None:
            from app import create_app

            _app = create_app()
        return _app


def _in_app(fn):
    """Wrap ``fn`` to run in an app context and commit after it, like a request.

    Inside an existing app context (immediate mode in tests, or a task called
    directly) the function joins the caller's transaction instead.
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        from app.database import write_intent
        from app.extensions import db

        with consumer_app().app_context(), write_intent():
            try:
                result = fn(*args, **kwargs)
                db.session.commit()
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    return run


def app_task(*task_args, **task_kwargs):
    """``huey.task`` for functions that need the app and its database session."""
    return lambda fn: huey.task(*task_args, **task_kwargs)(_in_app(fn))


def app_periodic_task(validate, **task_kwargs):
    """``huey.periodic_task`` with the same app-context handling as ``app_task``."""
    return lambda fn: huey.periodic_task(validate, **task_kwargs)(_in_app(fn))


def sync_immediate_mode() -> None:
    """Run tasks inline when the app config asks for it (tests do)."""
    if current_app.config.get("TASKS_IMMEDIATE"):
        huey.immediate = True


_PENDING = "herald_after_commit"


def enqueue_after_commit(task, *args, **kwargs) -> None:
    """Queue ``task(*args, **kwargs)`` once the current transaction commits.

    A mail or push about a change must not go out when that change rolls back,
    and a consumer must not pick up a task before the rows it reads exist.
    """
    from app.extensions import db

    db.session().info.setdefault(_PENDING, []).append((task, args, kwargs))


def _install_session_hooks() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_commit")
    def _run_pending(session):
        if session.in_nested_transaction():
            # A savepoint was released (``begin_nested``), not the transaction: it can still roll
            # back, and on SQLite a task run now would wait for the write lock its caller holds.
            return
        pending = session.info.pop(_PENDING, [])
        for task, args, kwargs in pending:
            task(*args, **kwargs)

    @event.listens_for(Session, "after_soft_rollback")
    def _drop_pending(session, previous_transaction):
        if previous_transaction.parent is None:  # the outermost transaction rolled back
            session.info.pop(_PENDING, None)


_install_session_hooks()
