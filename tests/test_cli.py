"""The flask commands: seed-demo, create-user."""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from app.org.models import Department, Location


def test_seed_demo_builds_a_realistic_company_and_prints_sign_ins(app, runner, client):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        people = db.session.scalar(select(func.count()).select_from(User))
        assert people >= 60
        assert db.session.scalar(select(func.count()).select_from(Department)) >= 5
        assert db.session.scalar(select(func.count()).select_from(Location)) >= 3
        roles = {
            u.email: u.roles for u in db.session.scalars(select(User).where(User.email.like("%@northwind.example")))
        }
        assert "admin" in roles["admin@northwind.example"] and "hr" in roles["hr@northwind.example"]
    creds = dict(re.findall(r"^\s+(\S+@northwind\.example)\s+(\S+)$", result.output, re.M))
    assert set(creds) == {"admin@northwind.example", "hr@northwind.example", "employee@northwind.example"}
    response = client.post(
        "/login", data={"email": "admin@northwind.example", "password": creds["admin@northwind.example"]}
    )
    assert response.headers["Location"] == "/feed"
    assert client.get("/admin/").status_code == 200
    # The analytics dashboard has something to show at once: today's shares live, a year of sales.
    assert "Demo analytics: 12 months of sales and new hires." in result.output
    page = client.get("/admin/analytics?period=week").get_data(as_text=True)
    shared = re.search(r"<strong>(\d+)</strong> (?:person|people) shared", page)
    assert shared and int(shared.group(1)) == 24
    assert "No business figures yet." not in page


def test_seed_demo_is_idempotent(app, runner):
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        first = db.session.scalar(select(func.count()).select_from(User))
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == first
        assert db.session.scalar(select(func.count()).select_from(Department)) == 6


def test_production_refuses_demo_accounts(app, runner):
    app.config["HERALD_ENV"] = "production"
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "refused in production" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_with_password_is_active(app, runner, client):
    result = runner.invoke(
        args=["create-user", "boss@example.com", "--name", "The Boss", "--role", "admin", "--role", "employee",
              "--password"],
        input="a long password\na long password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created boss@example.com (admin, employee, active)." in result.output
    response = client.post("/login", data={"email": "boss@example.com", "password": "a long password"})
    assert response.status_code == 302


def test_create_user_refuses_duplicates(runner):
    runner.invoke(args=["create-user", "a@example.com", "--name", "A"])
    result = runner.invoke(args=["create-user", "A@example.com", "--name", "A again"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_create_user_can_invite(runner, outbox):
    result = runner.invoke(args=["create-user", "new@example.com", "--name", "New", "--invite"])
    assert result.exit_code == 0
    assert outbox[-1]["To"] == "new@example.com"


def test_demo_accounts_cannot_sign_in_in_production(app, runner, client):
    result = runner.invoke(args=["seed-demo"])
    creds = dict(re.findall(r"^\s+(\S+@northwind\.example)\s+(\S+)$", result.output, re.M))
    app.config["HERALD_ENV"] = "production"
    response = client.post(
        "/login", data={"email": "admin@northwind.example", "password": creds["admin@northwind.example"]}
    )
    assert response.status_code == 400


def test_recommended_gunicorn_settings_load_and_apply():
    """``gunicorn -c python:app.gunicorn_conf``: balanced gthread workers, short GIL switches, calmer GC."""
    from gunicorn.config import Config
    from gunicorn.workers.gthread import ThreadWorker

    from app import gunicorn_conf

    cfg = Config()
    settings = {name: value for name, value in vars(gunicorn_conf).items() if name in cfg.settings}
    assert set(settings) >= {"workers", "worker_class", "on_starting", "pre_fork", "child_exit", "post_fork"}
    for name, value in settings.items():
        cfg.set(name, value)  # gunicorn validates each value
    assert cfg.worker_class_str == "app.gunicorn_worker.BalancedThreadWorker" and cfg.workers >= 1
    assert issubclass(cfg.worker_class, ThreadWorker) and cfg.reuse_port is False  # one shared socket
    before, thresholds = sys.getswitchinterval(), gc.get_threshold()
    try:
        cfg.post_fork(None, None)
        assert sys.getswitchinterval() < 0.001
        cfg.post_worker_init(None)
        assert gc.get_threshold()[0] >= 10_000 and gc.get_freeze_count() > 0
    finally:
        sys.setswitchinterval(before)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_the_click_ingester_runs_at_the_lowest_priority_in_its_own_session(tmp_path):
    """Started as a service or by a script (its own session), web workers always win the CPU from it."""
    instance = tmp_path / "instance"
    instance.mkdir()
    env = {
        **os.environ,
        "HERALD_INSTANCE_PATH": str(instance),
        "HERALD_DATABASE_URL": f"sqlite:///{instance / 'herald.db'}",
        "HERALD_SECRET_KEY": "a-test-secret-that-is-long-enough-for-this",
    }
    env.pop("HERALD_TEST_DATABASE_URL", None)
    root = Path(__file__).resolve().parent.parent
    ingester = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "wsgi", "ingest-clicks"], cwd=root, env=env, start_new_session=True
    )
    try:
        stat, autogroup = "", ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stat = Path(f"/proc/{ingester.pid}/stat").read_text()
            autogroup = (
                Path(f"/proc/{ingester.pid}/autogroup").read_text() if Path("/proc/self/autogroup").exists() else ""
            )
            if stat.rsplit(")", 1)[1].split()[16] != "0":  # it has lowered its priority
                break
            time.sleep(0.1)
        assert stat.rsplit(")", 1)[1].split()[16] == "19"  # the nice value (field 19 of /proc/<pid>/stat)
        if autogroup:  # Linux with autogroup scheduling: its session's group is lowered as well
            assert autogroup.strip().endswith("nice 19"), autogroup
    finally:
        ingester.send_signal(signal.SIGINT)
        ingester.wait(timeout=15)
