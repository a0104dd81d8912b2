"""The recommended gunicorn worker spreads keep-alive connections evenly over the workers.

These start real gunicorn masters with ``app.gunicorn_conf`` and a tiny WSGI app that
answers with its worker's pid, so each test sees which worker holds which connection.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app import gunicorn_worker
from tests.helpers import free_port

PID_APP = """
import os


def app(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gunicorn(tmp_path):
    """Start ``gunicorn -c python:app.gunicorn_conf`` on the pid app; yield (port, master process)."""
    (tmp_path / "pid_app.py").write_text(PID_APP)
    port = free_port()
    started = []

    def start(*extra: str):
        argv = [
            sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "--pythonpath", f"{tmp_path},{ROOT}",
            "-w", "2", "--threads", "1", "--keep-alive", "30", "-b", f"127.0.0.1:{port}", *extra, "pid_app:app",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.monotonic() + 20
        while len(_worker_pids(proc)) < 2 or not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        return port, proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _worker_pids(master: subprocess.Popen) -> set[int]:
    try:
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    except OSError:
        return set()
    return {int(pid) for pid in children}


def _answers(port: int) -> bool:
    """One request with ``Connection: close``, read until the worker has closed its side.

    A keep-alive probe closed by the client stays in its worker's count until the worker
    notices, which can be after the test's connections arrive: they then split 7/9.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := sock.recv(4096):
                response += chunk
        return response.startswith(b"HTTP/1.1 200") and response.rpartition(b"\r\n\r\n")[2].isdigit()
    except OSError:
        return False


def _open(port: int, n: int) -> list[http.client.HTTPConnection]:
    """``n`` connections opened at once, like a browser or a proxy's pool (nothing sent yet)."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(n)]
    for conn in conns:
        conn.connect()
    return conns


def _served_by(conns: list[http.client.HTTPConnection]) -> Counter:
    """Which worker answers each connection (two requests each: the connection stays with its worker)."""
    seen: Counter = Counter()
    for _ in range(2):
        for conn in conns:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            seen[int(response.read())] += 1
    return Counter({pid: count // 2 for pid, count in seen.items()})


def test_sixteen_keep_alive_connections_are_split_eight_and_eight(gunicorn):
    port, master = gunicorn()
    conns = _open(port, 16)
    try:
        spread = _served_by(conns)
        assert sorted(spread.values()) == [8, 8], spread
        assert set(spread) == _worker_pids(master)
    finally:
        for conn in conns:
            conn.close()


def test_a_replacement_worker_takes_the_new_connections(gunicorn):
    """A worker killed with SIGKILL: its connections die with it, and new ones go to its replacement."""
    port, master = gunicorn()
    conns = _open(port, 8)
    spread = _served_by(conns)
    victim, survivor = sorted(spread)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while victim in _worker_pids(master) or len(_worker_pids(master)) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.1)
    replacement = (_worker_pids(master) - {survivor}).pop()
    fresh = _open(port, 4)
    try:
        # The survivor still holds its 4 connections, the replacement none: all 4 new ones go to it.
        assert _served_by(fresh) == Counter({replacement: 4})
    finally:
        for conn in conns + fresh:
            conn.close()


def test_the_table_gives_each_worker_its_own_slot_and_frees_it():
    table = gunicorn_worker.ConnectionTable(slots=4)

    class Worker:
        pass

    class Master:
        WORKERS: dict = {}

    saved, gunicorn_worker.table = gunicorn_worker.table, table
    try:
        first, second = Worker(), Worker()
        gunicorn_worker.assign_slot(Master, first)
        Master.WORKERS = {1: first}
        gunicorn_worker.assign_slot(Master, second)
        Master.WORKERS = {1: first, 2: second}
        assert {first.connection_slot, second.connection_slot} == {0, 1}
        table.counts[first.connection_slot] = 5
        table.counts[second.connection_slot] = 3
        assert table.fewest_elsewhere(first.connection_slot) == 3
        assert table.fewest_elsewhere(second.connection_slot) == 5
        gunicorn_worker.release_slot(Master, second)  # the master reaped it
        del Master.WORKERS[2]
        assert table.fewest_elsewhere(first.connection_slot) is None  # alone: always its turn
        third = Worker()
        gunicorn_worker.assign_slot(Master, third)
        assert third.connection_slot == second.connection_slot and table.counts[third.connection_slot] == 0
    finally:
        gunicorn_worker.table = saved
