"""Benchmark analytics: the admin dashboard, content performance, exports and daily roll-ups on a year of data.

    .venv/bin/python bench/analytics.py --db sqlite|postgres [--scale small|full] [--samples 10] [--rebuild]

Dataset (full): one year up to now for 10,000 employees in 50 departments and 10 locations
(people invited, activated and deactivated over time, a third who never share, a long tail of
heavy sharers): 5,000 posts (some in campaigns, four of them caption A/B tests), 200,000
shares, each with its tracked link, and 2,000,000 clicks that follow the shares over the next
hours and days (about 10 % not unique: a visitor coming back the same day, a few crawlers and
sharers clicking their own links), 150,000 likes, 25,000 comments, 4,000 conversions and a
year of monthly business figures. The last day is today (UTC), with a full day's volume
squeezed into the hours so far. small: 1/20 of it (500 employees, 250 posts, 10,000 shares,
100,000 clicks). Rows go straight into the tables (executemany on SQLite, COPY on
PostgreSQL), then ``app.analytics.rollups.rebuild`` rolls up every day before today. The
result is cached per scale and UTC day: ``bench/.cache/analytics-<scale>.db`` and the
PostgreSQL template database ``herald_bench_analytics_<scale>``; ``--rebuild`` generates again.

1. ``rollup_ms``: ``rollups.rebuild(day, day)`` (commit included) for the day whose click count
   is closest to 5,500, in this process; the median of ``--rollup-runs``.
2. Under ``flask serve --no-tasks`` (gunicorn with the recommended settings; no periodic roll-up
   or report e-mail during the measurement), an admin signs in through the password form;
   sequential requests from one client on a kept-alive connection: the first (cold) request of
   each page, then ``--samples`` after a warm-up, the median. ``dashboard_ms``:
   ``/admin/analytics?period=quarter``; ``content_ms``: ``/admin/analytics/content?period=quarter``;
   ``export_ms``: the slowest median of ``/admin/analytics/export/<table>.xlsx|csv?period=quarter``
   over every table.
3. Checks (a failure exits with 1): every page and export answers 200 with a body of its type;
   the kpis CSV's shares and unique clicks for the quarter (and the previous period) equal a
   COUNT over the raw ``share`` and ``click`` rows of the same UTC days; the XLSX holds the same.
4. Where the time goes, in this process: each step of the dashboard and content computations
   (inclusive time, SQL time), and today's live computation (``compute_day``, once a minute per
   worker). ``--profile`` adds pyinstrument's call tree.

The last line is ``analytics dashboard_ms=… content_ms=… export_ms=… rollup_ms=…``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import log  # noqa: E402
from bench.leaderboard import DEPT_NAMES, FIRST, LAST, Sink, pct  # noqa: E402
from bench.surveys import LOGIN_LIMIT, PASSWORD_METHOD, Serve, csrf_of, loadavg  # noqa: E402


@dataclass(frozen=True)
class Scale:
    employees: int
    departments: int
    locations: int
    posts: int
    shares: int
    clicks: int
    likes: int
    comments: int
    conversions: int
    campaigns: int
    ab_tests: int


SCALES = {
    "small": Scale(500, 10, 5, 250, 10_000, 100_000, 7_500, 1_250, 200, 8, 2),
    "full": Scale(10_000, 50, 10, 5_000, 200_000, 2_000_000, 150_000, 25_000, 4_000, 60, 4),
}
GENERATOR = 2  # part of the cache key: bump when the dataset changes
LOCATIONS = (
    ("Warsaw", "Europe/Warsaw"), ("Berlin", "Europe/Berlin"), ("London", "Europe/London"),
    ("New York", "America/New_York"), ("Singapore", "Asia/Singapore"), ("Kraków", "Europe/Warsaw"),
    ("Dublin", "Europe/Dublin"), ("Lisbon", "Europe/Lisbon"), ("Austin", "America/Chicago"),
    ("Bangalore", "Asia/Kolkata"),
)  # fmt: skip
NETWORKS = ("linkedin", "x", "facebook", "whatsapp", "email", "copy", "native")
NETWORK_SHARE_P = (0.42, 0.10, 0.16, 0.10, 0.08, 0.09, 0.05)
NETWORK_CLICKS = (1.4, 0.7, 1.0, 1.3, 0.8, 1.0, 0.9)  # clicks a share brings, relative
REFERRERS = ("www.linkedin.com", "t.co", "l.facebook.com", "", "", "", "")
# Hour of the day (UTC) people share and visitors click: working hours, a lunch bump, quiet nights.
SHARE_HOURS = (0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 1.0, 0.9, 0.8, 0.7, 0.9, 0.8, 0.7, 0.6, 0.6, 0.5,
               0.3, 0.25, 0.2, 0.15, 0.08, 0.04)  # fmt: skip
CLICK_HOURS = (0.2, 0.15, 0.12, 0.1, 0.1, 0.15, 0.3, 0.55, 0.8, 0.9, 0.95, 1.0, 1.0, 0.95, 0.9, 0.9, 0.85, 0.8,
               0.8, 0.75, 0.7, 0.6, 0.45, 0.3)  # fmt: skip
BOTS = 0.03
SELF = 0.01
REPEAT = 0.075  # a visitor coming back to the same link the same day: not unique
ELSEWHERE = 0.15  # a visitor of the day who also opens another link (reach < unique clicks)
AB_LIFTS = (1.35, 1.0, 0.85, 1.12)  # B's clicks per share against A's, per A/B campaign
ADMIN_EMAIL = "admin@bench.example"
PASSWORD = "bench-password-not-secret"  # noqa: S105
TYPICAL_CLICKS = 5_500
TARGET_DASHBOARD_MS = 250.0
TARGET_CONTENT_MS = 250.0
TARGET_EXPORT_MS = 2_000.0
TARGET_ROLLUP_MS = 2_000.0
EXPORTS = ("kpis", "daily", "networks", "funnel", "top_shares", "top_clicks", "conversions", "posts", "campaigns",
           "business", "satisfaction", "content_posts", "content_networks", "content_campaigns", "content_ab",
           "content_times")  # fmt: skip
COMMENTS = ("Great read!", "Sharing this with my network.", "Proud of the team.", "Congratulations to everyone.",
            "Very useful, thanks.", "We are hiring, tell your friends!", "Love this.", "Nice one.")  # fmt: skip
TOPICS = ("product launch", "hiring update", "customer story", "engineering blog", "award", "event recap",
          "quarterly results", "office opening", "partnership", "sustainability report", "webinar",
          "case study")  # fmt: skip
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
CHUNK = 200_000


# --------------------------------------------------------------------------- dataset


def _us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def _texts(np, us, pg: bool) -> list[str]:
    """Microseconds since the epoch as the timestamp text each database stores (UTC)."""
    text = np.datetime_as_string(np.asarray(us, dtype="int64").astype("datetime64[us]"), unit="us").tolist()
    return [t + "+00" for t in text] if pg else [t.replace("T", " ") for t in text]


def _days(np, us) -> list[str]:
    return np.datetime_as_string((np.asarray(us, dtype="int64") // DAY_US).astype("datetime64[D]")).tolist()


class Timeline:
    """One year of days up to today; times of today are squeezed from the whole day into the hours so far."""

    def __init__(self, anchor: datetime):
        self.anchor = anchor
        self.today = anchor.date()
        self.first = self.today - timedelta(days=365)
        self.midnight = _us(datetime.combine(self.today, datetime.min.time(), tzinfo=UTC))
        self.start = self.midnight - 365 * DAY_US
        self.end = self.midnight + DAY_US  # generation runs to the end of today, then squeezes
        now = _us(anchor) - 60_000_000
        self.fraction = max(now - self.midnight, 60_000_000) / DAY_US

    def squeeze(self, np, us):
        us = np.array(us, dtype="int64")
        late = us >= self.midnight
        us[late] = self.midnight + ((us[late] - self.midnight) * self.fraction).astype("int64")
        return us


def _accept(np, rng, us, weights, weekend: float = 1.0):
    """Keep times with probability ``weights[hour]`` (and ``weekend`` on Saturdays and Sundays)."""
    hour = (us // HOUR_US) % 24
    weekday = ((us // DAY_US) + 3) % 7  # 1970-01-01 was a Thursday
    p = np.asarray(weights)[hour] * np.where(weekday >= 5, weekend, 1.0)
    return rng.random(len(us)) < p


def _delays(np, rng, n: int, mix: tuple[tuple[float, float], ...]):
    """Exponential delays (µs) from a mixture of (share, mean hours)."""
    which = rng.choice(len(mix), size=n, p=[m[0] for m in mix])
    means = np.asarray([m[1] for m in mix])[which] * HOUR_US
    return (rng.exponential(1.0, n) * means).astype("int64")


def generate(engine, scale: Scale, tl: Timeline) -> dict:
    """Fill a migrated database with a year of activity; every row as the services would have written it."""
    import numpy as np
    from sqlalchemy import event
    from werkzeug.security import generate_password_hash

    from app import models as m
    from app.analytics.models import ApiToken, BusinessFigure
    from app.content.models import Campaign, Caption, Post
    from bench.common import bulk_insert

    pg = engine.dialect.name == "postgresql"
    if not pg:

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection, _record):  # generation only: a crash just means generating again
            cur = dbapi_connection.cursor()
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    rng = np.random.default_rng(20261204 + scale.employees)
    t_start = time.monotonic()
    n = scale.employees
    now_dt = tl.anchor

    # --- people: uid 1 is the admin who looks at the dashboard
    dept_w = rng.lognormal(0.0, 0.8, scale.departments)
    dept = rng.choice(np.arange(1, scale.departments + 1), size=n + 1, p=dept_w / dept_w.sum())
    dept[rng.random(n + 1) < 0.01] = 0
    loc_w = np.asarray([6, 4, 4, 3, 2, 2, 1, 1, 1, 1][: scale.locations], dtype=float)
    loc = rng.choice(np.arange(1, scale.locations + 1), size=n + 1, p=loc_w / loc_w.sum())
    loc[rng.random(n + 1) < 0.02] = 0
    joined_this_year = rng.random(n + 1) < 0.2
    invited = np.where(joined_this_year, rng.integers(tl.start, tl.end - DAY_US, n + 1),
                       rng.integers(tl.start - 700 * DAY_US, tl.start - 10 * DAY_US, n + 1))  # fmt: skip
    activated = invited + (rng.exponential(1.0, n + 1) * 48 * HOUR_US).astype("int64")
    never = (rng.random(n + 1) < np.where(joined_this_year, 0.15, 0.01)) | (activated >= tl.end)
    deactivated = np.zeros(n + 1, dtype="int64")
    leavers = ~never & (rng.random(n + 1) < 0.012) & (activated < tl.end - 60 * DAY_US)
    deactivated[leavers] = rng.integers(np.maximum(activated[leavers] + 30 * DAY_US, tl.end - 180 * DAY_US),
                                        tl.end - DAY_US)  # fmt: skip
    hidden = rng.random(n + 1) < 0.03
    dept[1], loc[1], invited[1], never[1], deactivated[1], hidden[1] = 1, 1, tl.start - 700 * DAY_US, False, 0, False
    activated[1] = invited[1] + HOUR_US
    # Who shares, and how much: a third never do, the rest a long tail.
    share_w = rng.lognormal(0.0, 1.2, n + 1) * (rng.random(n + 1) > 0.33)
    share_w[0] = 0.0
    share_w[never] = 0.0
    sq = tl.squeeze
    # Times stay as generated (to end of today) until written; the squeeze of today keeps their order.
    invited_db, activated_db, deactivated_db = sq(np, invited), sq(np, activated), sq(np, deactivated)
    password = generate_password_hash(PASSWORD, method=PASSWORD_METHOD)

    def dt(us: int) -> datetime:
        return datetime.fromtimestamp(us / 1e6, UTC)

    users = []
    for uid in range(1, n + 1):
        status = "invited" if never[uid] else ("deactivated" if deactivated[uid] else "active")
        users.append({
            "id": uid, "email": ADMIN_EMAIL if uid == 1 else f"user{uid}@bench.example",
            "display_name": "Bench Admin" if uid == 1 else f"{FIRST[uid % len(FIRST)]} {LAST[uid * 7 % len(LAST)]}"
                            f" {uid}",
            "department_id": int(dept[uid]) or None, "location_id": int(loc[uid]) or None, "timezone": "UTC",
            "locale": "en", "password_hash": None if never[uid] else password, "status": status, "is_demo": False,
            "hide_from_leaderboards": bool(hidden[uid]), "session_version": 1, "created_at": dt(invited_db[uid]),
            "invited_at": dt(invited_db[uid]), "activated_at": None if never[uid] else dt(activated_db[uid]),
            "deactivated_at": dt(deactivated_db[uid]) if deactivated[uid] else None,
        })  # fmt: skip
    departments = [f"{DEPT_NAMES[i % len(DEPT_NAMES)]} {i // len(DEPT_NAMES) + 1}" for i in range(scale.departments)]
    created = dt(tl.start - 800 * DAY_US)

    # --- campaigns and posts
    day_index = np.arange(366)
    day_us = tl.start + day_index * DAY_US
    weekday = ((day_us // DAY_US) + 3) % 7
    day_w = np.where(weekday >= 5, 0.12, 1.0) * (0.75 + 0.5 * day_index / 365)
    post_day = np.sort(rng.choice(day_index, size=scale.posts, p=day_w / day_w.sum()))
    hour = np.clip(rng.normal(9.0, 2.5, scale.posts), 6, 18)
    publish = np.sort(tl.start + post_day * DAY_US + (hour * HOUR_US).astype("int64"))  # same days, in order
    camp_start = np.sort(rng.integers(tl.start, tl.end - 7 * DAY_US, scale.campaigns))
    camp_end = camp_start + rng.integers(14, 46, scale.campaigns) * DAY_US
    kinds = ["ab_test"] * scale.ab_tests + ["cta"] * max(1, scale.campaigns // 6)
    kinds += ["share"] * (scale.campaigns - len(kinds))
    order = rng.permutation(scale.campaigns)
    camp_kind = [kinds[i] for i in order]
    for j, c in enumerate(c for c in range(scale.campaigns) if camp_kind[c] == "ab_test"):
        # A/B tests every few months, the latest one within this quarter (the content page's A/B table).
        camp_start[c] = tl.end - (40 + 80 * j) * DAY_US
        camp_end[c] = camp_start[c] + 30 * DAY_US
    post_campaign = np.zeros(scale.posts, dtype="int64")
    for i in range(scale.posts):
        running = np.nonzero((camp_start <= publish[i]) & (publish[i] < camp_end))[0]
        if len(running) and rng.random() < 0.55:
            post_campaign[i] = int(rng.choice(running)) + 1
    ab_lift = {}
    for c in range(scale.campaigns):
        if camp_kind[c] == "ab_test":
            ab_lift[c + 1] = AB_LIFTS[len(ab_lift) % len(AB_LIFTS)]
    post_ab = np.asarray([int(c) in ab_lift for c in post_campaign])
    post_pop = rng.lognormal(0.0, 1.0, scale.posts)
    campaigns = [{
        "id": c + 1, "name": f"{camp_kind[c].replace('_', ' ').title()} campaign {c + 1}",
        "slug": f"bench-campaign-{c + 1}",
        "kind": camp_kind[c], "description": "", "goal_metric": "clicks" if c % 2 else "shares",
        "goal_target": 500 if c % 2 else 100, "points_multiplier": 150 if camp_kind[c] == "cta" else 100,
        "starts_at": dt(sq(np, [camp_start[c]])[0]), "ends_at": dt(sq(np, [camp_end[c]])[0]), "created_at": created,
    } for c in range(scale.campaigns)]  # fmt: skip

    # --- shares: a post, a person, a network, some hours or days after the post appeared
    shares_post, shares_user, shares_net, shares_at = [], [], [], []
    seen = np.zeros(0, dtype="int64")
    have = 0
    user_p = share_w / share_w.sum()
    post_p = post_pop / post_pop.sum()
    while have < scale.shares:
        k = int((scale.shares - have) * 3) + 1000
        post = rng.choice(scale.posts, size=k, p=post_p)
        user = rng.choice(n + 1, size=k, p=user_p)
        net = rng.choice(len(NETWORKS), size=k, p=NETWORK_SHARE_P)
        at = publish[post] + 60_000_000 + _delays(np, rng, k, ((0.45, 3.0), (0.35, 30.0), (0.2, 200.0)))
        ok = (at < tl.end) & (at >= activated[user]) & _accept(np, rng, at, SHARE_HOURS, 0.3)
        ok &= (deactivated[user] == 0) | (at < deactivated[user])
        key = (post.astype("int64") * (n + 1) + user) * 8 + net
        _, first = np.unique(key, return_index=True)
        pick = np.zeros(k, dtype=bool)
        pick[first] = True
        ok &= pick & ~np.isin(key, seen)
        idx = np.nonzero(ok)[0][: scale.shares - have]
        seen = np.concatenate([seen, key[idx]])
        shares_post.append(post[idx])
        shares_user.append(user[idx])
        shares_net.append(net[idx])
        shares_at.append(at[idx])
        have += len(idx)
    s_post, s_user = np.concatenate(shares_post), np.concatenate(shares_user)
    s_net, s_at = np.concatenate(shares_net), np.concatenate(shares_at)
    order = np.argsort(s_at, kind="stable")
    s_post, s_user, s_net, s_at = s_post[order], s_user[order], s_net[order], s_at[order]
    n_shares = len(s_at)
    s_variant = np.where(post_ab[s_post] & (rng.random(n_shares) < 0.5), "B", "A")
    times = rng.choice([1, 2, 3], size=n_shares, p=[0.88, 0.09, 0.03])
    last_at = np.where(times > 1, np.minimum(s_at + rng.integers(HOUR_US, 72 * HOUR_US, n_shares), tl.end - 1), s_at)

    # --- clicks: each share brings a heavy-tailed number of visits over the following hours and days
    lift = np.ones(n_shares)
    for c, value in ab_lift.items():
        lift[(post_campaign[s_post] == c) & (s_variant == "B")] = value
    click_w = rng.lognormal(0.0, 1.3, n_shares) * np.asarray(NETWORK_CLICKS)[s_net] * post_pop[s_post] ** 0.4 * lift
    click_p = click_w / click_w.sum()
    chosen, chosen_at = [], []
    have = 0
    while have < scale.clicks:
        k = int((scale.clicks - have) * 1.6) + 1000
        share = rng.choice(n_shares, size=k, p=click_p)
        at = s_at[share] + 60_000_000 + _delays(np, rng, k, ((0.5, 4.0), (0.35, 36.0), (0.15, 170.0)))
        ok = (at < tl.end) & _accept(np, rng, at, CLICK_HOURS)
        idx = np.nonzero(ok)[0][: scale.clicks - have]
        chosen.append(share[idx])
        chosen_at.append(at[idx])
        have += len(idx)
    c_share, c_at = np.concatenate(chosen), np.concatenate(chosen_at)
    order = np.argsort(c_at, kind="stable")
    c_share, c_at = c_share[order], c_at[order]
    n_clicks = len(c_at)
    c_day = c_at // DAY_US
    c_bot = rng.random(n_clicks) < BOTS
    c_self = ~c_bot & (rng.random(n_clicks) < SELF)
    roll = rng.random(n_clicks).tolist()
    pool_pick = rng.random(n_clicks).tolist()
    # Visitors: fresh ones, some coming back to the same link the same day, some opening several links.
    visitor = [0] * n_clicks
    unique = [False] * n_clicks
    next_visitor = 1
    current_day, seen_pairs, last_visitor, pool = None, set(), {}, []
    links = c_share.tolist()  # a share's link has the share's id
    days = c_day.tolist()
    bots, selfs = c_bot.tolist(), c_self.tolist()
    sharers = s_user[c_share].tolist()
    for i in range(n_clicks):
        day, link = days[i], links[i]
        if day != current_day:
            current_day, seen_pairs, last_visitor, pool = day, set(), {}, []
        if bots[i]:
            visitor[i] = next_visitor
            next_visitor += 1
            continue
        if selfs[i]:
            visitor[i] = -(sharers[i] * 1000 + day % 1000)
            continue
        r = roll[i]
        if r < REPEAT and link in last_visitor:
            v = last_visitor[link]
        elif r < REPEAT + ELSEWHERE and pool:
            v = pool[int(pool_pick[i] * len(pool))]
        else:
            v = next_visitor
            next_visitor += 1
            pool.append(v)
        visitor[i] = v
        last_visitor[link] = v
        if (link, v) not in seen_pairs:
            seen_pairs.add((link, v))
            unique[i] = True
    mask = (1 << 128) - 1
    salt = int(rng.integers(1, 2**62))
    hashes = [f"{((v + (1 << 100) if v < 0 else v) * 0x9E3779B97F4A7C15F39CC0605CEDC835 ^ salt) & mask:032x}"
              for v in visitor]  # fmt: skip
    c_unique = np.asarray(unique)

    # --- likes, comments (after the post appeared), conversions (after a unique click)
    def reactions(count: int, distinct: bool):
        posts_, users_, at_ = [], [], []
        seen_keys = np.zeros(0, dtype="int64")
        got = 0
        react_w = (share_w + 0.4 * share_w.mean()) * ~never
        react_w[0] = 0.0
        react_p = react_w / react_w.sum()
        while got < count:
            k = int((count - got) * 2) + 500
            post = rng.choice(scale.posts, size=k, p=post_p)
            user = rng.choice(n + 1, size=k, p=react_p)
            at = publish[post] + 60_000_000 + _delays(np, rng, k, ((0.6, 5.0), (0.4, 40.0)))
            ok = (at < tl.end) & (at >= activated[user])
            ok &= (deactivated[user] == 0) | (at < deactivated[user])
            if distinct:
                key = post.astype("int64") * (n + 1) + user
                _, first = np.unique(key, return_index=True)
                pick = np.zeros(k, dtype=bool)
                pick[first] = True
                ok &= pick & ~np.isin(key, seen_keys)
            idx = np.nonzero(ok)[0][: count - got]
            if distinct:
                seen_keys = np.concatenate([seen_keys, key[idx]])
            posts_.append(post[idx])
            users_.append(user[idx])
            at_.append(at[idx])
            got += len(idx)
        return np.concatenate(posts_), np.concatenate(users_), np.concatenate(at_)

    l_post, l_user, l_at = reactions(scale.likes, True)
    m_post, m_user, m_at = reactions(scale.comments, False)
    order = np.argsort(m_at, kind="stable")
    m_post, m_user, m_at = m_post[order], m_user[order], m_at[order]
    m_removed = rng.random(len(m_at)) < 0.03
    candidates = np.nonzero(c_unique)[0]
    conv_w = np.asarray([2.0, 0.8, 1.0, 1.0, 1.5, 1.0, 1.0])[s_net[c_share[candidates]]]
    picked = rng.choice(candidates, size=min(len(candidates), int(scale.conversions * 1.3)), replace=False,
                        p=conv_w / conv_w.sum())  # fmt: skip
    occurred = c_at[picked] + (rng.exponential(1.0, len(picked)) * 2 * HOUR_US).astype("int64")
    keep = np.nonzero(occurred < tl.end)[0][: scale.conversions]
    picked, occurred = picked[keep], occurred[keep]
    order = np.argsort(occurred, kind="stable")
    picked, occurred = picked[order], occurred[order]
    conv_kind = rng.choice(["lead", "application", "signup", "purchase"], size=len(picked), p=[0.45, 0.25, 0.2, 0.1])
    conv_source = rng.choice(["api", "pixel", "import"], size=len(picked), p=[0.6, 0.25, 0.15])

    # --- everything after the squeeze of today
    s_at, last_at, c_at, l_at, m_at, occurred = (sq(np, a) for a in (s_at, last_at, c_at, l_at, m_at, occurred))
    publish = sq(np, publish)
    t_gen = time.monotonic()
    log(f"  generated in memory in {t_gen - t_start:.1f} s")

    posts = [{
        "id": i + 1, "title": f"{TOPICS[i % len(TOPICS)].capitalize()} #{i + 1}", "body": "",
        "url": f"https://example.com/news/{i + 1}", "slug": f"bench-post-{i + 1}", "source": "manual",
        "source_name": "", "hashtags": "", "language": "en", "campaign_id": int(post_campaign[i]) or None,
        "audience_all": True, "status": "published", "publish_at": dt(publish[i]), "pinned": False,
        "is_cta": bool(post_campaign[i]) and camp_kind[int(post_campaign[i]) - 1] == "cta", "points_multiplier": 100,
        "share_count": 0, "click_count": 0, "like_count": 0, "comment_count": 0, "created_by_id": 1,
        "created_at": dt(publish[i] - HOUR_US), "updated_at": dt(publish[i]),
    } for i in range(scale.posts)]  # fmt: skip
    share_counts = np.bincount(s_post, minlength=scale.posts)
    click_counts = np.bincount(s_post[c_share[c_unique]], minlength=scale.posts)
    like_counts = np.bincount(l_post, minlength=scale.posts)
    comment_counts = np.bincount(m_post[~m_removed], minlength=scale.posts)
    for i, post in enumerate(posts):
        post.update(share_count=int(share_counts[i]), click_count=int(click_counts[i]),
                    like_count=int(like_counts[i]), comment_count=int(comment_counts[i]))  # fmt: skip
    captions = []
    for i in range(scale.posts):
        captions.append(
            {"post_id": i + 1, "network": "generic", "variant": "A", "text": f"Have a look: {posts[i]['title']}"}
        )
        if post_ab[i]:
            captions.append({"post_id": i + 1, "network": "generic", "variant": "B",
                             "text": f"Worth two minutes of your time: {posts[i]['title']}"})  # fmt: skip
    link_clicks = np.bincount(c_share[c_unique], minlength=n_shares)

    with engine.begin() as conn:
        sink = Sink(conn)
        if pg:
            conn.exec_driver_sql("SET session_replication_role = replica")  # consistent by construction
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            conn.exec_driver_sql("SET synchronous_commit = off")
        common.insert_org(conn, departments, LOCATIONS[: scale.locations], created)
        bulk_insert(conn, m.User, users)
        roles = [{"user_id": u["id"], "role": "employee"} for u in users if u["status"] != "invited"]
        bulk_insert(conn, m.UserRole, [*roles, {"user_id": 1, "role": "admin"}])
        bulk_insert(conn, Campaign, campaigns)
        bulk_insert(conn, Post, posts)
        bulk_insert(conn, Caption, captions)
        token = hashlib.sha256(b"bench").hexdigest()
        bulk_insert(conn, ApiToken, [{"id": 1, "name": "Careers site", "token_hash": token,
                                      "prefix": "hrld_bench", "created_by_id": 1, "created_at": created}])  # fmt: skip
        figures = []
        month = date(tl.today.year - 1, tl.today.month, 1)
        for _ in range(13):
            figures.append({"month": month, "kind": "sales", "value": round(float(rng.normal(420_000, 40_000)), 2),
                            "updated_at": now_dt})  # fmt: skip
            figures.append({"month": month, "kind": "hires", "value": float(rng.integers(8, 40)), "updated_at": now_dt})
            month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        bulk_insert(conn, BusinessFigure, figures)
        t0 = time.monotonic()
        rebuild = sink.drop_indexes(("tracked_link", "share", "click", "post_like", "comment", "analytics_conversion"))
        share_ts, last_ts = _texts(np, s_at, pg), _texts(np, last_at, pg)
        nets = [NETWORKS[x] for x in s_net.tolist()]
        sp, su, sv, tm, lc = s_post.tolist(), s_user.tolist(), s_variant.tolist(), times.tolist(), link_clicks.tolist()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

        def code(i: int) -> str:
            x, out = (i * 1_000_000_007 + 12345) % 62**10, []
            for _ in range(10):
                x, r = divmod(x, 62)
                out.append(alphabet[r])
            return "".join(out)

        sink.rows("tracked_link", ("id", "code", "post_id", "user_id", "network", "variant", "enabled", "click_count",
                                   "created_at"),
                  [(i + 1, code(i + 1), sp[i] + 1, su[i], nets[i], sv[i], True, lc[i], share_ts[i])
                   for i in range(n_shares)])  # fmt: skip
        sink.rows("share", ("id", "post_id", "user_id", "network", "link_id", "variant", "times", "created_at",
                            "last_shared_at"),
                  [(i + 1, sp[i] + 1, su[i], nets[i], i + 1, sv[i], tm[i], share_ts[i], last_ts[i])
                   for i in range(n_shares)])  # fmt: skip
        del share_ts, last_ts
        click_ts, click_days = _texts(np, c_at, pg), _days(np, c_at)
        unique_list = c_unique.tolist()
        for start in range(0, n_clicks, CHUNK):
            rows = []
            for i in range(start, min(start + CHUNK, n_clicks)):
                s = links[i]
                rows.append((i + 1, f"bench-{i + 1:09d}", s + 1, sp[s] + 1, su[s], nets[s], click_ts[i], click_days[i],
                             "" if bots[i] else REFERRERS[s_net[s]], hashes[i], bots[i], selfs[i],
                             unique_list[i]))  # fmt: skip
            sink.rows("click", ("id", "uid", "link_id", "post_id", "sharer_id", "network", "clicked_at", "day",
                                "referrer_host", "visitor_hash", "is_bot", "is_self", "is_unique"), rows)  # fmt: skip
        # The ingester asks unique_visit who was first on a link today and yesterday (older rows matter to nobody).
        recent = tl.midnight - DAY_US
        sink.rows("unique_visit", ("link_id", "day", "visitor_hash"),
                  [(links[i] + 1, click_days[i], hashes[i]) for i in range(n_clicks)
                   if unique_list[i] and c_at[i] >= recent])  # fmt: skip
        del click_ts, click_days
        sink.rows(
            "post_like",
            ("post_id", "user_id", "created_at"),
            list(zip((l_post + 1).tolist(), l_user.tolist(), _texts(np, l_at, pg), strict=True)),
        )
        removed_ts = _texts(np, m_at + HOUR_US, pg)
        sink.rows("comment", ("id", "post_id", "user_id", "body", "created_at", "edited_at", "removed_at",
                              "removed_by_id"),
                  [(i + 1, p + 1, u, COMMENTS[i % len(COMMENTS)], ts, None, removed_ts[i] if r else None,
                    1 if r else None)
                   for i, (p, u, ts, r) in enumerate(zip(m_post.tolist(), m_user.tolist(), _texts(np, m_at, pg),
                                                         m_removed.tolist(), strict=True))])  # fmt: skip
        conv_ts, conv_days = _texts(np, occurred, pg), _days(np, occurred)
        rows = []
        for j, ci in enumerate(picked.tolist()):
            s = links[ci]
            kind = str(conv_kind[j])
            value = round(float(rng.uniform(20, 500)), 2) if kind == "purchase" else (50.0 if kind == "lead" else None)
            source = str(conv_source[j])
            rows.append((j + 1, f"bench-conversion-{j + 1}", s + 1, sp[s] + 1, su[s], nets[s], kind, value, source,
                         1 if source == "api" else None, conv_ts[j], conv_days[j], False))  # fmt: skip
        sink.rows("analytics_conversion", ("id", "idempotency_key", "link_id", "post_id", "sharer_id", "network",
                                           "kind", "value", "source", "token_id", "occurred_at", "day",
                                           "points_awarded"), rows)  # fmt: skip
        t1 = time.monotonic()
        for ddl in rebuild:
            conn.exec_driver_sql(ddl)
        from app.analytics.models import Conversion
        from app.content.models import Comment, Share
        from app.tracking.models import Click, TrackedLink

        common.fix_sequences(conn, [m.Department, m.Location, m.User, Campaign, Post, Caption, TrackedLink, Share,
                                    Click,
                                    Comment, Conversion, ApiToken])  # fmt: skip
        if pg:
            conn.exec_driver_sql("SET session_replication_role = origin")
    log(f"  rows written in {t1 - t0:.1f} s, {len(rebuild)} indexes rebuilt in {time.monotonic() - t1:.1f} s")
    engine.dispose()
    return {"employees": n, "posts": scale.posts, "campaigns": scale.campaigns, "shares": n_shares,
            "clicks": n_clicks, "unique clicks": int(c_unique.sum()), "bot clicks": int(c_bot.sum()),
            "self clicks": int(c_self.sum()), "likes": len(l_at), "comments": len(m_at),
            "conversions": len(picked)}  # fmt: skip


# --------------------------------------------------------------------------- roll-ups and the cache


def rollups_digest() -> str:
    """Part of the cache key: cached roll-ups are rebuilt when the code that computes them changed."""
    digest = hashlib.sha256()
    for name in ("rollups.py", "models.py"):
        digest.update((common.ROOT / "app" / "analytics" / name).read_bytes())
    return digest.hexdigest()[:12]


def dataset_key(scale_name: str, today: date) -> str:
    return f"g{GENERATOR}-{scale_name}-{today.isoformat()}-{common.migrations_digest()}"


def build_rollups(app, first: date, last: date) -> float:
    """Every day from ``first`` to ``last`` through ``rollups.rebuild`` (one transaction per day); seconds."""
    from app.analytics import rollups, services
    from app.extensions import db

    t0 = time.monotonic()
    marks = {"rows": 0}

    def progress(day, counts):
        marks["rows"] += sum(counts.values())
        if day.day == 1 or day == last:
            log(f"    rolled up to {day} ({time.monotonic() - t0:.0f} s, {marks['rows']:,} roll-up rows)")

    with app.app_context():
        days = rollups.rebuild(first, last, progress=progress)
        services.forget_today()
        db.session.remove()
    took = time.monotonic() - t0
    log(f"  rollups.rebuild({first}, {last}): {days} days in {took:.1f} s ({1000 * took / days:.0f} ms a day)")
    return took


class Cache:
    """The generated and rolled-up database, per scale: a SQLite file or a PostgreSQL template database."""

    def __init__(self, instance: common.Instance, scale_name: str):
        self.instance = instance
        self.scale_name = scale_name
        self.pg = instance.kind == "postgresql"
        self.file = common.CACHE / f"analytics-{scale_name}.db"
        self.meta_file = self.file.with_suffix(".json")
        self.template = f"herald_bench_analytics_{scale_name}"

    def meta(self) -> dict | None:
        try:
            if not self.pg:
                return json.loads(self.meta_file.read_text()) if self.file.exists() else None
            with common.Instance._admin_engine().connect() as conn:
                text = conn.exec_driver_sql(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (self.template,)
                ).scalar()
            return json.loads(text) if text else None
        except (OSError, ValueError):
            return None

    def restore(self) -> float:
        t0 = time.monotonic()
        self.instance.engine.dispose()
        if not self.pg:
            shutil.copyfile(self.file, self.instance.db_path)
            return time.monotonic() - t0
        name = self.instance.pg_name
        with common.Instance._admin_engine().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY')
        return time.monotonic() - t0

    def save(self, meta: dict, app) -> float:
        """Keep the run's database as the cache (before anything is measured on it)."""
        from app.extensions import db

        t0 = time.monotonic()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.instance.engine.dispose()
        text = json.dumps(meta, sort_keys=True)
        if not self.pg:
            import sqlite3

            with sqlite3.connect(self.instance.db_path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            common.CACHE.mkdir(parents=True, exist_ok=True)
            partial = self.file.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(self.instance.db_path, partial)
            partial.replace(self.file)
            self.meta_file.write_text(text)
            return time.monotonic() - t0
        with common.Instance._admin_engine().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            conn.exec_driver_sql(
                f'CREATE DATABASE "{self.template}" TEMPLATE "{self.instance.pg_name}" STRATEGY FILE_COPY'
            )
            conn.exec_driver_sql(f"COMMENT ON DATABASE \"{self.template}\" IS '{text}'")
        return time.monotonic() - t0


def prepare(instance: common.Instance, scale_name: str, rebuild: bool) -> tuple[dict, object]:
    """The run's database: copied from the cache when it holds today's dataset, generated otherwise. (meta, app)"""
    anchor = datetime.now(UTC)
    key, digest = dataset_key(scale_name, anchor.date()), rollups_digest()
    cache = Cache(instance, scale_name)
    meta = None if rebuild else cache.meta()
    where = cache.template if cache.pg else cache.file.relative_to(common.ROOT)
    if meta is not None and meta.get("key") == key:
        took = cache.restore()
        state = "hit" if meta.get("rollups") == digest else "rollups"
        log(f"  copied from the cache ({where}) in {took:.1f} s"
            + ("" if state == "hit" else "; the roll-up code changed since: rolling up again"))  # fmt: skip
    else:
        reason = "--rebuild" if rebuild else ("none yet" if meta is None else f"cached {meta.get('key')}")
        log(f"  generating ({reason}; today's key {key})")
        state, meta = "miss", {"key": key, "anchor": anchor.isoformat()}
    instance.migrate()
    from app import create_app

    app = create_app()
    if state == "hit":
        return meta, app
    tl = Timeline(datetime.fromisoformat(meta["anchor"]))
    if state == "miss":
        t0 = time.monotonic()
        from sqlalchemy import create_engine

        meta["counts"] = generate(create_engine(instance.sa_url), SCALES[scale_name], tl)  # an engine of its own
        meta["generate_s"] = round(time.monotonic() - t0, 1)
        analyze(instance)
    meta["rollup_s"] = round(build_rollups(app, tl.first, tl.today - timedelta(days=1)), 1)
    meta["rollups"] = digest
    analyze(instance)
    took = cache.save(meta, app)
    log(f"  cached as {where} in {took:.1f} s")
    return meta, app


def analyze(instance: common.Instance) -> None:
    t0 = time.monotonic()
    if instance.kind == "postgresql":
        with instance.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")  # steady state: statistics and a visibility map
        what = "VACUUM (ANALYZE)"
    else:
        with instance.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        what = "ANALYZE"
    instance.engine.dispose()
    log(f"  {what} in {time.monotonic() - t0:.1f} s")


# --------------------------------------------------------------------------- measure 1: one day's roll-up


def measure_rollup(app, runs: int, typical: int) -> tuple[float, list[str]]:
    """``rollups.rebuild(day, day)`` for the day (before today) whose click count is closest to ``typical``."""
    from sqlalchemy import func, select

    from app.analytics import rollups, services
    from app.extensions import db
    from app.tracking.models import Click

    with app.app_context():
        today = datetime.now(UTC).date()
        counts = db.session.execute(
            select(Click.day, func.count()).where(Click.day < today).group_by(Click.day)
        ).all()  # fmt: skip
        day, clicks = min(counts, key=lambda dc: (abs(dc[1] - typical), dc[0]))
        busiest = max(counts, key=lambda dc: dc[1])
        today_clicks = db.session.scalar(select(func.count()).select_from(Click).where(Click.day == today)) or 0
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rollups.rebuild(day, day)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rollups.rebuild(busiest[0], busiest[0])
        busiest_ms = (time.perf_counter() - t0) * 1000
        services.forget_today()
        t0 = time.perf_counter()
        computed = rollups.compute_day(today)
        today_ms = (time.perf_counter() - t0) * 1000
        db.session.rollback()
        db.session.remove()
    median = statistics.median(times)
    lines = [
        f"roll-up of one day, in process: rollups.rebuild({day}, {day}) ({day:%a}, {clicks:,} clicks), "
        f"{runs} runs: median {median:.0f} ms (" + ", ".join(f"{t:.0f}" for t in times) + " ms)",
        f"  for information: the busiest day ({busiest[0]}, {busiest[1]:,} clicks) {busiest_ms:.0f} ms; today's live "
        f"computation rollups.compute_day({today}) ({today_clicks:,} clicks so far) {today_ms:.0f} ms, "
        + ", ".join(f"{k} {len(v)}" for k, v in computed.items()) + " rows",
    ]  # fmt: skip
    return median, lines


# --------------------------------------------------------------------------- measure 2: pages and exports


class Client:
    """A browser on one kept-alive connection: cookies, bytes back, and how often it had to reconnect."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.connections = 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, bytes]:
        headers = {"User-Agent": common.BROWSER_UA, "Accept": "text/html,*/*", "Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.connections += 1
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2 or method != "GET":
                    raise
        if resp.will_close:
            self.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, data


def sign_in(client: Client) -> None:
    status, _headers, body = client.request("GET", "/login")
    token = csrf_of(body.decode("utf-8", "replace"))
    if status != 200 or token is None:
        raise RuntimeError(f"GET /login: {status}, no csrf_token")
    form = {"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD, "remember": "y"}
    status, _headers, _body = client.request("POST", "/login", form)
    if status not in (302, 303) or "session" not in client.cookies:
        raise RuntimeError(f"POST /login: {status} (expected a redirect and a session cookie)")


@dataclass
class Timed:
    label: str
    path: str
    first: float = 0.0
    times: list[float] | None = None
    body: bytes = b""
    other: float = 0.0  # share of the CPU other processes used meanwhile (%)
    problem: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def line(self) -> str:
        t = self.times or [float("nan")]
        return (f"  {self.label:<34} first {self.first:7.0f} ms  median {self.median:7.0f} ms  "
                f"p90 {pct(t, 90):7.0f} ms  min {min(t):6.0f}  max {max(t):6.0f}  ({len(t)} after warm-up; "
                f"other processes {self.other:.0f} % CPU)"
                + (f"  PROBLEM: {self.problem}" if self.problem else ""))  # fmt: skip


def check_body(path: str, status: int, headers: dict, body: bytes) -> str | None:
    """What is wrong with an answer (None when it is a 200 of the expected type)."""
    if status != 200:
        return f"status {status}"
    kind = headers.get("content-type", "")
    if path.split("?")[0].endswith(".csv"):
        return None if kind.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf") else f"not a CSV ({kind})"
    if path.split("?")[0].endswith(".xlsx"):
        return None if "spreadsheetml" in kind and body[:2] == b"PK" else f"not an XLSX ({kind})"
    return None if kind.startswith("text/html") and b"</html>" in body else f"not a page ({kind})"


def cpu_snapshot(server_pid: int) -> tuple[float, float, float, float, float]:
    """(machine busy, machine total, server tree, PostgreSQL, this process) CPU seconds so far."""
    busy, total = common.system_cpu()
    server, database = common.process_cpu(server_pid)
    mine = os.times()
    return busy, total, server, database, mine.user + mine.system


def other_share(before: tuple, after: tuple) -> float:
    """CPU that other processes (not the server, PostgreSQL or this client) used in between, in % of the machine."""
    busy, total, server, database, mine = (b - a for a, b in zip(before, after, strict=True))
    return max(100 * (busy - server - database - mine) / max(total, 1e-9), 0.0)


def time_path(client: Client, server_pid: int, label: str, path: str, samples: int, warmup: int) -> Timed:
    """The first request (cold), ``warmup`` more, then ``samples`` timed; client side on 127.0.0.1."""
    out = Timed(label, path, times=[])
    before = cpu_snapshot(server_pid)
    for i in range(1 + warmup + samples):
        t0 = time.perf_counter()
        status, headers, body = client.request("GET", path)
        elapsed = (time.perf_counter() - t0) * 1000
        problem = check_body(path, status, headers, body)
        if problem and not out.problem:
            out.problem = problem
        if i == 0:
            out.first, out.body = elapsed, body
        elif i > warmup:
            out.times.append(elapsed)
    out.other = other_share(before, cpu_snapshot(server_pid))
    return out


def measure_http(port: int, pid: int, args, period_days: int) -> tuple[list[Timed], list[Timed], Client]:
    client = Client(port)
    sign_in(client)
    today = datetime.now(UTC).date()
    custom = f"period=custom&start={(today - timedelta(days=90)).isoformat()}&end={today.isoformat()}"
    pages = [
        ("dashboard, quarter [contract]", "/admin/analytics?period=quarter"),
        ("content, quarter [contract]", "/admin/analytics/content?period=quarter"),
        ("dashboard, last 91 days [info]", f"/admin/analytics?{custom}"),
        ("dashboard, quarter, dept 1 [info]", "/admin/analytics?period=quarter&scope=department:1"),
    ]
    timed_pages = []
    for label, path in pages:
        timed_pages.append(time_path(client, pid, label, path, args.samples, args.warmup))
        log(timed_pages[-1].line())
    exports = []
    log(f"exports, period=quarter ({period_days} days): first request, then {args.export_samples} after 1 warm-up")
    for name in EXPORTS:
        for fmt in ("xlsx", "csv"):
            path = f"/admin/analytics/export/{name}.{fmt}?period=quarter"
            exports.append(time_path(client, pid, f"{name}.{fmt}", path,
                                     args.export_samples, 1))  # fmt: skip
            log(exports[-1].line())
    return timed_pages, exports, client


# --------------------------------------------------------------------------- measure 3: checks


def check_kpis(app, csv_body: bytes, xlsx_body: bytes) -> tuple[bool, list[str]]:
    """The kpis export's shares and unique clicks (this period and the previous) against the raw rows."""
    import openpyxl
    from sqlalchemy import false, func, select, true

    from app.analytics import rollups, services
    from app.content.models import Share
    from app.extensions import db
    from app.tracking.models import Click

    rows = list(csv.reader(io.StringIO(csv_body.decode("utf-8-sig"))))
    table = {r[0]: r[1:] for r in rows[1:] if r}
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_body), read_only=True).active
    xlsx = {r[0]: [("" if v is None else v) for v in r[1:]] for r in sheet.iter_rows(min_row=2, values_only=True) if r}
    today = datetime.now(UTC).date()
    period = services.period_for("quarter", today)
    ok, lines = True, []
    with app.app_context():
        for label, when, column in (("this period", period, 0), ("previous period", period.previous, 1)):
            start, end = rollups.day_bounds(when.start)[0], rollups.day_bounds(when.end)[1]
            shares = db.session.scalar(
                select(func.count()).select_from(Share).where(Share.created_at >= start, Share.created_at < end)
            )  # fmt: skip
            unique = db.session.scalar(
                select(func.count()).select_from(Click).where(
                    Click.clicked_at >= start, Click.clicked_at < end, Click.is_unique == true(),
                    Click.is_bot == false(), Click.is_self == false(),
                )
            )  # fmt: skip
            for measure, raw in (("Shares", shares), ("Unique clicks", unique)):
                got = table.get(measure, [None, None])[column]
                in_xlsx = xlsx.get(measure, [None, None])[column]
                good = got is not None and str(got) == str(raw) and str(in_xlsx) == str(raw)
                ok &= good
                lines.append(f"  {measure.lower()}, {label} {when.start}..{when.end}: kpis.csv {got}, kpis.xlsx "
                             f"{in_xlsx}, COUNT over the raw rows {raw:,}: "
                             f"{'equal' if good else 'DIFFERENT'}")  # fmt: skip
        db.session.remove()
    return ok, lines


# --------------------------------------------------------------------------- where the time goes, in process

STEPS = {
    "services": ("sharer_sums", "totals", "total_sums", "post_sums", "weekly_sharers", "reach", "funnel",
                 "active_employees", "contributors", "series", "business_figures", "monthly_activity", "content",
                 "best_times", "_today_frames"),
    "kpis": ("dashboard", "satisfaction", "scope_name", "dashboard_tables"),
    "routes": ("content_tables", "_dashboard_charts"),
    "rollups": ("compute_day",),
    "exports": ("csv_response", "xlsx_response"),
}  # fmt: skip


class StepTimer:
    """Wraps the analytics functions to time each call (inclusive) and the SQL run directly inside it."""

    def __init__(self, app):
        from sqlalchemy import event

        from app import exports
        from app.analytics import kpis, rollups, routes, services
        from app.extensions import db

        self.modules = {"services": services, "kpis": kpis, "routes": routes, "rollups": rollups, "exports": exports}
        self.stack: list[str] = []
        self.stats: dict[str, list[float]] = {}  # path -> [calls, ms, sql ms, statements]
        self.order: list[str] = []
        self.saved = []
        self.sql_start = 0.0
        for module_name, names in STEPS.items():
            module = self.modules[module_name]
            for name in names:
                original = getattr(module, name)
                self.saved.append((module, name, original))
                setattr(module, name, self._wrap(name, original))
        with app.app_context():
            self.engine = db.engine
        self.event = event
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _wrap(self, name: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            self.stack.append(name)
            path = " > ".join(self.stack)
            entry = self.stats.setdefault(path, [0, 0.0, 0.0, 0])
            if path not in self.order:
                self.order.append(path)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                entry[0] += 1
                entry[1] += (time.perf_counter() - t0) * 1000
                self.stack.pop()

        return wrapper

    def _before(self, *_args):
        self.sql_start = time.perf_counter()

    def _after(self, *_args):
        path = " > ".join(self.stack) or "(outside the steps)"
        entry = self.stats.setdefault(path, [0, 0.0, 0.0, 0])
        if path not in self.order:
            self.order.append(path)
        entry[2] += (time.perf_counter() - self.sql_start) * 1000
        entry[3] += 1

    def reset(self) -> None:
        self.stats, self.order = {}, []

    def lines(self, runs: int, depth_limit: int = 99) -> list[str]:
        out = []
        for path in self.order:
            calls, ms, sql, statements = self.stats[path]
            depth = path.count(" > ")
            if depth > depth_limit or (ms / runs < 0.05 and not statements):
                continue  # deeper than asked, or nothing (today's figures from the cache)
            name = path.rsplit(" > ", 1)[-1]
            calls_text = f" x{calls // runs}" if calls // runs > 1 else ""
            timing = f"{ms / runs:8.1f} ms" if calls else " " * 11
            out.append(f"      {'  ' * depth}{name + calls_text:<{40 - 2 * depth}} {timing}   SQL {sql / runs:7.1f} ms "
                       f"in {statements / runs:.0f} statements")  # fmt: skip
        return out

    def close(self) -> None:
        for module, name, original in self.saved:
            setattr(module, name, original)
        self.event.remove(self.engine, "before_cursor_execute", self._before)
        self.event.remove(self.engine, "after_cursor_execute", self._after)


def breakdown(app, slowest_export: str, runs: int = 3, profile: bool = False) -> list[str]:
    """The dashboard, content and slowest export computations in this process, step by step (median of ``runs``)."""
    from app import exports
    from app.analytics import kpis, routes, services
    from app.extensions import db

    today = datetime.now(UTC).date()
    period, scope = services.period_for("quarter", today), services.Scope()
    name, _, fmt = slowest_export.partition(".")

    def dashboard():
        d = kpis.dashboard(period, scope, today)
        routes._dashboard_charts(d)  # what the view adds before rendering the template
        return d.tables()

    def content():
        return routes.content_tables(services.content(period, scope, today))

    def export():
        tables = content() if name.startswith("content_") else kpis.dashboard(period, scope, today).tables()
        table = tables[name]
        write = exports.csv_response if fmt == "csv" else exports.xlsx_response
        kwargs = {} if fmt == "csv" else {"sheet": table.title}
        return write("x." + fmt, table.columns, table.rows, **kwargs)

    jobs = [("dashboard (kpis.dashboard, charts, tables)", dashboard), ("content (services.content, tables)", content),
            (f"slowest export, {slowest_export} (computation and file)", export)]  # fmt: skip
    lines = [f"where the time goes, in process, period=quarter, today's live figures cached (median of {runs}; "
             "inclusive times; SQL: the driver's execute() of the statements run directly in each step; "
             "SQLite steps through most rows while they are fetched, which counts in the step's time, not as "
             "SQL):"]  # fmt: skip
    timer = StepTimer(app)
    try:
        with app.test_request_context("/admin/analytics?period=quarter"):
            services.forget_today()
            dashboard()  # fills today's cache, as the first request of a minute does
            for label, fn in jobs:
                timer.reset()
                totals = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    fn()
                    totals.append((time.perf_counter() - t0) * 1000)
                    db.session.rollback()
                lines.append(f"    {label}: {statistics.median(totals):.0f} ms")
                lines.extend(timer.lines(runs, 99 if fn is not export else 0))
            db.session.remove()
    finally:
        timer.close()
    if profile:
        from pyinstrument import Profiler

        with app.test_request_context("/admin/analytics?period=quarter"):
            for label, fn in jobs:
                profiler = Profiler(interval=0.0005)
                profiler.start()
                fn()
                profiler.stop()
                db.session.rollback()
                lines.append(f"pyinstrument, {label}:")
                lines.append(profiler.output_text(unicode=False, color=False, show_all=False))
            db.session.remove()
    return lines


# --------------------------------------------------------------------------- main


def code_line() -> str:
    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=common.ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", "app", "migrations", "surveys")
    return f"code: {git('rev-parse', '--short', 'HEAD')}" + (
        f" with uncommitted changes in {len(dirty.splitlines())} files under app/, migrations/, surveys/"
        if dirty
        else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    parser.add_argument("--samples", type=int, default=10, help="timed requests per page after the warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per page after the first")
    parser.add_argument("--export-samples", type=int, default=10, help="timed requests per export")
    parser.add_argument("--rollup-runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="flask serve --workers")
    parser.add_argument("--rebuild", action="store_true", help="generate the dataset again, even when cached")
    parser.add_argument("--profile", action="store_true", help="also print pyinstrument's call trees")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (and database) for a look")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    # A SIGTERM (timeout, kill) stops the server and drops the run's database like an error does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    for line in common.machine_lines()[:2]:
        log(line)
    log(code_line())
    log(f"load average at start: {loadavg()}")
    instance = common.Instance("sqlite" if args.db == "sqlite" else "postgresql", "analytics")
    server: Serve | None = None
    failed: list[str] = []
    try:
        log(f"dataset ({args.db}, {args.scale}): {scale.employees:,} employees, {scale.departments} departments, "
            f"{scale.locations} locations, {scale.posts:,} posts, {scale.shares:,} shares, {scale.clicks:,} clicks, "
            f"{scale.likes:,} likes, {scale.comments:,} comments, {scale.conversions:,} conversions over a "
            "year")  # fmt: skip
        t0 = time.monotonic()
        meta, app = prepare(instance, args.scale, args.rebuild)
        counts = meta.get("counts", {})
        log("  rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        log(f"  generated at {meta['anchor']} in {meta.get('generate_s', '?')} s; all roll-ups built in "
            f"{meta.get('rollup_s', '?')} s; ready in {time.monotonic() - t0:.1f} s")  # fmt: skip
        anchor_day = datetime.fromisoformat(meta["anchor"]).date()

        common.settle()
        log(f"load average before the roll-up: {loadavg()}")
        typical = round(TYPICAL_CLICKS * scale.clicks / SCALES["full"].clicks)
        rollup_ms, lines = measure_rollup(app, args.rollup_runs, typical)
        for line in lines:
            log(line)

        server = Serve(instance, args.workers)
        server.argv.append("--no-tasks")
        server.start()
        log(f"server: flask --app wsgi serve --no-tasks --workers {args.workers} (gunicorn gthread, 4 threads per "
            f"worker, click ingester); HERALD_LOGIN_RATE_LIMIT={LOGIN_LIMIT!r}")  # fmt: skip
        common.settle()
        log(f"load average before the pages: {loadavg()}")
        from app.analytics import services

        today = datetime.now(UTC).date()
        period = services.period_for("quarter", today)
        log(f"pages, sequential GETs on one kept-alive connection, admin signed in; period=quarter is {period.start}.."
            f"{period.end} ({period.days} days), previous {period.previous.start}..{period.previous.end}; first "
            f"request, then {args.samples} after {args.warmup} warm-up (on 127.0.0.1: ~ server time):")  # fmt: skip
        pages, exports, client = measure_http(server.port, server.proc.pid, args, period.days)
        if client.connections > 1:
            log(f"  note: the client connected {client.connections} times (a new connection may land on a cold worker)")
        for t in [*pages, *exports]:
            if t.problem:
                failed.append(f"GET {t.path}: {t.problem}")
        if any(t.other > 15 for t in [*pages, *exports]):
            log(common.BUSY_WARNING.strip())
        dashboard_ms, content_ms = pages[0].median, pages[1].median
        answered = [t for t in exports if not t.problem] or exports
        slowest = max(answered, key=lambda t: t.median)
        export_ms = slowest.median
        if len(answered) < len(exports):
            log(f"  ({len(exports) - len(answered)} exports that did not answer a 200 of their type are left out "
                "of export_ms)")  # fmt: skip
        log(f"slowest export: {slowest.label} (median {export_ms:.0f} ms); slowest first request: "
            f"{max(exports, key=lambda t: t.first).label} ({max(t.first for t in exports):.0f} ms)")  # fmt: skip
        log(f"load average after the pages: {loadavg()}")
        server.stop()
        server = None

        log("checks:")
        by_label = {t.label: t for t in exports}
        ok, lines = check_kpis(app, by_label["kpis.csv"].body, by_label["kpis.xlsx"].body)
        for line in lines:
            log(line)
        if not ok:
            failed.append("the kpis export's shares or unique clicks differ from a count of the raw rows")
        problems = [t for t in [*pages, *exports] if t.problem]
        log(
            f"  pages and exports: {len(pages) + len(exports)} URLs, "
            + ("every answer a 200 of its type" if not problems else f"{len(problems)} with a PROBLEM (above)")
        )
        if datetime.now(UTC).date() != today or anchor_day != today:
            log("  note: the UTC day changed during the run (or the cache is from another day): figures shifted")

        for line in breakdown(app, slowest.label, profile=args.profile):
            log(line)

        def verdict(value: float, target: float) -> str:
            return f"{value:.0f} ms <= {target:g} " + ("met" if value <= target else "MISSED")

        log(f"load average at the end: {loadavg()}")
        log(f"targets: dashboard {verdict(dashboard_ms, TARGET_DASHBOARD_MS)}; content "
            f"{verdict(content_ms, TARGET_CONTENT_MS)}; slowest export {verdict(export_ms, TARGET_EXPORT_MS)}; "
            f"one day's roll-up {verdict(rollup_ms, TARGET_ROLLUP_MS)}")  # fmt: skip
        for problem in failed:
            log(f"FAILED: {problem}")
        log(f"analytics dashboard_ms={dashboard_ms:.0f} content_ms={content_ms:.0f} export_ms={export_ms:.0f} "
            f"rollup_ms={rollup_ms:.0f}")  # fmt: skip
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
