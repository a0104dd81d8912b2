"""Plumbing shared by the benchmarks: machine facts, a throw-away instance and database, gunicorn, wrk, nginx.

Nothing here imports the app at module level: the ``HERALD_*`` variables must be
set before ``app`` is imported (the task queue reads them at import time).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
# A phone browser following a shared link (not a bot: the redirect counts it).
BROWSER_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.122 Mobile Safari/537.36"
)
WRK_THREADS = 2


def log(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- machine and tools


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_lines() -> list[str]:
    import sqlite3

    import gunicorn

    return [
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, gunicorn {gunicorn.__version__}, SQLite {sqlite3.sqlite_version}",
        f"wrk: {tool_version(['wrk', '-v'])}; nginx: {tool_version([nginx_binary() or 'nginx', '-v'])}",
    ]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def ensure_tools(need_nginx: bool) -> None:
    """Install wrk (and nginx) from Debian when missing; nginx stays optional."""
    wanted = ["wrk"] + (["nginx"] if need_nginx else [])
    missing = [name for name in wanted if not (nginx_binary() if name == "nginx" else shutil.which(name))]
    if not missing:
        return
    log(f"installing {' '.join(missing)} (apt-get)...")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing and could not be installed (apt-get install -y wrk)")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    idle = fields[3] + fields[4]  # idle + iowait
    return (total - idle) / CLK_TCK, total / CLK_TCK


def process_cpu(root_pid: int | None) -> tuple[float, float]:
    """CPU seconds used so far by a process tree (gunicorn master and workers) and by PostgreSQL's processes."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    database = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        head, _, rest = stat.rpartition(")")
        fields = rest.split()
        used = (int(fields[11]) + int(fields[12])) / CLK_TCK
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = used
        if head.partition("(")[2].startswith("postgres"):
            database += used
    total, todo = 0.0, [root_pid] if root_pid else []
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total, database


def tree_cpu(root_pid: int) -> float:
    """CPU seconds used so far by a process and its descendants."""
    return process_cpu(root_pid)[0]


def other_load(seconds: float = 1.0) -> float:
    """Share of the machine's CPU (0..1) busy over ``seconds`` while we do nothing: other people's work."""
    busy0, total0 = system_cpu()
    time.sleep(seconds)
    busy1, total1 = system_cpu()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


def settle(limit: float = 60.0, threshold: float = 0.15) -> None:
    """Wait (up to ``limit`` s) for other processes to leave the CPU alone; warn when they do not."""
    deadline = time.monotonic() + limit
    load = other_load()
    while load > threshold and time.monotonic() < deadline:
        load = other_load(2.0)
    if load > threshold:
        log(f"WARNING: other processes keep {load:.0%} of the CPU busy; the figures below are depressed by them")


def wait_idle(pid: int, limit: float = 60.0, threshold: float = 0.05, done=lambda: True) -> float:
    """Wait until a server's process tree stops using CPU and ``done()`` holds (a click backlog is ingested)."""
    start = time.monotonic()
    before, quiet_since = tree_cpu(pid), None
    while time.monotonic() - start < limit:
        time.sleep(0.25)
        now_cpu = tree_cpu(pid)
        if now_cpu - before <= threshold * 0.25 and done():
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 0.75:
                break
        else:
            quiet_since = None
        before = now_cpu
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


# --------------------------------------------------------------------------- instance and database


def migrations_digest() -> str:
    """Part of the cache key: a cached database is only reused with the same migrations."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


class Instance:
    """A fresh instance folder (tempfile) and an empty database; ``close()`` removes both."""

    def __init__(self, kind: str, label: str):
        self.kind = kind
        self.tmp = Path(tempfile.mkdtemp(prefix=f"herald-bench-{label}-"))
        self.folder = self.tmp / "instance"
        self.folder.mkdir()
        self.pg_name: str | None = None
        if kind == "sqlite":
            self.db_path = self.folder / "herald.db"
            self.url = f"sqlite:///{self.db_path}"
            self.sa_url = self.url
        else:
            self.pg_name = f"herald_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
            with self._admin_engine().connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.pg_name}"')
            self.url = f"{PG_SERVER}/{self.pg_name}"
            self.sa_url = "postgresql+psycopg://" + self.url.removeprefix("postgresql://")
        self.env = {
            **os.environ,
            "HERALD_INSTANCE_PATH": str(self.folder),
            "HERALD_DATABASE_URL": self.url,
            "HERALD_SECRET_KEY": secrets.token_urlsafe(48),
            "HERALD_MEDIA_ROOT": str(self.folder / "uploads"),
        }
        for name in ("HERALD_TASKS_IMMEDIATE", "HERALD_TEST_DATABASE_URL", "FLASK_DEBUG"):
            self.env.pop(name, None)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("HERALD_")})
        self._engine = None

    @staticmethod
    def _admin_engine():
        from sqlalchemy import create_engine

        return create_engine(
            "postgresql+psycopg://" + PG_SERVER.removeprefix("postgresql://") + "/postgres",
            isolation_level="AUTOCOMMIT",
        )

    @property
    def engine(self):
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(self.sa_url)
        return self._engine

    def scalar(self, sql: str):
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def migrate(self) -> None:
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError("flask db upgrade failed:\n" + out.stdout + out.stderr)

    def prepare(self, cache_name: str, generate) -> str:
        """Migrate and fill the database (``generate(engine)``); SQLite reuses a cached copy."""
        cached = CACHE / f"{cache_name}-{migrations_digest()}.db"
        if self.kind == "sqlite" and cached.exists():
            shutil.copyfile(cached, self.db_path)
            self.migrate()
            return f"copied from {cached.relative_to(ROOT)}"
        self.migrate()
        generate(self.engine)
        if self.kind == "postgresql":
            from sqlalchemy import text

            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            return "generated"
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("ANALYZE")
        self.engine.dispose()
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(self.db_path, partial)
        partial.replace(cached)
        return f"generated, cached as {cached.relative_to(ROOT)}"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.pg_name:
            try:
                engine = self._admin_engine()
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
                engine.dispose()
            except Exception as exc:  # keep cleaning up
                log(f"warning: could not drop database {self.pg_name}: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)


def bulk_insert(conn, model, rows: list[dict], chunk: int = 20_000) -> None:
    """SQLAlchemy Core executemany in chunks (one statement per chunk, no ORM).

    Only the columns the migrated database has are written (a model may be ahead of
    its migration while someone works on it); the model's column types and defaults apply.
    """
    from sqlalchemy import MetaData, Table, insert, inspect

    if not rows:
        return
    table = model.__table__
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    if set(table.columns.keys()) - present:
        table = Table(table.name, MetaData(), *(c._copy() for c in table.columns if c.name in present))
    rows = [{k: v for k, v in row.items() if k in present} for row in rows]
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), rows[start : start + chunk])


def insert_org(conn, departments, locations, now) -> None:
    """Departments (ids 1..n, by name) and locations (ids 1..n, (name, time zone)) for a dataset."""
    from app import models as m

    bulk_insert(conn, m.Department, [
        {"id": i, "name": name, "created_at": now} for i, name in enumerate(departments, start=1)
    ])  # fmt: skip
    bulk_insert(conn, m.Location, [
        {"id": i, "name": name, "timezone": tz, "created_at": now} for i, (name, tz) in enumerate(locations, start=1)
    ])  # fmt: skip


# --------------------------------------------------------------------------- signing in like a browser


def http_request(port: int, method: str, path: str, cookies: dict[str, str], body: str | None = None,
                 timeout: float = 30) -> tuple[int, str]:  # fmt: skip
    """One request to 127.0.0.1:``port``; keeps ``cookies`` up to date like a browser. (status, body)"""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"User-Agent": BROWSER_UA, "Accept": "text/html"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    for raw in resp.headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie()
        jar.load(raw)
        for name, morsel in jar.items():
            if morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0":
                cookies.pop(name, None)
            else:
                cookies[name] = morsel.value
    conn.close()
    return resp.status, data


def sign_in(port: int, email: str, password: str, page: str, marker: str, at_least: int = 10) -> str:
    """Sign in through the password form like a browser, check that ``page`` shows ``marker`` at
    least ``at_least`` times with the session, and return the Cookie header value."""
    cookies: dict[str, str] = {}
    status, html = http_request(port, "GET", "/login", cookies)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if status != 200 or match is None:
        raise RuntimeError(f"GET /login: {status}, no csrf_token in the form")
    form = urllib.parse.urlencode({"csrf_token": match.group(1), "email": email, "password": password, "remember": "y"})
    status, _html = http_request(port, "POST", "/login", cookies, form)
    if status not in (302, 303) or "session" not in cookies:
        raise RuntimeError(f"POST /login answered {status} (expected a redirect and a session cookie)")
    status, html = http_request(port, "GET", page, cookies)
    if status != 200 or html.count(marker) < at_least:
        raise RuntimeError(f"GET {page} with the session answered {status} without what it should show")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def fix_sequences(conn, models) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past the largest id."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return
    for model in models:
        table = model.__table__
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table.name}"), false)'
            )
        )


# --------------------------------------------------------------------------- gunicorn


class Gunicorn:
    """``gunicorn -c python:app.gunicorn_conf -w <workers> --threads <threads> …``.

    The settings module is the README's recommendation: gthread workers that spread keep-alive
    connections evenly (app/gunicorn_worker.py), a short GIL switch interval, a calmer GC.
    """

    def __init__(self, instance: Instance, workers: int, threads: int):
        self.instance = instance
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = instance.tmp / "gunicorn.log"
        self.ingester: subprocess.Popen | None = None

    @property
    def argv(self) -> list[str]:
        # BENCH_GUNICORN_ARGS adds flags for comparisons, e.g. "-k gthread --reuse-port" (gunicorn's own worker).
        extra = shlex.split(os.environ.get("BENCH_GUNICORN_ARGS", ""))
        return [
            "gunicorn", "-c", "python:app.gunicorn_conf", "-w", str(self.workers),
            "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", *extra, "wsgi:app",
        ]  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.argv],
                cwd=ROOT,
                env=self.instance.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # As in production: the web workers only spool, one ingester process writes.
        self.ingester = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "ingest-clicks"], cwd=ROOT, env=self.instance.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log_tail())
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer /healthz within 60 s:\n" + self.log_tail())
        # Every worker imports the app on its own; let them all come up before measuring.
        time.sleep(1.5)
        for _ in range(self.workers * 8):
            with contextlib.suppress(OSError), urllib.request.urlopen(self.base + "/healthz", timeout=5):
                pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, group=True)
        self.proc = None
        if self.ingester is not None:
            stop_process(self.ingester, signal.SIGINT, group=True)
            self.ingester = None


def stop_process(proc: subprocess.Popen | None, sig: int, group: bool = False, grace: float = 10.0) -> None:
    """``sig``, then SIGKILL after ``grace`` seconds (the process group too when ``group``: it is ours)."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)
    if group:  # workers orphaned by a killed master
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- wrk

LUA_COMMON = r"""
local threads = {}
local nthreads = 0
local counters = {"c2xx", "c302", "c3xx", "c4xx", "c5xx"}

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status == 302 then c302 = c302 + 1
  elseif status < 300 then c2xx = c2xx + 1
  elseif status < 400 then c3xx = c3xx + 1
  elseif status < 500 then c4xx = c4xx + 1
  else c5xx = c5xx + 1 end
end

local function init_counters()
  c2xx, c302, c3xx, c4xx, c5xx = 0, 0, 0, 0, 0
end

function done(summary, latency, requests)
  local total = {c2xx = 0, c302 = 0, c3xx = 0, c4xx = 0, c5xx = 0}
  for _, thread in ipairs(threads) do
    for _, name in ipairs(counters) do total[name] = total[name] + (thread:get(name) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "c2xx": %d, "c302": %d, "c3xx": %d, "c4xx": %d, "c5xx": %d, ' ..
    '"p50": %d, "p75": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    total.c2xx, total.c302, total.c3xx, total.c4xx, total.c5xx,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for these inputs


BUSY_WARNING = "\n  WARNING: other processes competed for the CPU; rerun on a quiet machine"


class WrkResult(dict):
    """Parsed ``done()`` output; latencies in ms."""

    @property
    def rps(self) -> float:
        return self["requests"] / (self["duration_us"] / 1e6) if self["duration_us"] else 0.0

    @property
    def socket_errors(self) -> int:
        return self["connect"] + self["read"] + self["write"] + self["timeout"]

    def ms(self, key: str) -> float:
        return self[key] / 1000.0

    def cpu_line(self) -> str:
        cores = os.cpu_count() or 1
        return (
            f"  CPU during the run (of {cores * 100} %): server {self['cpu_server']:.0f} %, "
            + (f"click ingester {self['cpu_ingester']:.0f} %, " if self.get("cpu_ingester", 0) >= 0.5 else "")
            + (f"PostgreSQL {self['cpu_database']:.0f} %, " if self["cpu_database"] >= 0.5 else "")
            + f"wrk {self['cpu_wrk']:.0f} %, other processes {self['cpu_other']:.0f} %, idle {self['cpu_idle']:.0f} %"
            + (f"; connections per server process: {'/'.join(map(str, self['spread']))}" if self["spread"] else "")
            + (BUSY_WARNING if self["cpu_other"] > 15 else "")
        )

    def line(self, label: str, ok_label: str = "302") -> str:
        ok = self["c302"] if ok_label == "302" else self["c2xx"]
        bad = self["requests"] - ok
        return (
            f"{label}: {self.rps:,.0f} req/s, latency p50 {self.ms('p50'):.2f} ms, p90 {self.ms('p90'):.2f} ms, "
            f"p95 {self.ms('p95'):.2f} ms, p99 {self.ms('p99'):.2f} ms, max {self.ms('max'):.1f} ms; "
            f"{self['requests']:,} requests, {ok:,} x {ok_label}, {bad} other statuses "
            f"(non-2xx/3xx {self['status']}), socket errors connect {self['connect']} read {self['read']} "
            f"write {self['write']} timeout {self['timeout']}"
        )


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    duration: float,
    server_pid: int | None = None,
    timeout: str = "2s",
    ingester_pid: int | None = None,
) -> WrkResult:
    """Run wrk; also account the CPU the server (process tree), wrk and everything else used meanwhile."""
    argv = [
        "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", timeout,
        "-s", str(script), url,
    ]  # fmt: skip
    busy0, total0 = system_cpu()
    server0, database0 = process_cpu(server_pid)
    ingester0 = tree_cpu(ingester_pid) if ingester_pid else 0.0
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    spread: list[int] = []
    if server_pid:
        port = int(url.split(":")[2].split("/")[0])
        timer = threading.Timer(min(duration / 2, 3.0), lambda: spread.extend(connections_per_process(port)))
        timer.start()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    if server_pid:
        timer.cancel()
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server1, database1 = process_cpu(server_pid)
    ingester1 = tree_cpu(ingester_pid) if ingester_pid else 0.0
    busy1, total1 = system_cpu()
    match = re.search(r"^BENCHJSON (\{.*\})$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({' '.join(argv)}):\n{out.stdout}\n{out.stderr}")
    result = WrkResult(json.loads(match.group(1)))
    wall = max((total1 - total0) / (os.cpu_count() or 1), 1e-9)  # elapsed seconds
    wrk_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    server_cpu = server1 - server0
    database_cpu = database1 - database0
    ingester_cpu = ingester1 - ingester0
    busy = busy1 - busy0
    result["cpu_server"] = 100 * server_cpu / wall
    result["cpu_database"] = 100 * database_cpu / wall
    result["cpu_ingester"] = 100 * ingester_cpu / wall
    result["cpu_wrk"] = 100 * wrk_cpu / wall
    result["cpu_other"] = max(100 * (busy - server_cpu - ingester_cpu - database_cpu - wrk_cpu) / wall, 0.0)
    result["cpu_idle"] = 100 * ((total1 - total0) - busy) / wall
    result["spread"] = spread
    return result


def connections_per_process(port: int) -> list[int]:
    """How wrk's connections are spread over the server's processes (``ss``), most loaded first."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


# --------------------------------------------------------------------------- nginx

NGINX_CONF = """
worker_processes auto;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 302 https://example.com/; }}
    }}
}}
"""


class Nginx:
    """nginx answering a static ``return 302`` (foreground, own prefix in the temp dir)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp / "nginx"
        self.tmp.mkdir(exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.port))
        binary = nginx_binary()
        with (self.tmp / "stdout.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [binary, "-e", str(self.tmp / "nginx-error.log"), "-p", str(self.tmp), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, group=True)
        self.proc = None
