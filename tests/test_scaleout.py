"""Two web hosts, two task consumers, PostgreSQL and Redis under load at once: the books still balance.

Runs ``bench/scaleout.py`` for about ten seconds of load (the whole test takes 35-60 s).
Needs a PostgreSQL server (``HERALD_TEST_DATABASE_URL``; a fresh database is made and
dropped there) and Redis on 127.0.0.1:6379 (a free database number, flushed at the end).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS = ("127.0.0.1", 6379)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


TEST_DATABASE_URL = os.environ.get("HERALD_TEST_DATABASE_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (HERALD_TEST_DATABASE_URL)"),
    pytest.mark.skipif(not _redis_answers(), reason="needs Redis on 127.0.0.1:6379"),
]


def test_two_hosts_lose_no_click_award_none_twice_oversell_nothing_and_share_the_sign_in_limit(tmp_path):
    figures_path = tmp_path / "figures.json"
    server = f"postgresql://{urlsplit(TEST_DATABASE_URL).netloc}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    argv = [
        sys.executable, "bench/scaleout.py", "--seconds", "10", "--employees", "8", "--click-threads", "2",
        "--click-rate", "80", "--attempts", "30", "--login-limit", "10 per minute", "--pg", server,
        "--redis", "redis://{}:{}".format(*REDIS), "--drain-timeout", "90", "--json", str(figures_path),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script stops its hosts and drops its database
        output, _ = proc.communicate(timeout=60)
        pytest.fail("bench/scaleout.py did not finish within 240 s:\n" + output[-4000:])
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-6000:]
    last = output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"scaleout hosts=2 redirects=[1-9]\d* lost_clicks=0 double_awards=0 oversold=0 balance_mismatches=0", last
    ), output[-4000:]
    f = json.loads(figures_path.read_text())
    assert f["failures"] == []
    # A request whose answer never reached the client may still have been recorded (none, usually).
    slack = f["client_errors"] + f["clicks_resent"]
    # Every answered 302 is one click row, and every unique click earned points exactly once.
    assert f["redirects"] > 0 and f["lost_clicks"] == 0
    assert f["clicks"] == f["redirects"] + f["extra_clicks"] and f["extra_clicks"] <= slack
    assert 0 < f["unique_clicks"] < f["clicks"]  # returning visitors and crawlers are not unique
    assert f["click_entries"] == f["awarded_unique"] == f["unique_clicks"]
    assert f["double_awards"] == f["missed_awards"] == f["duplicate_keys"] == f["visitor_unique_twice"] == 0
    assert f["link_count_drift"] == 0
    # Shares: one row per (post, person, network), re-shares counted in its times.
    assert 0 < f["first_shares"] <= f["shares"] <= f["first_shares"] + slack
    assert f["shares_answered"] <= f["share_times"] <= f["shares_answered"] + slack
    # Redemptions: nothing oversold, every form key one redemption even when posted at both hosts.
    assert f["redeemed"] > 0 and f["oversold"] == 0
    assert f["hoodie_sold"] <= f["hoodie_stock"] and f["hoodie_left"] >= 0 and f["hoodie_leak"] == 0
    assert f["card_redemptions"] == f["codes_issued"] <= f["card_pool"]
    assert f["form_keys"] <= f["redemptions"] == f["spend_entries"] <= f["form_keys"] + slack
    assert f["same_key_twice"] == 0
    # The sign-in limit holds for both hosts together: 10 a minute, not 10 at each.
    assert 0 < f["login_processed"] <= f["login_limit"] == 10
    assert f["login_limited"] == 30 - f["login_processed"]
    assert f["limiter_keys"] > 0
    assert max(f["attack_counters"]) == 30  # one Redis counter saw every attempt, at either host
    # Points: every balance is the sum of its ledger entries.
    assert f["balance_mismatches"] == f["negative_balances"] == 0
