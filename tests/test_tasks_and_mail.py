"""Background tasks on SQLite and Redis storage; mail through a real SMTP server."""

from __future__ import annotations

import os
import socket

import pytest

from app import mail as mail_module
from tests.helpers import REDIS_TASKS


def _round_trip(huey):
    @huey.task()
    def add(a, b):
        return a + b

    result = add(2, 3)
    task = huey.dequeue()
    assert task is not None, "the task was not stored"
    huey.execute(task)
    assert result.get(blocking=True, timeout=5) == 5


def test_sqlite_storage_is_the_embedded_default(tmp_path, monkeypatch):
    from huey import SqliteHuey

    import app.tasks as tasks

    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("HERALD_REDIS_URL", raising=False)
    monkeypatch.setenv("HERALD_TASKS_IMMEDIATE", "0")
    huey = tasks._make_huey()
    assert isinstance(huey, SqliteHuey)
    _round_trip(huey)
    assert (tmp_path / "tasks.db").exists()


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up() and not os.environ.get("CI"), reason="Redis is not running on 127.0.0.1:6379")
def test_redis_storage_when_configured(monkeypatch):
    from huey import RedisHuey

    import app.tasks as tasks

    monkeypatch.setenv("HERALD_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_TASKS}")
    monkeypatch.setenv("HERALD_TASKS_IMMEDIATE", "0")
    huey = tasks._make_huey()
    assert isinstance(huey, RedisHuey)
    huey.flush()
    _round_trip(huey)
    huey.flush()


def test_mail_waits_for_the_commit(app, factory, outbox):
    from app.accounts import services
    from app.extensions import db

    factory.user("ola@example.com", "Ola")
    with app.test_request_context():
        services.send_magic_link("ola@example.com")
        assert outbox == []  # not before the token row is committed
        db.session.rollback()
    assert outbox == []  # a rolled-back change sends nothing
    with app.test_request_context():
        services.send_magic_link("ola@example.com")
        db.session.commit()
    assert len(outbox) == 1 and outbox[0]["To"] == "ola@example.com"


class _Collector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    handler = _Collector()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_smtp_backend_delivers_through_a_real_server(app, factory, smtp_server):
    handler, port = smtp_server
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    factory.user("ola@example.com", "Ola")
    with app.test_request_context():
        from app.accounts import services
        from app.extensions import db

        services.send_magic_link("ola@example.com")
        db.session.commit()
    assert len(handler.messages) == 1
    envelope = handler.messages[0]
    assert envelope.rcpt_tos == ["ola@example.com"]
    body = envelope.content.decode()
    assert "Your Herald sign-in link" in body and "/login/magic/" in body


def test_console_backend_prints_in_development(app, factory, capsys):
    app.config["MAIL_BACKEND"] = "console"
    factory.user("ola@example.com", "Ola")
    with app.test_request_context():
        from app.accounts import services
        from app.extensions import db

        services.send_magic_link("ola@example.com")
        db.session.commit()
    assert "mail to ola@example.com: Your Herald sign-in link" in capsys.readouterr().out
    assert mail_module.outbox == []


def test_the_consumer_entry_point_knows_every_task(tmp_path):
    """``huey_consumer app.worker.huey`` must find the tasks that web requests enqueue."""
    import subprocess
    import sys

    env = {**os.environ, "HERALD_INSTANCE_PATH": str(tmp_path), "HERALD_TASKS_IMMEDIATE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", "from app.worker import huey; print('\\n'.join(huey._registry._registry))"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "app.mail.deliver_mail" in out.split()
