"""Benchmark surveys: HR's result and trend pages on a company-sized survey, and answers submitted under load.

    .venv/bin/python bench/surveys.py --db sqlite|postgres [--scale small|full] [--duration 20]

Dataset (full): 34,000 employees in 50 departments (two tiny ones, so that suppression
works) and 6 locations; the "Employee satisfaction" template (12 agreement statements,
eNPS, one open question) plus one single-choice question, made through
``surveys.services``; 8 quarterly waves of two weeks, 7 closed and 1 open, 25,000
responses each (200,000 responses, 2.9 million answers), with who took part
(``participation``), who was asked (``wave_invitee``) and the ledger's survey points. The
closed waves' counts are kept by ``surveys.services.tick()``, as the periodic task does.
small: 1,700 employees, 10 departments, 1,250 responses per closed wave, 400 in the open one.

1. Server time of ``GET /hr/surveys/<id>/results`` (the open wave: counted fresh; a closed
   wave: its kept counts) and ``/trend`` under ``flask serve``: sequential requests from one
   client after a warm-up, median of ``--samples``. In-process timings of the parts follow.
2. Submissions: employees who have not answered the open wave sign in through ``/login``
   and open the answer page (their CSRF token); then 16 client threads POST complete answers
   (15 questions) for distinct people for ``--duration`` seconds; a 302 to the thank-you page
   is a success. Then double taps (the same answers posted twice at once) and late retries.
3. Checks in the database: responses = participations = survey ledger entries for the
   wave, one entry per person, 15 answers per new response, balances = ledger sums.

The last line is ``surveys results_ms=… trend_ms=… submits_per_s=… submit_p95_ms=… duplicates=…``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import http.client
import json
import os
import random
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import log  # noqa: E402
from bench.leaderboard import DEPT_NAMES, FIRST, LAST, LOCATIONS, Sink, pct  # noqa: E402


@dataclass(frozen=True)
class Scale:
    employees: int
    departments: int
    per_wave: int  # responses in each closed wave
    open_answered: int  # responses already in the open wave
    duration: float  # seconds of submissions


SCALES = {
    "small": Scale(1_700, 10, 1_250, 400, 5.0),
    "full": Scale(34_000, 50, 25_000, 25_000, 20.0),
}
WAVES = 8
WAVE_DAYS = 14
QUARTER_DAYS = 91
DEACTIVATED = 0.01
NO_LOCATION = 0.01
TINY_DEPARTMENTS = (3, 6)  # members of the last two departments: one below the threshold, one just above
CLIENTS = 16
WARMUP_SECONDS = 2.0
WARMUP_PEOPLE = 200
DOUBLE_TAPS = 48
RETRIES = 16
HR_EMAIL = "hr@bench.example"
PASSWORD = "bench-password-not-secret"  # noqa: S105
# One cheap hash for every bench account: thousands of people sign in through the real form
# before the submissions, and the default scrypt would take minutes of the server's CPU.
PASSWORD_METHOD = "pbkdf2:sha256:1"
LOGIN_LIMIT = "1000000 per minute"  # the sign-ins all come from 127.0.0.1
SINGLE_OPTIONS = ["At the office", "Hybrid", "Remote"]
TEXTS = (
    "More time for focused work.", "Clearer priorities from leadership.", "Better coffee, honestly.",
    "Fewer meetings on Fridays.", "Recognition for the quiet work too.", "A proper onboarding buddy.",
    "More flexibility about where I work.", "Career paths that are written down.",
)  # fmt: skip
TARGET_RESULTS_MS = 500.0
TARGET_TREND_MS = 500.0
TARGET_SUBMITS = 200.0
TARGET_SUBMIT_P95_MS = 100.0
CHUNK = 250_000


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --------------------------------------------------------------------------- dataset


@dataclass
class Dataset:
    survey_id: int
    title: str
    waves: list[int]  # ids, oldest first; the last one is open
    questions: list[tuple[int, str]]  # (id, kind) in order
    open_answered: int
    answers_open: int  # answer rows of the open wave before the run
    department_sizes: dict[int, int]


def _ts(when: datetime, pg: bool) -> str:
    text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text + "+00" if pg else text


def generate_people(engine, scale: Scale, anchor: datetime, rng: random.Random) -> tuple[list, list, list]:
    """Departments, locations, employees (uid 1 is HR) and roles. Returns (status, department, location) by uid."""
    from werkzeug.security import generate_password_hash

    from app import models as m
    from bench.common import bulk_insert

    n = scale.employees
    n_dept = scale.departments
    password = generate_password_hash(PASSWORD, method=PASSWORD_METHOD)
    weights = [rng.uniform(0.2, 3.0) for _ in range(n_dept - len(TINY_DEPARTMENTS))]
    loc_weights = [6, 4, 3, 3, 2, 1][: len(LOCATIONS)]
    status, dept, loc = ["active"] * (n + 1), [None] * (n + 1), [None] * (n + 1)
    tiny = [d for d, size in zip(range(n_dept - len(TINY_DEPARTMENTS) + 1, n_dept + 1), TINY_DEPARTMENTS,
                                 strict=True) for _ in range(size)]  # fmt: skip
    created = anchor - timedelta(days=3 * 365)
    users = []
    for uid in range(1, n + 1):
        if 2 <= uid < 2 + len(tiny):
            dept[uid] = tiny[uid - 2]
        else:
            dept[uid] = rng.choices(range(1, n_dept - len(TINY_DEPARTMENTS) + 1), weights=weights)[0]
        loc[uid] = None if uid > 1 and rng.random() < NO_LOCATION else rng.choices(range(1, 7), loc_weights)[0]
        if uid > 1 + len(tiny) and rng.random() < DEACTIVATED:
            status[uid] = "deactivated"
        users.append({
            "id": uid, "email": HR_EMAIL if uid == 1 else f"user{uid}@bench.example",
            "display_name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {uid}", "department_id": dept[uid],
            "location_id": loc[uid], "timezone": "UTC", "locale": "en", "avatar_path": None,
            "password_hash": password, "status": status[uid], "is_demo": False, "session_version": 1,
            "created_at": created, "activated_at": created,
            "deactivated_at": anchor - timedelta(days=20) if status[uid] == "deactivated" else None,
            "last_login_at": None,
        })  # fmt: skip
    names = [f"{DEPT_NAMES[i % len(DEPT_NAMES)]} {i // len(DEPT_NAMES) + 1}" for i in range(n_dept)]
    with engine.begin() as conn:
        common.insert_org(conn, names, LOCATIONS, created)
        bulk_insert(conn, m.User, users)
        roles = [{"user_id": u["id"], "role": "employee"} for u in users] + [{"user_id": 1, "role": "hr"}]
        bulk_insert(conn, m.UserRole, roles)
        common.fix_sequences(conn, [m.Department, m.Location, m.User])
    return status, dept, loc


def create_survey(app, first_open: datetime, first_close: datetime) -> tuple[int, str, list[tuple[int, str]]]:
    """The survey through the services: the satisfaction template and one single-choice question, live."""
    from app.accounts.models import User
    from app.extensions import db
    from app.gamification import badges
    from surveys import services

    with app.app_context():
        badges.ensure_builtin()
        hr = db.session.get(User, 1)
        survey = services.create_survey(hr, "satisfaction")
        services.add_question(survey, services.QuestionData(
            kind="single", text="Where do you mostly work?", options=list(SINGLE_OPTIONS), dimension_id=None,
        ))  # fmt: skip
        survey.status, survey.launched_at = "live", first_open
        survey.opens_at, survey.closes_at = first_open, first_close
        db.session.commit()
        db.session.refresh(survey)
        questions = [(q.id, q.kind) for q in survey.questions]
        out = survey.id, survey.title, questions
        db.session.remove()
    return out


def generate_waves(engine, scale: Scale, anchor: datetime, rng: random.Random, survey_id: int, title: str,
                   questions: list[tuple[int, str]], people: tuple[list, list, list]) -> dict:  # fmt: skip
    """Waves, who was asked, who answered, the answers, the survey points in the ledger. Returns row counts."""
    from app import models as m
    from bench.common import bulk_insert
    from surveys.models import Wave

    status, dept, loc = people
    n = scale.employees
    pg = engine.dialect.name == "postgresql"
    active = [u for u in range(1, n + 1) if status[u] == "active"]
    answering = [u for u in active if u != 1]  # HR looks at the results
    # Departments answer differently (and a little better each quarter), so breakdowns and trends move.
    mood = {d: rng.gauss(0.0, 0.45) for d in set(dept)}
    q_offset = {qid: rng.uniform(-0.5, 0.4) for qid, _kind in questions}
    waves, windows = [], []
    for number in range(1, WAVES + 1):
        opens = anchor - timedelta(days=WAVE_DAYS // 2 + (WAVES - number) * QUARTER_DAYS, hours=1)
        closes = opens + timedelta(days=WAVE_DAYS)
        is_open = number == WAVES
        waves.append({
            "id": number, "survey_id": survey_id, "number": number, "opens_at": opens, "closes_at": closes,
            "closed_early_at": None, "snapshot_at": opens,
            # The open wave's reminder went out already (tick() would e-mail everyone otherwise).
            "reminder_sent_at": anchor - timedelta(hours=2) if is_open else opens + timedelta(days=WAVE_DAYS // 2),
            "cube": None,
        })  # fmt: skip
        windows.append((opens, min(closes, anchor - timedelta(minutes=5))))
    invitees, participations, responses, answers, entries = [], [], [], [], []
    done = [0] * (n + 1)
    params = json.dumps({"title": title})
    eid = 0
    for number, (opens, last) in enumerate(windows, start=1):
        is_open = number == WAVES
        trend = 0.06 * number
        for u in active:
            invitees.append((number, u, dept[u], loc[u]))
        took_part = rng.sample(answering, scale.open_answered if is_open else scale.per_wave)
        span = (last - opens).total_seconds()
        for u in took_part:
            when = opens + timedelta(seconds=rng.random() * span)
            day = when.date().isoformat()
            key = secrets.token_hex(16)
            participations.append((number, u, day, None))
            responses.append((key, number, day, dept[u], loc[u]))
            eid += 1
            entries.append((eid, u, 20, "survey", params, "survey_wave", number, f"survey:{number}:{u}",
                            _ts(when, pg)))  # fmt: skip
            done[u] += 1
            base = 3.55 + mood[dept[u]] + trend
            for qid, kind in questions:
                value, text = None, None
                if kind == "likert":
                    value = min(5, max(1, round(base + q_offset[qid] + rng.gauss(0.0, 0.95))))
                elif kind == "enps":
                    value = min(10, max(0, round(7.0 + 2.2 * (base - 3.55) + rng.gauss(0.0, 2.0))))
                elif kind == "single":
                    value = rng.choices((0, 1, 2), (5, 3, 2))[0]
                elif rng.random() < 0.3:  # the optional open question
                    text = rng.choice(TEXTS)
                else:
                    continue
                answers.append((key, qid, 0, number, dept[u], loc[u], value, text))
    # Wave by wave (as they come in over time, which is how PostgreSQL's heap keeps them), and by their
    # random keys within a wave: no order shared with the participation rows, fewer B-tree page splits.
    responses.sort(key=lambda r: (r[1], r[0]))
    answers.sort(key=lambda r: (r[3], r[0], r[1]))
    counts = {"wave": len(waves), "wave_invitee": len(invitees), "participation": len(participations),
              "response": len(responses), "answer": len(answers), "point_entry": len(entries)}  # fmt: skip
    t0 = time.monotonic()
    with engine.begin() as conn:
        sink = Sink(conn)
        if pg:
            conn.exec_driver_sql("SET session_replication_role = replica")  # consistent by construction
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            conn.exec_driver_sql("SET synchronous_commit = off")
        rebuild = sink.drop_indexes(("answer", "response", "wave_invitee", "participation", "point_entry"))
        bulk_insert(conn, Wave, waves)
        for table, columns, rows in (
            ("wave_invitee", ("wave_id", "user_id", "department_id", "location_id"), invitees),
            ("participation", ("wave_id", "user_id", "day", "response_key"), participations),
            ("response", ("key", "wave_id", "day", "department_id", "location_id"), responses),
            ("answer", ("response_key", "question_id", "choice", "wave_id", "department_id", "location_id", "value",
                        "text"), answers),
            ("point_entry", ("id", "user_id", "delta", "reason", "params", "source_type", "source_id",
                             "idempotency_key", "created_at"), entries),
        ):  # fmt: skip
            for start in range(0, len(rows), CHUNK):
                sink.rows(table, columns, rows[start : start + CHUNK])
        now = _ts(anchor, pg)
        sink.rows("point_balance", ("user_id", "balance", "lifetime", "updated_at"),
                  [(u, 20 * done[u], 20 * done[u], now) for u in range(1, n + 1) if done[u]])  # fmt: skip
        sink.rows("user_stats", ("user_id", "shares", "unique_clicks", "comments", "suggestions_approved",
                                 "surveys_completed", "kudos_received"),
                  [(u, 0, 0, 0, 0, done[u], 0) for u in range(1, n + 1) if done[u]])  # fmt: skip
        conn.exec_driver_sql(
            "INSERT INTO user_badge (user_id, badge_id, awarded_at) SELECT s.user_id, b.id, "
            + ("now()" if pg else "strftime('%Y-%m-%d %H:%M:%f', 'now')")
            + " FROM user_stats s JOIN badge_definition b ON b.code = 'surveys-5' WHERE s.surveys_completed >= 5"
        )
        t1 = time.monotonic()
        for ddl in rebuild:
            conn.exec_driver_sql(ddl)
        common.fix_sequences(conn, [Wave, m.PointEntry])
        if pg:
            conn.exec_driver_sql("SET session_replication_role = origin")
    log(f"  rows written in {t1 - t0:.1f} s, {len(rebuild)} indexes rebuilt in {time.monotonic() - t1:.1f} s")
    return counts


def build(instance: common.Instance, scale: Scale, anchor: datetime) -> Dataset:
    from sqlalchemy import event, func, select

    from app import create_app
    from app.extensions import db
    from surveys import results, services
    from surveys.models import Answer, Wave

    rng = random.Random(f"herald-surveys-{scale.employees}")
    engine = instance.engine
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection, _record):  # generation only
            cur = dbapi_connection.cursor()
            for pragma in ("synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    t0 = time.monotonic()
    instance.migrate()
    people = generate_people(engine, scale, anchor, rng)
    first_open = anchor - timedelta(days=WAVE_DAYS // 2 + (WAVES - 1) * QUARTER_DAYS, hours=1)
    app = create_app()
    survey_id, title, questions = create_survey(app, first_open, first_open + timedelta(days=WAVE_DAYS))
    counts = generate_waves(engine, scale, anchor, rng, survey_id, title, questions, people)
    log("  rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    engine.dispose()

    with app.app_context():
        t1 = time.monotonic()
        done = services.tick()  # what the periodic task does: keep the closed waves' counts
        db.session.commit()
        log(f"  services.tick(): {done} in {time.monotonic() - t1:.1f} s")
        db.session.remove()
    if instance.kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            t1 = time.monotonic()
            conn.exec_driver_sql("VACUUM (ANALYZE)")  # steady state: statistics and a visibility map
            log(f"  VACUUM (ANALYZE) in {time.monotonic() - t1:.1f} s")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()

    with app.app_context():
        waves = list(db.session.scalars(select(Wave).where(Wave.survey_id == survey_id).order_by(Wave.number)))
        # Kept counts must equal a fresh count (after a trip through the database's JSON column).
        for wave in waves[:-1]:
            fresh = json.loads(json.dumps(results.count_cube(wave.id)))
            if wave.cube != fresh:
                raise RuntimeError(f"wave {wave.number}: the kept cube differs from a fresh count")
        answers_open = db.session.scalar(select(func.count()).select_from(Answer).where(Answer.wave_id == waves[-1].id))
        sizes = collections.Counter(d for s, d in zip(people[0], people[1], strict=True) if s == "active")
        out = Dataset(survey_id, title, [w.id for w in waves], questions, scale.open_answered, answers_open,
                      dict(sizes))  # fmt: skip
        db.session.remove()
    log(f"  kept cubes of the {WAVES - 1} closed waves equal a fresh count; dataset ready in "
        f"{time.monotonic() - t0:.1f} s")  # fmt: skip
    return out


# --------------------------------------------------------------------------- the server and a browser


class Serve:
    """``flask --app wsgi serve`` (gunicorn, task consumer, click ingester) in a process group of its own."""

    def __init__(self, instance: common.Instance, workers: int):
        self.instance = instance
        self.workers = workers
        self.port = common.free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = instance.tmp / "serve.log"
        self.argv = [sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--port", str(self.port),
                     "--workers", str(workers)]  # fmt: skip

    def start(self) -> None:
        env = {**self.instance.env, "HERALD_LOGIN_RATE_LIMIT": LOGIN_LIMIT}
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(self.argv, cwd=common.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("flask serve exited:\n" + self.log_tail())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        else:
            raise RuntimeError("flask serve did not answer /healthz within 90 s:\n" + self.log_tail())
        time.sleep(2.0)  # every worker imports the app on its own

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        common.stop_process(self.proc, signal.SIGTERM, group=True, grace=20)
        self.proc = None


class Browser:
    """One person's browser: a kept-alive connection and cookies."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, form: dict | None = None, cookie: str | None = None,
                retry: bool = True) -> tuple[int, str, str]:  # fmt: skip
        """(status, Location, body). ``cookie`` replaces the jar (a session handed to another connection)."""
        headers = {"User-Agent": common.BROWSER_UA, "Accept": "text/html", "Accept-Language": "en"}
        jar = cookie if cookie is not None else "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if jar:
            headers["Cookie"] = jar
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read().decode("utf-8", "replace")
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2 or not retry:
                    raise
        if resp.will_close:
            self.close()
        if cookie is None:
            for raw in resp.headers.get_all("Set-Cookie") or []:
                parsed = SimpleCookie()
                parsed.load(raw)
                for name, morsel in parsed.items():
                    if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
        return resp.status, resp.headers.get("Location", ""), data


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_of(html: str) -> str | None:
    match = CSRF.search(html)
    return (match.group(1) or match.group(2)) if match else None


def sign_in(browser: Browser, email: str, page: str) -> str:
    """Sign in through the password form; open ``page``; return its form's CSRF token."""
    status, _loc, html = browser.request("GET", "/login")
    token = csrf_of(html)
    if status != 200 or token is None:
        raise RuntimeError(f"GET /login: {status}, no csrf_token")
    form = {"csrf_token": token, "email": email, "password": PASSWORD, "remember": "y"}
    status, _loc, _html = browser.request("POST", "/login", form)
    if status not in (302, 303) or "session" not in browser.cookies:
        raise RuntimeError(f"POST /login for {email}: {status} (expected a redirect and a session cookie)")
    status, _loc, html = browser.request("GET", page)
    token = csrf_of(html)
    if status != 200 or token is None:
        raise RuntimeError(f"GET {page} for {email}: {status}, no form with a csrf_token")
    return token


# --------------------------------------------------------------------------- measure 1: results and trend


def time_page(browser: Browser, path: str, samples: int, warmup: int, marker: str) -> list[float]:
    """Sequential GETs: ``warmup`` not counted, then ``samples`` timed (ms, client side, on 127.0.0.1)."""
    times = []
    for i in range(warmup + samples):
        t0 = time.perf_counter()
        status, _loc, html = browser.request("GET", path)
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200 or marker not in html:
            raise RuntimeError(f"GET {path}: {status}, without {marker!r}")
        if i >= warmup:
            times.append(elapsed)
    return times


def describe(label: str, times: list[float]) -> str:
    return (f"  {label:<44} median {statistics.median(times):7.1f} ms  p90 {pct(times, 90):7.1f} ms  "
            f"min {min(times):7.1f} ms  max {max(times):7.1f} ms  ({len(times)} requests)")  # fmt: skip


def measure_pages(port: int, server_pid: int, data: Dataset, args, workers: int) -> tuple[float, float, list[str]]:
    browser = Browser(port)
    sign_in(browser, HR_EMAIL, f"/hr/surveys/{data.survey_id}")
    closed_wave = data.waves[-2]
    biggest = max(data.department_sizes, key=data.department_sizes.get)
    warm = 2 * workers  # each worker compiles templates and fills its caches once
    base = f"/hr/surveys/{data.survey_id}"
    pages = [
        ("results, open wave (fresh count) [contract]", f"{base}/results", "heatmap"),
        ("results, closed wave (kept counts)", f"{base}/results?wave={closed_wave}", "heatmap"),
        ("trend, 8 waves [contract]", f"{base}/trend", "<table"),
        ("results, open wave, one department [info]", f"{base}/results?department={biggest}", "<table"),
    ]
    lines = [f"HR pages, sequential requests from one client to flask serve ({workers} workers), "
             f"{args.samples} timed after {warm} warm-up requests each (on 127.0.0.1: ~ server time):"]  # fmt: skip
    timed = {}
    busy = False
    for label, path, marker in pages:
        before = cpu_snapshot(server_pid)
        timed[label] = time_page(browser, path, args.samples, warm, marker)
        cpu = cpu_shares(before, cpu_snapshot(server_pid))
        busy = busy or cpu["other"] > 15
        lines.append(describe(label, timed[label]) + f"  GET {path}; other processes {cpu['other']:.0f} % CPU")
    browser.close()
    if busy:
        lines.append(common.BUSY_WARNING.strip())
    results_ms = max(statistics.median(timed[pages[0][0]]), statistics.median(timed[pages[1][0]]))
    return results_ms, statistics.median(timed[pages[2][0]]), lines


def profile_parts(app, data: Dataset, repeats: int = 3) -> list[str]:
    """In this process: where the HR pages' server time goes, step by step as the views run them.

    Each page is one request context (an open wave is counted once per request and kept in
    ``g``); the counting queries are timed one by one. Medians of ``repeats``.
    """
    from sqlalchemy import event, select

    from app.extensions import db
    from app.org.models import Department, Location
    from surveys import results
    from surveys.models import Survey, Wave

    with app.app_context():
        engine = db.engine
    # The server's collector settings (app/gunicorn_conf.py), so that the parts add up to its time.
    from app import gunicorn_conf

    gc.set_threshold(*gunicorn_conf.GC_THRESHOLD)
    gc.collect()
    gc.freeze()
    marks: list[tuple[float, str]] = []

    def mark(_conn, _cursor, statement, *_args):
        marks.append((time.perf_counter(), statement))

    def label(sql: str) -> str:
        sql = " ".join(sql.split())
        table = re.search(r"\bFROM (\w+)", sql)
        where = re.search(r"\bWHERE (.*?)(?: GROUP BY| ORDER BY| LIMIT|$)", sql)
        text = f"{table.group(1) if table else '?'}: {where.group(1) if where else ''}"
        return re.sub(r"\b\w+\.", "", text)[:70]

    def labels() -> dict:
        return {
            "departments": dict(db.session.execute(select(Department.id, Department.name)).all()),
            "locations": dict(db.session.execute(select(Location.id, Location.name)).all()),
        }

    def results_page(wave_id: int) -> list[tuple[str, float]]:
        """What ``hr_results`` computes for everyone (no group filter), step by step."""
        steps = []

        def step(name, fn):
            t0 = time.perf_counter()
            out = fn()
            steps.append((name, (time.perf_counter() - t0) * 1000))
            return out

        wave = db.session.get(Wave, wave_id)
        names = step("labels", labels)
        marks.clear()
        event.listen(engine, "before_cursor_execute", mark)
        try:
            step("cube_of (counting: the queries below)", lambda: results.cube_of(wave))
        finally:
            event.remove(engine, "before_cursor_execute", mark)
        ends = [t for t, _sql in marks[1:]] + [time.perf_counter()] if marks else []
        queries = [(f"  query {label(sql)}", (end - t) * 1000) for (t, sql), end in zip(marks, ends, strict=True)]
        result = step("wave_result (figures, heatmaps)", lambda: results.wave_result(wave, labels=names))
        step("free_texts", lambda: [
            results.free_texts(wave, r.question) for r in result.questions
            if r.question.kind in ("short_text", "long_text") and r.texts
        ])  # fmt: skip
        step("advocacy_insight", lambda: results.advocacy_insight(wave, names))
        return steps[:2] + (queries if len(queries) > 1 else []) + steps[2:]

    def trend_page() -> list[tuple[str, float]]:
        t0 = time.perf_counter()
        results.trend(db.session.get(Survey, data.survey_id))
        return [("trend (counts the open wave, reads 7 kept cubes)", (time.perf_counter() - t0) * 1000)]

    pages = [
        ("results, open wave", lambda: results_page(data.waves[-1])),
        ("results, closed wave", lambda: results_page(data.waves[-2])),
        ("trend", trend_page),
    ]
    lines = [f"where the time goes, in process, one request context per page (median of {repeats}):"]
    for title, fn in pages:
        runs = []
        for _ in range(repeats):
            with app.test_request_context("/"):
                runs.append(fn())
                db.session.rollback()
                db.session.remove()
        total = statistics.median(sum(ms for name, ms in run if not name.startswith("  ")) for run in runs)
        lines.append(f"  {title}: {total:.0f} ms")
        for i, (name, _ms) in enumerate(runs[0]):
            values = [run[i][1] for run in runs if i < len(run)]
            lines.append(f"    {name:<80} {statistics.median(values):8.1f} ms")
    return lines


# --------------------------------------------------------------------------- measure 2: submissions


@dataclass
class Person:
    uid: int
    email: str
    cookie: str = ""
    token: str = ""


def sign_in_people(port: int, people: list[Person], page: str) -> float:
    """Sign everyone in (16 threads): GET /login, POST /login, GET the answer page for its token."""
    queue = collections.deque(people)
    failures: list[str] = []
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue or failures:
                    return
                person = queue.popleft()
            browser = Browser(port)
            try:
                person.token = sign_in(browser, person.email, page)
            except Exception as exc:  # reported below
                with lock:
                    failures.append(f"{person.email}: {exc}")
                return
            finally:
                browser.close()
            person.cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())

    t0 = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError("sign-in failed: " + failures[0])
    return time.monotonic() - t0


def answers_for(person: Person, questions: list[tuple[int, str]], rng: random.Random) -> dict:
    form = {"csrf_token": person.token}
    for qid, kind in questions:
        if kind == "enps":
            form[f"q{qid}"] = str(rng.randint(0, 10))
        elif kind in ("likert", "rating"):
            form[f"q{qid}"] = str(rng.randint(1, 5))
        elif kind == "single":
            form[f"q{qid}"] = str(rng.randrange(len(SINGLE_OPTIONS)))
        else:
            form[f"q{qid}"] = rng.choice(TEXTS)
    return form


@dataclass
class Outcome:
    ok: int = 0
    other: collections.Counter = None  # status (or exception name) -> count
    latencies: list = None
    elapsed: float = 0.0
    cpu: dict = None
    people: list = None  # who got the thank-you page

    def __post_init__(self):
        self.other = self.other or collections.Counter()
        self.latencies = self.latencies if self.latencies is not None else []
        self.people = self.people if self.people is not None else []

    @property
    def errors(self) -> int:
        return sum(self.other.values())


def cpu_snapshot(server_pid: int) -> tuple:
    busy, total = common.system_cpu()
    server, database = common.process_cpu(server_pid)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return busy, total, server, database, me.ru_utime + me.ru_stime


def cpu_shares(before: tuple, after: tuple) -> dict:
    wall = max((after[1] - before[1]) / (os.cpu_count() or 1), 1e-9)
    busy, server, database, client = (after[i] - before[i] for i in (0, 2, 3, 4))
    return {
        "server": 100 * server / wall, "database": 100 * database / wall, "client": 100 * client / wall,
        "other": max(100 * (busy - server - database - client) / wall, 0.0),
        "idle": 100 * ((after[1] - before[1]) - busy) / wall,
    }  # fmt: skip


def submit_load(port: int, server_pid: int, wave_id: int, people: collections.deque, questions, seconds: float,
                rng: random.Random) -> Outcome:  # fmt: skip
    """16 threads POST complete answers for distinct people until ``seconds`` pass or the people run out."""
    out = Outcome()
    lock = threading.Lock()
    path, thanks = f"/surveys/{wave_id}", f"/surveys/{wave_id}/thanks"
    forms = {p.uid: answers_for(p, questions, rng) for p in people}
    deadline = time.perf_counter() + seconds

    def work():
        browser = Browser(port)
        mine, ok, other, thanked = [], 0, collections.Counter(), []
        while time.perf_counter() < deadline:
            with lock:
                if not people:
                    break
                person = people.popleft()
            t0 = time.perf_counter()
            try:
                status, location, _html = browser.request("POST", path, forms[person.uid], person.cookie, retry=False)
            except (http.client.HTTPException, OSError) as exc:
                other[type(exc).__name__] += 1
                continue
            mine.append((time.perf_counter() - t0) * 1000)
            if status == 302 and location.endswith(thanks):
                ok += 1
                thanked.append(person)
            else:
                other[status] += 1
        browser.close()
        with lock:
            out.ok += ok
            out.people.extend(thanked)
            out.other.update(other)
            out.latencies.extend(mine)

    before = cpu_snapshot(server_pid)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.elapsed = time.perf_counter() - t0
    out.cpu = cpu_shares(before, cpu_snapshot(server_pid))
    return out


def double_taps(port: int, wave_id: int, taps: list[Person], retries: list[Person], questions,
                rng: random.Random) -> tuple[collections.Counter, int]:  # fmt: skip
    """The same answers posted twice at once (two connections), and late retries of finished submissions."""
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()
    path, thanks = f"/surveys/{wave_id}", f"/surveys/{wave_id}/thanks"

    def post(person: Person, form: dict, barrier: threading.Barrier | None):
        browser = Browser(port)
        if barrier is not None:
            barrier.wait()
        try:
            status, location, _html = browser.request("POST", path, form, person.cookie, retry=False)
            key = "302 thanks" if status == 302 and location.endswith(thanks) else status
        except (http.client.HTTPException, OSError) as exc:
            key = type(exc).__name__
        browser.close()
        with lock:
            statuses[key] += 1

    started = 0
    for group in range(0, len(taps), CLIENTS // 2):
        threads = []
        for person in taps[group : group + CLIENTS // 2]:
            form, barrier = answers_for(person, questions, rng), threading.Barrier(2)
            threads += [threading.Thread(target=post, args=(person, form, barrier)) for _ in range(2)]
        for person in retries[group : group + CLIENTS // 2]:
            threads.append(threading.Thread(target=post, args=(person, answers_for(person, questions, rng), None)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        started += len(threads)
    return statuses, started


# --------------------------------------------------------------------------- measure 3: checks


def check_database(app, data: Dataset, submitted: set[int]) -> tuple[int, list[str], bool]:
    """Counts for the open wave; returns (duplicates, lines, all checks passed)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.gamification.models import PointBalance, PointEntry
    from surveys.models import Answer, Participation, Response

    wave = data.waves[-1]
    with app.app_context():

        def count(stmt) -> int:
            return db.session.scalar(stmt) or 0

        participations = count(select(func.count()).select_from(Participation).where(Participation.wave_id == wave))
        responses = count(select(func.count()).select_from(Response).where(Response.wave_id == wave))
        answers = count(select(func.count()).select_from(Answer).where(Answer.wave_id == wave))
        survey_entries = (PointEntry.reason == "survey", PointEntry.source_type == "survey_wave",
                          PointEntry.source_id == wave)  # fmt: skip
        entries = count(select(func.count()).select_from(PointEntry).where(*survey_entries))
        per_user = select(PointEntry.user_id).where(*survey_entries).group_by(PointEntry.user_id)
        doubled = count(select(func.count()).select_from(per_user.having(func.count() > 1).subquery()))
        entry_users = count(select(func.count()).select_from(per_user.subquery()))
        people = set(db.session.scalars(select(Participation.user_id).where(Participation.wave_id == wave)))
        missing = len(submitted - people)
        sums = (select(PointEntry.user_id, func.sum(PointEntry.delta).label("total"))
                .where(PointEntry.user_id.in_(sorted(submitted))).group_by(PointEntry.user_id).subquery())  # fmt: skip
        mismatched = count(
            select(func.count()).select_from(sums).join(PointBalance, PointBalance.user_id == sums.c.user_id)
            .where(PointBalance.balance != sums.c.total)
        )  # fmt: skip
        without_balance = len(submitted) - count(
            select(func.count()).select_from(PointBalance).where(PointBalance.user_id.in_(sorted(submitted)))
        )
        db.session.remove()
    new = participations - data.open_answered
    expected_answers = data.answers_open + len(data.questions) * new
    duplicates = max(responses - participations, 0) + doubled
    ok = (responses == participations == entries == entry_users and not doubled and not missing
          and answers == expected_answers and not mismatched and not without_balance)  # fmt: skip
    lines = [
        f"database, open wave: participations {participations:,} ({new:,} new, {len(submitted):,} people answered "
        f"302 to), responses {responses:,}, survey ledger entries {entries:,} for {entry_users:,} people "
        f"({doubled} people with more than one), answers {answers:,} (expected {expected_answers:,}: "
        f"{len(data.questions)} per new response)",
        f"  answered 302 without a participation: {missing}; balances != ledger sums: {mismatched}, without a "
        f"balance: {without_balance} (of the {len(submitted):,} who submitted)",
        f"  responses = participations = ledger entries: {'yes' if ok else 'NO'}; duplicates {duplicates}",
    ]
    return duplicates, lines, ok


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    parser.add_argument("--duration", type=float, help="seconds of submissions (default: 20 full, 5 small)")
    parser.add_argument("--people", type=int, help="at most this many employees answer (default: as needed)")
    parser.add_argument("--samples", type=int, default=10, help="timed requests per HR page")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="flask serve --workers")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (and database) for a look")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    duration = args.duration or scale.duration

    for line in common.machine_lines():
        log(line)
    log(f"load average at start: {loadavg()}")
    instance = common.Instance("sqlite" if args.db == "sqlite" else "postgresql", "surveys")
    server: Serve | None = None
    rng = random.Random()
    failed = False
    try:
        anchor = datetime.now(UTC)
        log(f"dataset ({args.db}, {args.scale}): {scale.employees:,} employees in {scale.departments} departments "
            f"and {len(LOCATIONS)} locations; {WAVES} waves ({WAVES - 1} closed with {scale.per_wave:,} responses "
            f"each, 1 open with {scale.open_answered:,}); 15 questions")  # fmt: skip
        data = build(instance, scale, anchor)

        from app import create_app

        app = create_app()
        server = Serve(instance, args.workers)
        server.start()
        log(f"server: flask --app wsgi serve --workers {args.workers} (gunicorn gthread, 4 threads per worker, "
            f"task consumer, click ingester); HERALD_LOGIN_RATE_LIMIT={LOGIN_LIMIT!r}")  # fmt: skip

        common.settle()
        log(f"load average before the HR pages: {loadavg()}")
        results_ms, trend_ms, lines = measure_pages(server.port, server.proc.pid, data, args, args.workers)
        for line in lines:
            log(line)
        for line in profile_parts(app, data):
            log(line)

        # People who have not answered the open wave, signed in through the real form.
        from sqlalchemy import select

        from app.accounts.models import User
        from app.extensions import db
        from surveys.models import Participation

        wave_id = data.waves[-1]
        with app.app_context():
            answered = select(Participation.user_id).where(Participation.wave_id == wave_id)
            pool = list(db.session.execute(
                select(User.id, User.email).where(User.status == "active", User.id != 1, User.id.not_in(answered))
            ).all())  # fmt: skip
            db.session.remove()
        rng.shuffle(pool)
        if args.people:
            pool = pool[: args.people]
        page = f"/surveys/{wave_id}"
        taps = [Person(uid, email) for uid, email in pool[:DOUBLE_TAPS]]
        warmup = collections.deque(Person(uid, email) for uid, email in pool[DOUBLE_TAPS : DOUBLE_TAPS + WARMUP_PEOPLE])
        pool = pool[DOUBLE_TAPS + WARMUP_PEOPLE :]
        took = sign_in_people(server.port, [*taps, *warmup], page)
        log(f"signed in {len(taps) + len(warmup):,} employees who have not answered the open wave "
            f"(GET /login, POST /login, GET {page}) in {took:.1f} s, {CLIENTS} threads")  # fmt: skip

        first = submit_load(server.port, server.proc.pid, wave_id, warmup, data.questions, WARMUP_SECONDS, rng)
        # Enough people for the timed run at half as fast again as the warm-up went (the pool permitting).
        needed = min(len(pool), int(max(first.ok / first.elapsed, 100.0) * duration * 1.5) + CLIENTS)
        people = [Person(uid, email) for uid, email in pool[:needed]]
        took = sign_in_people(server.port, people, page)
        log(f"warm-up: {first.ok} submissions in {first.elapsed:.1f} s, other answers {dict(first.other) or 0}; "
            f"signed in {len(people):,} more of the {len(pool):,} left in {took:.1f} s")  # fmt: skip
        people = collections.deque(people)
        common.wait_idle(server.proc.pid, limit=20)
        common.settle()
        log(f"load average before the submissions: {loadavg()}")
        planned = len(people)
        done = submit_load(server.port, server.proc.pid, wave_id, people, data.questions, duration, rng)
        ran_out = not people
        lat = done.latencies
        rate = done.ok / done.elapsed if done.elapsed else 0.0
        p95 = pct(lat, 95) if lat else float("nan")
        cpu = done.cpu
        log(f"POST /surveys/{wave_id} (15 answers, participation, points), {CLIENTS} client threads, "
            f"{done.elapsed:.1f} s{' (ran out of signed-in people)' if ran_out else ''}: "
            f"{done.ok:,} x 302 to thanks = {rate:,.0f}/s; latency p50 {pct(lat, 50):.1f} ms, p90 {pct(lat, 90):.1f} "
            f"ms, p95 {p95:.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms; other answers "
            f"{dict(done.other) or 0} ({planned - len(people) if not ran_out else planned:,} people used)")  # fmt: skip
        log(f"  CPU during the run (of {(os.cpu_count() or 1) * 100} %): server {cpu['server']:.0f} %"
            + (f", PostgreSQL {cpu['database']:.0f} %" if cpu["database"] >= 0.5 else "")
            + f", clients {cpu['client']:.0f} %, other processes {cpu['other']:.0f} %, idle {cpu['idle']:.0f} %"
            + (common.BUSY_WARNING if cpu["other"] > 15 else ""))  # fmt: skip

        retries = rng.sample(done.people, min(RETRIES, len(done.people)))
        statuses, sent = double_taps(server.port, wave_id, taps, retries, data.questions, rng)
        tap_errors = sum(n for k, n in statuses.items() if k != "302 thanks")
        log(f"double taps: {len(taps)} people posted twice at once, {len(retries)} finished ones posted again: "
            f"{sent} requests, answers {dict(statuses)}")  # fmt: skip
        errors = first.errors + done.errors + tap_errors

        server.stop()
        server = None
        used = {p.uid for p in taps} | {p.uid for p in first.people} | {p.uid for p in done.people}
        duplicates, lines, ok = check_database(app, data, used)
        for line in lines:
            log(line)
        failed = not ok or errors > 0

        def verdict(good: bool) -> str:
            return "met" if good else "MISSED"

        log(f"load average at the end: {loadavg()}")
        log(f"targets: results {results_ms:.0f} ms <= {TARGET_RESULTS_MS:g} "
            f"{verdict(results_ms <= TARGET_RESULTS_MS)}; "
            f"trend {trend_ms:.0f} ms <= {TARGET_TREND_MS:g} {verdict(trend_ms <= TARGET_TREND_MS)}; "
            f"{rate:.0f} submissions/s >= {TARGET_SUBMITS:g} {verdict(rate >= TARGET_SUBMITS)}; "
            f"p95 {p95:.1f} ms <= {TARGET_SUBMIT_P95_MS:g} {verdict(p95 <= TARGET_SUBMIT_P95_MS)}; "
            f"duplicates {duplicates} {verdict(duplicates == 0)}; errors {errors} {verdict(errors == 0)}")  # fmt: skip
        log(f"surveys results_ms={results_ms:.0f} trend_ms={trend_ms:.0f} submits_per_s={rate:.0f} "
            f"submit_p95_ms={p95:.1f} duplicates={duplicates}")  # fmt: skip
    except Exception:
        if server is not None:
            log(server.log_tail())
        raise
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept: {instance.tmp} ({instance.url})")
        else:
            instance.close()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
