"""Backups: taken while Herald serves redirects and shares, restored into a new instance that works.

Each instance here is its own folder and its own database (a SQLite file, or a PostgreSQL
database created for it when ``HERALD_TEST_DATABASE_URL`` is set), not the suite's shared one.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import secrets
import stat
import tarfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app import caches, create_app
from app.config import read_or_create_secret
from app.database import read_intent
from app.extensions import db
from app.gamification.models import PointBalance, PointEntry
from app.tracking.models import Click
from tests.helpers import PHONE_UA, code_of, flush, make_post, share

SERVER_URL = os.environ.get("HERALD_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery staple"
INSTANCE_CONFIG = {
    "TESTING": True,
    "MAIL_BACKEND": "memory",
    "TASKS_IMMEDIATE": True,
    "WTF_CSRF_ENABLED": False,
    "BASE_URL": "http://localhost",
    "CLICK_FLUSH_SECONDS": 3600,  # the load below ingests with explicit flushes
}


def _admin_engine():
    base = make_url(SERVER_URL)
    return create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"), base


@pytest.fixture(scope="module")
def new_database(tmp_path_factory):
    """``new_database(label)``: the URL of a new, empty database (dropped after the module)."""
    created = []

    def make(label: str) -> str:
        if not SERVER_URL:
            return f"sqlite:///{tmp_path_factory.mktemp('db') / f'{label}.db'}"
        admin, base = _admin_engine()
        name = f"herald_backup_{label}_{os.getpid()}_{secrets.token_hex(3)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        created.append(name)
        return base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)

    yield make
    if created:
        admin, _base = _admin_engine()
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def instance(tmp_path_factory, new_database):
    """``instance(label, database_url=None)``: an app on a new instance folder (secrets generated there)."""
    apps = []

    def make(label: str, database_url: str | None = None):
        folder = tmp_path_factory.mktemp(label) / "instance"
        app = create_app({
            **INSTANCE_CONFIG,
            "INSTANCE_PATH": str(folder),
            "MEDIA_ROOT": str(folder / "uploads"),
            "SQLALCHEMY_DATABASE_URI": database_url or new_database(label),
        })  # fmt: skip
        caches.clear(app)  # rules, badges and member counts are cached per process, across apps
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()
        caches.clear(app)


def _upgrade(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))


def _person(app, email, password=None) -> int:
    from app.accounts import services

    with app.app_context():
        user = services.create_user(email, email.split("@")[0].title(), status="active", password=password)
        db.session.commit()
        return user.id


def _signed_in(app, user_id):
    from app.accounts.models import User

    client = app.test_client()
    with app.app_context():
        session_id = db.session.get(User, user_id).get_id()
    with client.session_transaction() as sess:
        sess["_user_id"] = session_id
        sess["_fresh"] = True
    return client


def _balances(app) -> dict[int, int]:
    with app.app_context(), read_intent():  # a plain read: it must not queue for the write lock
        try:
            return dict(db.session.execute(select(PointBalance.user_id, PointBalance.balance)).all())
        finally:
            db.session.remove()


def _ledger_sums(app) -> dict[int, int]:
    with app.app_context(), read_intent():
        try:
            return dict(
                db.session.execute(
                    select(PointEntry.user_id, func.sum(PointEntry.delta)).group_by(PointEntry.user_id)
                ).all()
            )
        finally:
            db.session.remove()


def _rows(app, *columns) -> set[tuple]:
    with app.app_context(), read_intent():
        try:
            return set(db.session.execute(select(*columns)).all())
        finally:
            db.session.remove()


def _table_count(app) -> int:
    with app.app_context():
        try:
            if db.engine.dialect.name == "sqlite":
                sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            else:
                sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            with db.engine.connect() as conn:
                return conn.execute(text(sql)).scalar_one()
        finally:
            db.engine.dispose()


def _files(folder: Path) -> dict[str, tuple[bytes, float]]:
    """Every file under ``folder`` (SQLite's -wal/-shm aside) with its content and mtime."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


class Load:
    """Threads that click tracked links (each a new visitor) and share posts, and one that ingests clicks."""

    def __init__(self, app, codes, sharers, posts):
        self.app, self.codes, self.sharers, self.posts = app, codes, sharers, posts
        self.stop = threading.Event()
        self.lagging = threading.Event()  # set: the ingester falls behind and clicks wait in the spool
        self.answered = 0  # 302s whose answer came back (so their click was spooled)
        self.shares = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._visitors = itertools.count(1)
        self.threads = [threading.Thread(target=self._clicks) for _ in range(2)]
        self.threads += [threading.Thread(target=self._shares), threading.Thread(target=self._ingest)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _guard(self, fn):
        try:
            fn()
        except Exception as error:  # reported by the test, not lost in a thread
            self.errors.append(repr(error))
            self.stop.set()

    def _clicks(self):
        def run():
            client = self.app.test_client()
            while not self.stop.is_set():
                n = next(self._visitors)
                code = self.codes[n % len(self.codes)]
                ip = f"198.51.{n // 250 % 250}.{n % 250 + 1}"
                response = client.get(
                    f"/r/{code}", headers={"User-Agent": f"{PHONE_UA} v{n}"}, environ_base={"REMOTE_ADDR": ip}
                )
                if response.status_code != 302:
                    raise AssertionError(f"/r/{code} answered {response.status_code}")
                with self._lock:
                    self.answered += 1
                time.sleep(0.01)  # ~150 clicks a second: what SQLite ingests (with awards) on a shared CI core

        self._guard(run)

    def _shares(self):
        def run():
            clients = [_signed_in(self.app, user_id) for user_id in self.sharers]
            for network, post_id, client in itertools.product(("x", "facebook", "email"), self.posts, clients):
                if self.stop.is_set():
                    return
                share(client, post_id, network)
                self.shares += 1

        self._guard(run)

    def _ingest(self):
        def run():
            while not self.stop.wait(0.15):
                if not self.lagging.is_set():
                    flush(self.app)

        self._guard(run)


@pytest.fixture(scope="module")
def backed_up(instance, tmp_path_factory):
    """A populated instance, backed up with the CLI while clicks and shares keep arriving."""
    source = instance("source")
    _upgrade(source)
    folder = Path(source.config["INSTANCE_PATH"])
    read_or_create_secret(folder, "giftcard_key")
    read_or_create_secret(folder, "vapid_private_key")  # a key added later is backed up by the same rule
    avatar = Path(source.config["MEDIA_ROOT"]) / "avatars" / "ola.webp"
    avatar.parent.mkdir(parents=True)
    avatar.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + secrets.token_bytes(2000))
    quiet = _person(source, "ola@example.com", password=PASSWORD)
    sharers = [_person(source, f"sharer{i}@example.com") for i in range(10)]
    posts = [make_post(source, f"Q{i} results", url="https://example.com/news") for i in range(4)]
    share(_signed_in(source, quiet), posts[0], "linkedin")  # Ola earns her points before the load
    links = [share(_signed_in(source, user_id), posts[i % 4], "linkedin")["link"] for i, user_id in enumerate(sharers)]
    codes = [code_of(link) for link in links]
    archive = tmp_path_factory.mktemp("backups") / "herald.tar.gz"
    with Load(source, codes, sharers, posts) as load:
        while (load.answered < 60 or load.shares < 3) and not load.errors:
            time.sleep(0.02)
        load.lagging.set()  # as a busy server's ingester does: these clicks are only in the spool
        lagged_from = load.answered
        while load.answered < lagged_from + 30 and not load.errors:
            time.sleep(0.02)
        before = _balances(source)
        answered_before = load.answered
        load.lagging.clear()  # the ingester catches up while the backup runs
        started = time.monotonic()
        result = source.test_cli_runner().invoke(args=["backup", str(archive)])
        took = time.monotonic() - started
        after = _balances(source)
        time.sleep(0.2)  # the load goes on after the backup
    assert not load.errors, load.errors
    assert result.exit_code == 0, result.output
    flush(source)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    spooled = manifest["spooled_clicks"]
    print(f"backup under load: {archive.stat().st_size} bytes in {took:.2f} s; {answered_before} clicks before "
          f"it, {load.answered} in all, {load.shares} shares; {spooled} clicks in the spool")  # fmt: skip
    return {
        "source": source, "archive": archive, "output": result.output, "manifest": manifest,
        "before": before, "after": after, "answered_before": answered_before, "quiet": quiet,
    }  # fmt: skip


def test_backup_under_load_restores_into_a_new_instance_that_signs_in_with_the_same_balances(backed_up, instance):
    source, archive, manifest = backed_up["source"], backed_up["archive"], backed_up["manifest"]
    output = backed_up["output"]
    assert "database" in output and "secret_key" in output and "Wrote" in output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the secrets
    kinds = {entry["path"]: entry["kind"] for entry in manifest["files"]}
    assert {"secrets/secret_key", "secrets/giftcard_key", "secrets/vapid_private_key"} <= set(kinds)
    assert kinds["media/avatars/ola.webp"] == "media"
    assert not any("tasks" in path or path.endswith((".db", "-wal")) for path in kinds if kinds[path] == "secret")
    assert manifest["database"]["kind"] == ("postgresql" if SERVER_URL else "sqlite")
    assert manifest["spooled_clicks"] > 0  # clicks answered but not yet ingested travel in the archive

    target = instance("restored")
    folder = Path(target.config["INSTANCE_PATH"])
    # A key the operator put there before (not one Herald generated as it started) is kept, never lost.
    (folder / "giftcard_key").write_text("an older key")
    os.utime(folder / "giftcard_key", (time.time() - 86400 * 30,) * 2)
    result = target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    [kept] = folder.glob("pre-restore-*/giftcard_key")
    assert kept.read_text() == "an older key" and not list(folder.glob("pre-restore-*/secret_key"))
    for name in ("secret_key", "giftcard_key", "vapid_private_key"):
        assert (folder / name).read_bytes() == (Path(source.config["INSTANCE_PATH"]) / name).read_bytes()
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    if not SERVER_URL:
        database = Path(make_url(target.config["SQLALCHEMY_DATABASE_URI"]).database)
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    restored_avatar = Path(target.config["MEDIA_ROOT"]) / "avatars" / "ola.webp"
    assert restored_avatar.read_bytes() == (Path(source.config["MEDIA_ROOT"]) / "avatars" / "ola.webp").read_bytes()

    # Herald starts on the restored instance with the restored secret key, as a new process would.
    restored = create_app({
        **INSTANCE_CONFIG,
        "INSTANCE_PATH": target.config["INSTANCE_PATH"],
        "MEDIA_ROOT": target.config["MEDIA_ROOT"],
        "SQLALCHEMY_DATABASE_URI": target.config["SQLALCHEMY_DATABASE_URI"],
    })  # fmt: skip
    assert restored.config["SECRET_KEY"] == (Path(source.config["INSTANCE_PATH"]) / "secret_key").read_text()

    # The snapshot is one moment: every balance is its ledger sum, between the balances read just
    # before and just after the backup (points only grow under this load), every ledger line is one
    # the source holds.
    balances, sums = _balances(restored), _ledger_sums(restored)
    assert balances == {user: sums.get(user, 0) for user in balances}
    assert set(sums) <= set(balances)
    before, after = backed_up["before"], backed_up["after"]
    for user, balance in balances.items():
        assert before.get(user, 0) <= balance <= after[user], (user, before.get(user), balance, after[user])
    assert sum(balances.values()) > sum(before.values()) - 1  # not an empty restore
    ledger = (PointEntry.idempotency_key, PointEntry.user_id, PointEntry.delta)
    assert _rows(restored, *ledger) <= _rows(source, *ledger)

    # The spooled clicks come back too: every click answered before the backup is a click row.
    flush(restored)
    clicks = _rows(restored, Click.uid)
    assert len(clicks) >= backed_up["answered_before"]
    assert clicks <= _rows(source, Click.uid)
    balances, sums = _balances(restored), _ledger_sums(restored)
    assert balances == {user: sums.get(user, 0) for user in balances}

    # Ola signs in with her password and sees the balance she had.
    client = restored.test_client()
    response = client.post("/login", data={"email": "ola@example.com", "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get("/me").get_data(as_text=True)
    shown = int(re.search(r"<strong data-balance>(\d+)</strong>", page).group(1))
    quiet = backed_up["quiet"]
    assert shown == before[quiet] == after[quiet] == balances[quiet] > 0
    with restored.app_context():
        db.engine.dispose()


def test_restore_refuses_an_instance_that_holds_data_and_changes_nothing(backed_up, instance):
    source, archive = backed_up["source"], backed_up["archive"]
    folder = Path(source.config["INSTANCE_PATH"])
    files, balances, entries = _files(folder), _balances(source), _rows(source, PointEntry.id)
    result = source.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code != 0
    assert "not empty" in result.output and "Nothing was changed" in result.output
    assert _files(folder) == files
    assert _balances(source) == balances and _rows(source, PointEntry.id) == entries

    # Media alone make an instance non-empty too (an empty database beside another instance's uploads).
    other = instance("media_only")
    media = Path(other.config["MEDIA_ROOT"]) / "posts" / "kept.webp"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"still here")
    result = other.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code != 0 and "holds 1 files" in result.output
    assert _table_count(other) == 0 and media.read_bytes() == b"still here"


def _rewrite(archive: Path, target: Path, change_member=None, change_manifest=None) -> Path:
    """A copy of ``archive`` with one member's bytes or the manifest changed (the other hashes kept)."""
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "manifest.json" and change_manifest:
                data = json.dumps(change_manifest(json.loads(data))).encode()
            elif change_member:
                data = change_member(member.name, data)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def test_a_damaged_or_newer_archive_is_refused_and_nothing_is_written(backed_up, instance, tmp_path):
    archive = backed_up["archive"]
    raw = archive.read_bytes()
    flipped = tmp_path / "flipped.tar.gz"
    flipped.write_bytes(raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0x55]) + raw[len(raw) // 2 + 1 :])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(raw[: len(raw) * 2 // 3])
    not_tar = tmp_path / "notes.tar.gz"
    not_tar.write_text("not a backup")

    def new_key(name, data):
        return secrets.token_urlsafe(32).encode() if name == "secrets/secret_key" else data

    def future(manifest):
        manifest["database"]["schema_revision"] = "9999_from_the_future"
        return manifest

    tampered = _rewrite(archive, tmp_path / "tampered.tar.gz", change_member=new_key)
    newer = _rewrite(archive, tmp_path / "newer.tar.gz", change_manifest=future)

    target = instance("untouched")
    folder = Path(target.config["INSTANCE_PATH"])
    files = _files(folder)
    runner = target.test_cli_runner()
    for path, reason in [
        (flipped, "damaged"), (truncated, "damaged"), (not_tar, "damaged"),
        (tampered, "secrets/secret_key does not match its size and SHA-256"),
        (newer, "schema (9999_from_the_future) is newer than this code"),
    ]:  # fmt: skip
        result = runner.invoke(args=["restore", str(path)])
        assert result.exit_code != 0, (path.name, result.output)
        assert reason in result.output, (path.name, result.output)
        assert _files(folder) == files, path.name
        assert _table_count(target) == 0, path.name
        assert not Path(target.config["MEDIA_ROOT"]).exists(), path.name


@pytest.mark.skipif(not SERVER_URL, reason="pg_dump is used on PostgreSQL only (set HERALD_TEST_DATABASE_URL)")
def test_a_missing_pg_dump_is_a_clear_error_and_leaves_no_archive(backed_up, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    archive = tmp_path / "never.tar.gz"
    result = backed_up["source"].test_cli_runner().invoke(args=["backup", str(archive)])
    assert result.exit_code != 0
    assert "pg_dump was not found on PATH" in result.output and "postgresql-client-" in result.output
    assert list(tmp_path.iterdir()) == []
