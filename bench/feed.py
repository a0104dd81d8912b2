"""Benchmark the feed page of a signed-in employee with 5,000 posts in the library, driven by wrk.

    .venv/bin/python bench/feed.py --db sqlite|postgres --duration 10

Signs one employee in through the real form (GET /login, CSRF token, POST),
then runs wrk at 16 connections against ``/feed`` with that session cookie.
The last line is ``feed pages_per_s=… p95_ms=…``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import log  # noqa: E402
from bench.redirect import DEFAULT_THREADS, FIRST, LAST, WORDS  # noqa: E402

POSTS = 5_000
USERS = 200
DEPARTMENTS = ("Engineering", "Marketing", "Sales", "Customer Success", "Finance")
LOCATIONS = (("Warsaw", "Europe/Warsaw"), ("Berlin", "Europe/Berlin"), ("New York", "America/New_York"))
CAMPAIGNS = 12
SHARES = 4_000
LIKES = 6_000
EMAIL = "employee@bench.example"
PASSWORD = "bench-password-not-secret"  # noqa: S105
CONNECTIONS = 16

LUA_FEED = r"""
wrk.headers["User-Agent"] = __UA__
wrk.headers["Cookie"] = __COOKIE__
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-US,en;q=0.9"

function init(args)
  init_counters()
end
"""


def generate(engine) -> None:
    """5 departments, 200 users, 5,000 published posts with 2 captions each, audiences, shares and likes."""
    from werkzeug.security import generate_password_hash

    from app import models as m
    from bench.common import bulk_insert, fix_sequences

    rng = random.Random(5000)
    now = datetime.now(UTC)
    password = generate_password_hash(PASSWORD)
    with engine.begin() as conn:
        common.insert_org(conn, DEPARTMENTS, LOCATIONS, now)
        users = []
        for uid in range(1, USERS + 1):
            users.append({
                "id": uid, "email": EMAIL if uid == 1 else f"user{uid}@bench.example",
                "display_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "department_id": 1 if uid == 1 else (uid % len(DEPARTMENTS)) + 1,
                "location_id": 1 if uid == 1 else rng.randint(1, len(LOCATIONS)), "timezone": "Europe/Warsaw",
                "locale": "en", "avatar_path": None, "password_hash": password if uid == 1 else None,
                "status": "active", "is_demo": False, "session_version": 1, "created_at": now - timedelta(days=400),
                "activated_at": now - timedelta(days=400), "deactivated_at": None, "last_login_at": None,
            })  # fmt: skip
        bulk_insert(conn, m.User, users)
        roles = [{"user_id": u["id"], "role": "employee"} for u in users] + [{"user_id": 2, "role": "admin"}]
        bulk_insert(conn, m.UserRole, roles)
        kinds = ["share", "cta", "ab_test"]
        campaigns = [
            {"id": i, "name": f"Campaign {i}", "slug": f"campaign-{i}", "kind": kinds[i % 3], "description": "",
             "goal_metric": "shares", "goal_target": 500, "starts_at": None, "ends_at": now + timedelta(days=30),
             "created_at": now}
            for i in range(1, CAMPAIGNS + 1)
        ]  # fmt: skip
        bulk_insert(conn, m.Campaign, campaigns)
        posts, captions, post_departments, post_locations = [], [], [], []
        for pid in range(1, POSTS + 1):
            title = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize()
            slug = f"{'-'.join(title.lower().split()[:4])}-{pid}"
            campaign = rng.randint(1, CAMPAIGNS) if rng.random() < 0.3 else None
            audience = rng.random()
            audience_all = audience < 0.8
            if 0.8 <= audience < 0.95:  # one or two departments
                for dept in rng.sample(range(1, len(DEPARTMENTS) + 1), rng.randint(1, 2)):
                    post_departments.append({"post_id": pid, "department_id": dept})
            elif audience >= 0.95:  # one location
                post_locations.append({"post_id": pid, "location_id": rng.randint(1, len(LOCATIONS))})
            is_cta = rng.random() < 0.1
            has_image = rng.random() < 0.6
            posts.append({
                "id": pid, "title": title,
                "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))).capitalize() + ".",
                "url": f"https://news.example.com/{slug}", "slug": slug, "source": rng.choice(("manual", "url", "rss")),
                "source_name": "news.example.com",
                "image_path": f"posts/{pid}.webp" if has_image else None,
                "preview_path": f"posts/{pid}-preview.webp" if has_image else None,
                "hashtags": "#news #company #" + rng.choice(WORDS), "language": "en", "campaign_id": campaign,
                "audience_all": audience_all, "status": "published",
                "publish_at": now - timedelta(minutes=rng.randint(5, 365 * 24 * 60)),
                "expire_at": now + timedelta(days=rng.randint(1, 60)) if rng.random() < 0.1 else None,
                "pinned": pid <= 3, "is_cta": is_cta,
                "cta_deadline": now + timedelta(days=rng.randint(1, 14)) if is_cta and rng.random() < 0.5 else None,
                "share_count": 0, "click_count": rng.randint(0, 400), "like_count": 0,
                "comment_count": rng.randint(0, 12), "created_by_id": 2,
                "created_at": now - timedelta(days=370), "updated_at": now - timedelta(days=370),
            })  # fmt: skip
            ab = campaign is not None and campaigns[campaign - 1]["kind"] == "ab_test"
            captions.append({"post_id": pid, "network": "generic", "variant": "A",
                             "text": "Have a look, {first_name} here: {title} {hashtags} {link}"})  # fmt: skip
            captions.append({"post_id": pid, "network": "generic" if ab else "linkedin", "variant": "B" if ab else "A",
                             "text": "{title}: proud of the team. {hashtags} {link}"})  # fmt: skip
        # The employee's feed: a few of the newest everyone-posts are shared and liked by them.
        newest = sorted((p for p in posts if p["audience_all"]), key=lambda p: p["publish_at"], reverse=True)[:12]
        bulk_insert(conn, m.Post, posts)
        bulk_insert(conn, m.Caption, captions)
        bulk_insert(conn, m.PostDepartment, post_departments)
        bulk_insert(conn, m.PostLocation, post_locations)
        triples = {(p["id"], 1, net) for p in newest[:4] for net in ("linkedin", "copy")}
        while len(triples) < SHARES:
            triples.add(
                (rng.randint(1, POSTS), rng.randint(1, USERS), rng.choice(("linkedin", "x", "whatsapp", "copy")))
            )
        links, shares, share_counts = [], [], {}
        for lid, (pid, uid, net) in enumerate(sorted(triples), start=1):
            when = now - timedelta(minutes=rng.randint(1, 60 * 24 * 60))
            links.append({"id": lid, "code": f"f{lid:09d}", "post_id": pid, "user_id": uid, "network": net,
                          "variant": "A", "enabled": True, "click_count": 0, "created_at": when})  # fmt: skip
            shares.append({"id": lid, "post_id": pid, "user_id": uid, "network": net, "link_id": lid, "variant": "A",
                           "times": 1, "created_at": when, "last_shared_at": when})  # fmt: skip
            share_counts[pid] = share_counts.get(pid, 0) + 1
        bulk_insert(conn, m.TrackedLink, links)
        bulk_insert(conn, m.Share, shares)
        likes = {(p["id"], 1) for p in newest[:6:2]}
        while len(likes) < LIKES:
            likes.add((rng.randint(1, POSTS), rng.randint(1, USERS)))
        like_counts = {}
        for pid, _uid in likes:
            like_counts[pid] = like_counts.get(pid, 0) + 1
        bulk_insert(conn, m.PostLike, [{"post_id": p, "user_id": u, "created_at": now} for p, u in likes])
        from sqlalchemy import bindparam, update

        table = m.Post.__table__
        counts = [
            {"pid": pid, "shares": share_counts.get(pid, 0), "likes": like_counts.get(pid, 0)}
            for pid in set(share_counts) | set(like_counts)
        ]
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("pid"))
            .values(share_count=bindparam("shares"), like_count=bindparam("likes")),
            counts,
        )
        fix_sequences(conn, [m.Department, m.Location, m.User, m.Campaign,
                             m.Post, m.TrackedLink, m.Share])  # fmt: skip


# --------------------------------------------------------------------------- sign-in


def sign_in(port: int) -> str:
    """Sign in through the form like a browser; return the Cookie header value."""
    return common.sign_in(port, EMAIL, PASSWORD, "/feed", 'class="card post-card"')


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: cores)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="gthread threads per worker")
    args = parser.parse_args()

    common.ensure_tools(need_nginx=False)
    for line in common.machine_lines():
        log(line)
    instance = common.Instance("sqlite" if args.db == "sqlite" else "postgresql", "feed")
    server: common.Gunicorn | None = None
    try:
        t0 = time.monotonic()
        how = instance.prepare("feed-5000", generate)
        log(
            f"dataset ({args.db}): {USERS} users in {len(DEPARTMENTS)} departments, {POSTS:,} published posts "
            f"(2 captions each, ~80 % for everyone), {SHARES:,} shares, {LIKES:,} likes; "
            f"{how} in {time.monotonic() - t0:.1f} s"
        )
        server = common.Gunicorn(instance, args.workers, args.threads)
        server.start()
        log(f"server: {' '.join(server.argv)}")
        cookie = sign_in(server.port)
        names = ", ".join(c.split("=")[0] for c in cookie.split("; "))
        log(f"signed in as {EMAIL} through POST /login (cookies: {names})")
        script = instance.tmp / "feed.lua"
        script.write_text(
            common.LUA_COMMON
            + LUA_FEED.replace("__UA__", common.lua_string(common.BROWSER_UA)).replace(
                "__COOKIE__", common.lua_string(cookie)
            )
        )
        url = server.base + "/feed"
        common.settle()
        common.run_wrk(url, script, CONNECTIONS, 2)  # warm-up: imports, template compilation, caches
        common.wait_idle(server.proc.pid)
        ingester = server.ingester.pid if server.ingester else None
        result = common.run_wrk(url, script, CONNECTIONS, args.duration, server.proc.pid, ingester_pid=ingester)
        log(result.line(f"GET /feed c{CONNECTIONS} ({args.duration:g} s)", ok_label="200"))
        log(result.cpu_line())
        pages = result["c2xx"] / (result["duration_us"] / 1e6)
        if result["c2xx"] != result["requests"] or result.socket_errors:
            log(f"warning: {result['requests'] - result['c2xx']} answers were not 200, {result.socket_errors} errors")
        log(f"page size: {result['bytes'] / max(result['requests'], 1) / 1024:.1f} KiB")
        log(f"feed pages_per_s={pages:.0f} p95_ms={result.ms('p95'):.1f}")
    finally:
        if server is not None:
            server.stop()
        instance.close()


if __name__ == "__main__":
    main()
