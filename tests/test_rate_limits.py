"""Sign-in limits hold across worker processes: the counters live where every worker sees them."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app.ratelimit import SQLiteStorage
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _hit_many(path: str, n: int, results) -> None:
    storage = SQLiteStorage(f"herald-sqlite://{path}")
    results.extend([storage.incr("login/ola", 60) for _ in range(n)])


def test_counters_in_the_sqlite_file_add_up_across_processes(tmp_path):
    """Four processes hitting one key at once: every hit is counted once, and the window totals 400."""
    path = tmp_path / "ratelimits.db"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        results = manager.list()
        procs = [ctx.Process(target=_hit_many, args=(str(path), 100, results)) for _ in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        counts = sorted(results)
    assert counts == list(range(1, 401))  # each hit saw a distinct running total: none lost, none doubled
    storage = SQLiteStorage(f"herald-sqlite://{path}")
    assert storage.get("login/ola") == 400
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_window_that_ended_starts_again(tmp_path):
    storage = SQLiteStorage(f"herald-sqlite://{tmp_path / 'r.db'}")
    assert [storage.incr("k", 1) for _ in range(3)] == [1, 2, 3]
    time.sleep(1.1)
    assert storage.get("k") == 0
    assert storage.incr("k", 1) == 1
    storage.clear("k")
    assert storage.get("k") == 0


@pytest.fixture
def served(tmp_path):
    """``flask serve`` with two workers on a fresh embedded instance (SQLite, no Redis)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_INSTANCE_PATH=str(tmp_path / "instance"),
        HERALD_LOGIN_RATE_LIMIT="10 per minute",
        HERALD_MAIL_BACKEND="memory",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--workers", "2", "--no-tasks", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a first answer slower than the timeout
                pass
            assert proc.poll() is None, "serve exited"
            time.sleep(0.3)
        else:
            pytest.fail("serve did not answer within 90 s")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        # Whatever of the group outlived serve (a gunicorn worker whose master went first) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _signed_out_session(base: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert token, "no CSRF token on the sign-in page"
    return session, token.group(1)


def test_two_workers_share_the_sign_in_limit(served):
    """25 wrong passwords from one address over connections on both workers: only 10 are processed."""
    # Eight keep-alive connections opened one after another: the balanced worker class gives
    # each worker four, so the attempts below alternate between the two processes.
    sessions = [_signed_out_session(served) for _ in range(8)]
    codes = []
    for attempt in range(25):
        session, token = sessions[attempt % len(sessions)]
        response = session.post(
            f"{served}/login",
            data={"email": "someone@example.com", "password": "not the password", "csrf_token": token},
            timeout=30,
        )
        codes.append(response.status_code)
    processed = [code for code in codes if code != 429]
    assert len(processed) == 10, codes
    assert set(processed) == {400}  # wrong password, shown on the form
    assert codes[10:] == [429] * 15
