"""Benchmark ``/r/<code>``: gunicorn (workers = cores, gthread) against 100,000 tracked links, driven by wrk.

    .venv/bin/python bench/redirect.py --db sqlite|postgres --duration 10 [--links 100000]

Runs wrk at 64 and then 16 connections with a random code and a phone browser's
user agent per request, waits for the click flusher, checks that every 302 wrk
received became a Click row, then measures nginx answering a static
``return 302`` with the same wrk settings. The last line is
``redirect rps_c64=… p99_ms_c16=… errors=… lost_clicks=… nginx_rps=…``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import log  # noqa: E402

# gthread threads per worker. Measured on the 2-core machine (see bench/README.md): 1 thread gives the
# best throughput and tail latency for this CPU-bound path; more threads only add GIL hand-offs.
DEFAULT_THREADS = 1
USERS = 500
POSTS = 2_000
CAMPAIGNS = 20
DEPARTMENTS = ("Engineering", "Marketing", "Sales", "Customer Success", "People & Culture", "Finance")
LOCATIONS = (("Warsaw", "Europe/Warsaw"), ("Berlin", "Europe/Berlin"), ("New York", "America/New_York"))
FIRST = ("Ola", "Piotr", "Anna", "Marek", "Zofia", "Jan", "Lena", "Jonas", "Mia", "Felix", "Priya", "Kenji", "Amara")
LAST = ("Nowak", "Kowalska", "Müller", "Schmidt", "Johnson", "Garcia", "Chen", "Okafor", "Patel", "Rossi", "Silva")
WORDS = [
    "quarterly", "results", "growth", "hiring", "remote", "engineering", "launch", "customer", "story", "award",
    "sustainability", "product", "update", "partnership", "conference", "keynote", "webinar", "report", "security",
    "cloud", "data", "team", "culture", "office", "opening",
]  # fmt: skip
CODE_ALPHABET = string.ascii_letters + string.digits
NETWORKS = ("linkedin", "x", "facebook", "whatsapp", "email", "copy", "native")

LUA_REDIRECT = r"""
local codes_path = __CODES__
local ua = __UA__
local codes = {}
local ncodes = 0
local variants = {}

function init(args)
  init_counters()
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for line in io.lines(codes_path) do
    ncodes = ncodes + 1
    codes[ncodes] = line
  end
  -- Where clicks come from: LinkedIn, X, Facebook, a search engine, or apps that send no Referer.
  local refs = {"https://www.linkedin.com/", "https://t.co/", "https://m.facebook.com/", "https://www.google.com/",
                false}
  for i, ref in ipairs(refs) do
    local h = {
      ["User-Agent"] = ua,
      ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
      ["Accept-Language"] = "en-US,en;q=0.9",
      ["Accept-Encoding"] = "gzip, deflate, br",
    }
    if ref then h["Referer"] = ref end
    variants[i] = h
  end
end

function request()
  return wrk.format("GET", "/r/" .. codes[math.random(ncodes)], variants[math.random(#variants)])
end
"""


# --------------------------------------------------------------------------- dataset


def generate(engine, links: int) -> None:
    """~500 users, ~2,000 published posts, ``links`` tracked links (each with its share), Core bulk inserts."""
    from werkzeug.security import generate_password_hash

    from app import models as m
    from bench.common import bulk_insert, fix_sequences

    rng = random.Random(20261128)
    now = datetime.now(UTC)
    password = generate_password_hash("bench-password-not-secret")
    with engine.begin() as conn:
        common.insert_org(conn, DEPARTMENTS, LOCATIONS, now)
        users = []
        for uid in range(1, USERS + 1):
            users.append({
                "id": uid, "email": f"user{uid}@bench.example",
                "display_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "department_id": rng.randint(1, len(DEPARTMENTS)), "location_id": rng.randint(1, len(LOCATIONS)),
                "timezone": "UTC", "locale": "en", "avatar_path": None, "password_hash": password if uid == 1 else None,
                "status": "active", "is_demo": False, "session_version": 1, "created_at": now - timedelta(days=400),
                "activated_at": now - timedelta(days=400), "deactivated_at": None, "last_login_at": None,
            })  # fmt: skip
        bulk_insert(conn, m.User, users)
        bulk_insert(conn, m.UserRole, [{"user_id": u["id"], "role": "employee"} for u in users])
        bulk_insert(conn, m.Campaign, [
            {"id": i, "name": f"Campaign {i}", "slug": f"campaign-{i}", "kind": rng.choice(("share", "cta", "ab_test")),
             "description": "", "goal_metric": "clicks", "goal_target": 1000, "starts_at": None, "ends_at": None,
             "created_at": now}
            for i in range(1, CAMPAIGNS + 1)
        ])  # fmt: skip
        posts, captions = [], []
        for pid in range(1, POSTS + 1):
            title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
            slug = f"{'-'.join(title.lower().split()[:4])}-{pid}"
            query = rng.choice(("", "", "?ref=newsroom", "?lang=en&src=web"))
            posts.append({
                "id": pid, "title": title, "body": f"{title}. " * 4, "url": f"https://news.example.com/{slug}{query}",
                "slug": slug, "source": "manual", "source_name": "news.example.com", "image_path": None,
                "preview_path": None, "hashtags": "#news #company", "language": "en",
                "campaign_id": rng.randint(1, CAMPAIGNS) if rng.random() < 0.3 else None, "audience_all": True,
                "status": "published", "publish_at": now - timedelta(minutes=rng.randint(10, 180 * 24 * 60)),
                "expire_at": None, "pinned": False, "is_cta": False, "cta_deadline": None, "share_count": 0,
                "click_count": 0, "like_count": 0, "comment_count": 0, "created_by_id": 1,
                "created_at": now - timedelta(days=200), "updated_at": now - timedelta(days=200),
            })  # fmt: skip
            captions.append({"post_id": pid, "network": "generic", "variant": "A", "text": "{title} {link}"})
            captions.append({"post_id": pid, "network": "linkedin", "variant": "A", "text": "Proud of this: {link}"})
        bulk_insert(conn, m.Post, posts)
        bulk_insert(conn, m.Caption, captions)
        codes: set[str] = set()
        triples: set[tuple[int, int, str]] = set()
        link_rows, share_rows = [], []
        while len(link_rows) < links:
            triple = (rng.randint(1, POSTS), rng.randint(1, USERS), rng.choice(NETWORKS))
            code = "".join(rng.choices(CODE_ALPHABET, k=10))
            if triple in triples or code in codes:
                continue
            triples.add(triple)
            codes.add(code)
            lid = len(link_rows) + 1
            when = now - timedelta(minutes=rng.randint(1, 90 * 24 * 60))
            link_rows.append({
                "id": lid, "code": code, "post_id": triple[0], "user_id": triple[1], "network": triple[2],
                "variant": "A", "enabled": True, "click_count": 0, "created_at": when,
            })  # fmt: skip
            share_rows.append({
                "id": lid, "post_id": triple[0], "user_id": triple[1], "network": triple[2], "link_id": lid,
                "variant": "A", "times": 1, "created_at": when, "last_shared_at": when,
            })  # fmt: skip
        bulk_insert(conn, m.TrackedLink, link_rows)
        bulk_insert(conn, m.Share, share_rows)
        fix_sequences(conn, [m.Department, m.Location, m.User, m.Campaign,
                             m.Post, m.TrackedLink, m.Share])  # fmt: skip


def write_codes(instance: common.Instance, path: Path) -> int:
    from sqlalchemy import text

    with instance.engine.connect() as conn:
        codes = conn.execute(text("SELECT code FROM tracked_link WHERE enabled ORDER BY id")).scalars().all()
    path.write_text("\n".join(codes) + "\n")
    return len(codes)


# --------------------------------------------------------------------------- clicks


def spooled_lines(instance: common.Instance) -> int:
    total = 0
    for path in (instance.folder / "spool").glob("clicks-*"):
        with contextlib.suppress(OSError):  # renamed under us by a flusher
            total += path.read_bytes().count(b"\n")
    return total


def wait_ingested(instance: common.Instance, expected: int, limit: float = 30.0) -> tuple[int, int, float]:
    """Poll the Click count until it is stable with an empty spool (or ``limit`` s); (clicks, spooled, seconds)."""
    start = time.monotonic()
    last, stable_since = -1, time.monotonic()
    while True:
        clicks = instance.scalar("SELECT COUNT(*) FROM click")
        pending = spooled_lines(instance)
        now = time.monotonic()
        if clicks != last:
            last, stable_since = clicks, now
        if pending == 0 and (clicks >= expected or now - stable_since >= 3.0):
            return clicks, pending, now - start
        if now - start >= limit:
            return clicks, pending, now - start
        time.sleep(0.25)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: cores)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="gthread threads per worker")
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx reference")
    parser.add_argument("--ingest-wait", type=float, default=600.0, help="seconds to wait for the spool to drain")
    args = parser.parse_args()

    common.ensure_tools(need_nginx=not args.no_nginx)
    for line in common.machine_lines():
        log(line)
    instance = common.Instance("sqlite" if args.db == "sqlite" else "postgresql", "redirect")
    server: common.Gunicorn | None = None
    nginx: common.Nginx | None = None
    try:
        t0 = time.monotonic()
        how = instance.prepare(f"redirect-{args.links}", lambda engine: generate(engine, args.links))
        codes_path = instance.tmp / "codes.txt"
        n_codes = write_codes(instance, codes_path)
        log(
            f"dataset ({args.db}): {USERS} users, {POSTS} published posts, {n_codes:,} tracked links; "
            f"{how} in {time.monotonic() - t0:.1f} s"
        )
        script = instance.tmp / "redirect.lua"
        script.write_text(
            common.LUA_COMMON
            + LUA_REDIRECT.replace("__CODES__", common.lua_string(str(codes_path))).replace(
                "__UA__", common.lua_string(common.BROWSER_UA)
            )
        )
        server = common.Gunicorn(instance, args.workers, args.threads)
        server.start()
        log(f"server: {' '.join(server.argv)}")
        log(f"wrk: {common.WRK_THREADS} threads, random code per request, User-Agent: {common.BROWSER_UA}")
        url = server.base + "/"
        common.settle()
        pid = server.proc.pid
        ingester = server.ingester.pid if server.ingester else None
        warm = common.run_wrk(url, script, 16, 2, pid, ingester_pid=ingester)
        common.wait_idle(pid, done=lambda: spooled_lines(instance) == 0)
        c64 = common.run_wrk(url, script, 64, args.duration, pid, ingester_pid=ingester)
        log(c64.line(f"herald c64 ({args.duration:g} s)"))
        log(c64.cpu_line())
        # Each run starts on an idle server: the flushers first ingest the clicks the last run left behind.
        backlog = spooled_lines(instance)
        waited = common.wait_idle(pid, done=lambda: spooled_lines(instance) == 0)
        log(f"  {backlog:,} clicks were still spooled at the end; ingesting them took {waited:.1f} s more")
        c16 = common.run_wrk(url, script, 16, args.duration, pid, ingester_pid=ingester)
        log(c16.line(f"herald c16 ({args.duration:g} s)"))
        log(c16.cpu_line())
        runs = (warm, c64, c16)
        answered = sum(r["c302"] for r in runs)
        errors = sum(r["requests"] - r["c302"] + r.socket_errors for r in runs)
        clicks, pending, waited = wait_ingested(instance, answered, args.ingest_wait)
        lost = max(answered - clicks, 0)
        note = ""
        if clicks > answered:
            note = f"; {clicks - answered} more rows than 302s (requests in flight when wrk stopped)"
        elif pending:
            note = f"; {pending:,} lines still in the spool files (ingestion lags behind)"
        log(
            f"clicks: {answered:,} x 302 seen by wrk (incl. a 2 s warm-up), {clicks:,} Click rows after "
            f"{waited:.1f} s of waiting; lost_clicks {lost}{note}"
        )
        server.stop()
        server = None

        nginx_rps = None
        if not args.no_nginx and common.nginx_binary():
            nginx = common.Nginx(instance.tmp)
            nginx.start()
            common.settle()
            ref = common.run_wrk(f"http://127.0.0.1:{nginx.port}/", script, 64, args.duration, nginx.proc.pid)
            nginx.stop()
            nginx = None
            log(ref.line(f"nginx return 302 c64 ({args.duration:g} s)"))
            log(ref.cpu_line())
            nginx_rps = ref.rps
            log(f"herald / nginx at 64 connections: {c64.rps / nginx_rps:.3f} ({100 * c64.rps / nginx_rps:.1f} %)")
        else:
            log("nginx: skipped (--no-nginx)" if args.no_nginx else "nginx: not installed, no reference")
        log(
            f"redirect rps_c64={c64.rps:.0f} p99_ms_c16={c16.ms('p99'):.1f} errors={errors} lost_clicks={lost} "
            f"nginx_rps={f'{nginx_rps:.0f}' if nginx_rps else 'na'}"
        )
    finally:
        if server is not None:
            if server.proc is not None and server.proc.poll() is not None:
                log(server.log_tail())
            server.stop()
        if nginx is not None:
            nginx.stop()
        instance.close()


if __name__ == "__main__":
    main()
