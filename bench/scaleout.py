"""Several hosts for real: two web hosts, two task consumers, one PostgreSQL and one Redis.

Starts two ``flask --app wsgi serve --no-tasks`` hosts on their own ports, each with its
own instance folder (and so its own click spool and ingester), and two Huey consumers,
one beside each host. All share ``HERALD_SECRET_KEY``, ``HERALD_GIFTCARD_KEY``, a fresh
PostgreSQL database (created here, dropped at the end), a Redis database number of their
own (flushed at the end, nothing else touched) and ``HERALD_MEDIA_ROOT``. People, posts,
rewards (a merch variant with small stock, a gift card with a small code pool) are
seeded through the app's services. Then, for ``--seconds``, at both hosts at once:

* employees signed in through ``/login`` (real sessions, CSRF tokens; the session cookie
  one host issued is used at the other) share posts and redeem rewards, fetching the form
  at one host and posting it at the other, some forms at both hosts at once (same key);
* visitors click the tracked links the shares returned: every visitor has an address of
  its own (``HERALD_TRUST_PROXY=1``, ``X-Forwarded-For``) and a phone browser's user agent,
  some come back (not unique again), a few are crawlers;
* one address fires sign-in attempts with a wrong password at both hosts.

Then the load stops, the spools drain, the hosts stop, and the books are checked: every
answered 302 is one click row; each unique click (the click table's ``is_unique``) earned
points once; no reward oversold; the sign-in limit held across both hosts combined;
every balance equals its ledger sum. The last line is

    scaleout hosts=2 redirects=<n> lost_clicks=0 double_awards=0 oversold=0 balance_mismatches=0

and any failed check makes the exit code nonzero. Run from the repository root:

    .venv/bin/python bench/scaleout.py --seconds 30
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from http.client import HTTPConnection, RemoteDisconnected
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import ROOT, Instance, free_port, log, stop_process

PASSWORD = "scaleout-password-1"  # noqa: S105  (a throw-away database)
DOMAIN = "scaleout.example"
PHONE_UAS = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 Edg/126.0.2592.87",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
]
BOT_UA = "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
NETWORKS = ("linkedin", "x", "facebook", "whatsapp", "email", "copy")
ADDRESS = {"name": "Scale Out", "line1": "Main Street 1", "postcode": "00-001", "city": "Warsaw", "country": "PL"}
REDIS_MARKER = "herald-scaleout:owner"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HX_CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
KEY_RE = re.compile(r'name="key" value="([^"]+)"')


# --------------------------------------------------------------------------- infrastructure


def pick_redis_db(base_url: str, wanted: int | None):
    """A Redis database number nobody else uses (empty, then marked as ours); returns (client, db)."""
    import redis

    candidates = [wanted] if wanted is not None else list(range(11, 0, -1))  # 12-15: the test suite's
    for number in candidates:
        client = redis.Redis.from_url(f"{base_url.rstrip('/')}/{number}")
        if client.set(REDIS_MARKER, str(os.getpid()), nx=True, ex=6 * 3600):
            if client.dbsize() == 1:
                return client, number
            client.delete(REDIS_MARKER)
        client.close()
    raise SystemExit(f"no empty Redis database among {candidates} on {base_url}")


class Herald:
    """One process group: a web host (``serve --no-tasks``) or a Huey consumer."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name, self.log_path, self.stopped = name, log_path, False
        with log_path.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, sig: int) -> None:
        """Ask politely, then SIGKILL the whole process group (gunicorn workers, the ingester); once only,
        so that a process group id the system has handed on since is never signalled."""
        if not self.stopped:
            stop_process(self.proc, sig, group=True, grace=20)
            self.stopped = True


def stop_all(started: list[Herald]) -> None:
    """Signal every host (SIGTERM: ``serve`` stops its gunicorn and ingester) and consumer (SIGINT) at once,
    then wait for each, SIGKILLing a process group that outlives the grace time."""
    for herald in started:
        if not herald.stopped and herald.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                herald.proc.send_signal(signal.SIGTERM if herald.name.startswith("host") else signal.SIGINT)
    for herald in started:
        herald.stop(signal.SIGTERM)


def wait_healthy(host: Herald, port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.proc.poll() is not None:
            raise RuntimeError(f"{host.name} exited:\n{host.tail()}")
        with contextlib.suppress(OSError):
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.3)
    raise RuntimeError(f"{host.name} did not answer /healthz within {timeout:.0f} s:\n{host.tail()}")


# --------------------------------------------------------------------------- seeding (through the services)


def seed(employees: int, stock: int, codes: int) -> dict:
    """Migrate; people with a starting balance, posts, rewards; click caps lifted so every unique click earns."""
    from app import create_app
    from app.accounts import services as accounts
    from app.content import services as content
    from app.database import write_intent
    from app.extensions import db
    from app.gamification import ledger, rules
    from app.org import services as org
    from rewards import services as rewards
    from rewards.models import Reward, RewardVariant

    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        logging.disable(logging.INFO)  # Alembic's line per migration
        try:
            upgrade(directory=str(ROOT / "migrations"))
        finally:
            logging.disable(logging.NOTSET)
    with app.app_context(), write_intent():
        dept = org.get_or_create_department("Sales")
        loc = org.get_or_create_location("Warsaw", "Europe/Warsaw")
        admin = accounts.create_user(f"admin@{DOMAIN}", "Ada Admin", roles=["employee", "admin"], password=PASSWORD,
                                     status="active", department=dept, location=loc)  # fmt: skip
        people = [
            accounts.create_user(
                f"e{i:03d}@{DOMAIN}", f"Employee {i}", password=PASSWORD, status="active", department=dept, location=loc
            )  # fmt: skip
            for i in range(employees)
        ]
        accounts.create_user(f"victim@{DOMAIN}", "Vic Tim", password=PASSWORD, status="active")
        # Caps would make "one award per unique click" depend on the order clicks arrive in.
        rules.save_rules({"caps": {"click": {"points": 10**9}, "total": {"points": 10**9}}}, admin)
        for person in people:
            ledger.adjust(person, 200, "Scale-out starting balance", admin, f"scaleout-start:{person.id}")
        posts = [
            content.create_post(
                content.PostData(
                    title=f"Scale-out story {n}",
                    url=f"https://example.com/news/{n}",
                    action="publish",
                    captions=[("generic", "A", "Worth a read: {title} {link}")],
                ),
                admin,
            )  # fmt: skip
            for n in range(4)
        ]
        hoodie = Reward(kind="merch", title="Scale-out hoodie", cost=40, requires_approval=True)
        hoodie.variants = [RewardVariant(label="M", stock=stock)]
        mug = Reward(kind="merch", title="Scale-out mug", cost=25, requires_approval=False)
        mug.variants = [RewardVariant(label="One size", stock=100_000)]
        card = Reward(kind="gift_card", title="Scale-out gift card", cost=50, requires_approval=False)
        db.session.add_all([hoodie, mug, card])
        db.session.flush()
        added, errors = rewards.import_codes(
            card, "\n".join(f"SCALE-{secrets.token_hex(6)}" for _ in range(codes)).encode()
        )
        if errors:
            raise RuntimeError(f"gift codes refused: {errors}")
        db.session.commit()
        out = {
            "emails": [p.email for p in people],
            "posts": [p.id for p in posts],
            "hoodie": (hoodie.id, hoodie.variants[0].id, stock),
            "mug": (mug.id, mug.variants[0].id),
            "card": (card.id, added),
        }
    with app.app_context():
        db.engine.dispose()
    return out


# --------------------------------------------------------------------------- the load


class Tally:
    """Thread-safe counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()

    def add(self, key, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def __getitem__(self, key) -> int:
        return self.counts[key]


class Employee:
    """A signed-in browser: one ``requests`` session whose cookie works at both hosts (same secret key)."""

    def __init__(self, email: str, address: str, ports: list[int], timeout: float):
        import requests

        self.email, self.ports, self.timeout = email, ports, timeout
        self.http = requests.Session()
        # A browser's user agent (the sign-in form and the redirect's bot check see it); one
        # address per person, so that sign-ins are not all counted against one address's limit.
        self.http.headers.update({"User-Agent": PHONE_UAS[0], "X-Forwarded-For": address})
        self.csrf = ""

    def url(self, port: int, path: str) -> str:
        """``path`` at the host on ``port``."""
        return f"http://127.0.0.1:{port}{path}"

    def sign_in(self) -> None:
        """Sign in through the form at one host, then check the session at the other."""
        first, other = self.ports
        page = self.http.get(self.url(first, "/login"), timeout=self.timeout)
        token = CSRF_RE.search(page.text)
        if page.status_code != 200 or token is None:
            raise RuntimeError(f"GET /login: {page.status_code}, no CSRF token")
        form = {"csrf_token": token.group(1), "email": self.email, "password": PASSWORD, "remember": "y"}
        answer = self.http.post(self.url(first, "/login"), data=form, allow_redirects=False, timeout=self.timeout)
        if answer.status_code != 302:
            raise RuntimeError(f"POST /login for {self.email} answered {answer.status_code}")
        feed = self.http.get(self.url(other, "/feed"), allow_redirects=False, timeout=self.timeout)
        found = HX_CSRF_RE.search(feed.text)
        if feed.status_code != 200 or found is None:
            raise RuntimeError(f"the session from :{first} was refused at :{other} ({feed.status_code})")
        self.csrf = found.group(1)


def employee_loop(person: Employee, plan: dict, stop: threading.Event, tally: Tally, codes: list[str],
                  keys: dict, keys_lock: threading.Lock, seed: int, pause: float) -> None:  # fmt: skip
    """Share every (post, network) in turn at alternating hosts; every third turn redeem something."""
    rng = random.Random(seed)
    combos = [(post, network) for post in plan["posts"] for network in NETWORKS]
    rng.shuffle(combos)
    turn = 0
    while not stop.is_set():
        port = person.ports[turn % 2]
        try:
            if turn % 3 == 2:
                redeem_once(person, plan, rng, tally, keys, keys_lock)
            else:
                post, network = combos[turn % len(combos)]
                answer = person.http.post(
                    person.url(port, f"/posts/{post}/share"), data={"csrf_token": person.csrf, "network": network},
                    headers={"Accept": "application/json"}, timeout=person.timeout,
                )  # fmt: skip
                if answer.status_code == 200:
                    body = answer.json()
                    tally.add(("share", port))
                    tally.add("share_first" if body["first"] else "share_again")
                    if body["first"]:
                        codes.append(urllib.parse.urlsplit(body["link"]).path.rsplit("/", 1)[1])
                else:
                    tally.add(("share_error", answer.status_code))
        except Exception as exc:  # count and go on: the checks decide
            tally.add(("client_error", type(exc).__name__))
        turn += 1
        stop.wait(pause)


def redeem_once(person: Employee, plan: dict, rng: random.Random, tally: Tally, keys: dict,
                keys_lock: threading.Lock) -> None:  # fmt: skip
    """Open a reward at one host and confirm at the other; one form in four at both hosts at once (same key)."""
    kind = rng.choice(["hoodie", "card", "mug", "mug"])
    reward_id = plan[kind][0]
    form_port, post_port = rng.sample(person.ports, 2)
    page = person.http.get(person.url(form_port, f"/rewards/{reward_id}"), timeout=person.timeout)
    if page.status_code != 200:
        tally.add(("redeem_error", page.status_code))
        return
    token, key = CSRF_RE.search(page.text), KEY_RE.search(page.text)
    if key is None:
        # The page says "Sold out" or "N points to go" and shows no form: post a stale one anyway
        # (a tab opened earlier), so the server's guards, not the page, have to refuse it.
        tally.add("redeem_stale_form")
        key, token = secrets.token_urlsafe(16), HX_CSRF_RE.search(page.text)
    else:
        key = key.group(1)
    form = {"csrf_token": token.group(1) if token else "", "key": key}
    if kind in ("hoodie", "mug"):
        form.update(variant_id=plan[kind][1], delivery="ship", **ADDRESS)
    both = rng.random() < 0.25
    answers: list = []

    def post(port: int, http) -> None:
        answers.append(http.post(person.url(port, f"/rewards/{reward_id}/redeem"), data=form,
                                 allow_redirects=False, timeout=person.timeout))  # fmt: skip

    if both:
        import requests

        twin = requests.Session()  # a second tab: the same cookies, its own connection
        twin.headers.update(person.http.headers)
        twin.cookies.update(person.http.cookies)
        other = threading.Thread(target=post, args=(form_port, twin))
        other.start()
        post(post_port, person.http)
        other.join()
        twin.close()
        tally.add("redeem_same_key_twice")
    else:
        post(post_port, person.http)
    for answer in answers:
        if answer.status_code == 302 and "/rewards/redemptions/" in answer.headers.get("Location", ""):
            redemption_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
            with keys_lock:
                keys.setdefault(form["key"], set()).add(redemption_id)
            tally.add(("redeem_ok", kind))
        elif answer.status_code == 409:
            text = answer.text
            reason = "sold_out" if "Sold out" in text else "points" if "Not enough points" in text else "other"
            tally.add(("redeem_refused", kind, reason))
        else:
            tally.add(("redeem_error", answer.status_code))


def click_loop(ports: list[int], codes: list[str], stop: threading.Event, tally: Tally, visitors, seed: int,
               rate: float, seen: dict, seen_lock: threading.Lock, timeout: float) -> None:  # fmt: skip
    """Follow tracked links at alternating hosts over kept-alive connections, as many visitors.

    Every new visitor has an address of its own (so a per-address cap on point-earning
    visitors never applies) and a browser user agent; one click in five is a visitor coming
    back to a link they clicked before (not unique again), one in thirty a crawler.
    """
    rng = random.Random(seed)
    conns = {port: HTTPConnection("127.0.0.1", port, timeout=timeout) for port in ports}
    mine: dict[str, list[tuple[str, str]]] = {}
    turn = 0
    next_at = time.monotonic()
    while not stop.is_set():
        if not codes:
            stop.wait(0.05)
            continue
        if rate:
            next_at += 1.0 / rate
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            if stop.is_set():
                break
        code = rng.choice(codes)
        roll = rng.random()
        if roll < 1 / 30:
            ip, ua = visitor_address(next(visitors)), BOT_UA
        elif roll < 0.23 and mine.get(code):
            ip, ua = rng.choice(mine[code])
        else:
            ip, ua = visitor_address(next(visitors)), rng.choice(PHONE_UAS)
            mine.setdefault(code, []).append((ip, ua))
        port = ports[turn % 2]
        turn += 1
        answer = None
        for attempt in (1, 2):
            conn = conns[port]
            try:
                conn.request("GET", f"/r/{code}", headers={"User-Agent": ua, "X-Forwarded-For": ip})
                answer = conn.getresponse()
                answer.read()
                break
            except (RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # The server closed a kept-alive connection as the request went out (gunicorn's
                # keep-alive timeout): like a browser, send it again once on a new connection.
                conn.close()
                conns[port] = HTTPConnection("127.0.0.1", port, timeout=timeout)
                tally.add("click_resent" if attempt == 1 else ("client_error", type(exc).__name__))
            except Exception as exc:  # count it, open a new connection
                tally.add(("client_error", type(exc).__name__))
                conn.close()
                conns[port] = HTTPConnection("127.0.0.1", port, timeout=timeout)
                break
        if answer is None:
            continue
        tally.add(("click", port, answer.status))
        if answer.status == 302 and ua != BOT_UA:
            with seen_lock:
                seen.add((code, ip, ua))
    for conn in conns.values():
        conn.close()


def visitor_address(n: int) -> str:
    """The n-th visitor's own address (public-looking IPv4, each one distinct)."""
    n += 1
    return f"{11 + (n >> 24) % 200}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def wrong_passwords(port: int, attempts: int, start: threading.Event, tally: Tally, timeout: float) -> None:
    """One address trying a wrong password for one account at ``port`` (fires when ``start`` is set)."""
    import requests

    http = requests.Session()
    http.headers.update({"User-Agent": PHONE_UAS[1], "X-Forwarded-For": "203.0.113.66"})
    page = http.get(f"http://127.0.0.1:{port}/login", timeout=timeout)
    token = CSRF_RE.search(page.text)
    start.wait()
    for _ in range(attempts):
        form = {"csrf_token": token.group(1) if token else "", "email": f"victim@{DOMAIN}", "password": "wrong-guess"}
        try:
            answer = http.post(f"http://127.0.0.1:{port}/login", data=form, allow_redirects=False, timeout=timeout)
        except Exception as exc:
            tally.add(("client_error", type(exc).__name__))
            continue
        if answer.status_code == 400 and "do not match" in answer.text:
            tally.add(("login_processed", port))
        elif answer.status_code == 429:
            tally.add(("login_limited", port))
        else:
            tally.add(("login_other", port, answer.status_code))
    http.close()


# --------------------------------------------------------------------------- draining and checking


def redis_counters(client) -> tuple[int, list[int]]:
    """Flask-Limiter's keys in our Redis db, and the counts of the attacking address's and the account's windows."""
    keys = [k.decode() for k in client.scan_iter(match="LIMITS*", count=1000)]
    attack = sorted(int(client.get(k) or 0) for k in keys if "203.0.113.66" in k or f"victim@{DOMAIN}" in k)
    return len(keys), attack


def spool_files(folders: list[Path]) -> int:
    """Spool files that still hold clicks (an empty active file is a worker waiting for clicks)."""
    waiting = 0
    for folder in folders:
        for path in folder.glob("clicks-*"):
            with contextlib.suppress(OSError):
                if not path.name.endswith(".active") or path.stat().st_size:
                    waiting += 1
    return waiting


def drain(instance: Instance, folders: list[Path], answered: int, limit: float) -> tuple[float, int]:
    """Wait until the spools are empty and the click count stops moving; (seconds, rows)."""
    start = time.monotonic()
    last, steady_since = -1, None
    while time.monotonic() - start < limit:
        rows = instance.scalar("SELECT count(*) FROM click")
        if rows == last and rows >= answered and spool_files(folders) == 0:
            steady_since = steady_since or time.monotonic()
            if time.monotonic() - steady_since >= 1.0:
                break
        else:
            steady_since = None
        last = rows
        time.sleep(0.5)
    return time.monotonic() - start, instance.scalar("SELECT count(*) FROM click")


CHECKS = {
    "clicks": "SELECT count(*) FROM click",
    "unique_clicks": "SELECT count(*) FROM click WHERE is_unique",
    "bot_clicks": "SELECT count(*) FROM click WHERE is_bot",
    "click_entries": "SELECT count(*) FROM point_entry WHERE reason = 'click'",
    # Unique clicks with their one award (the ledger key is ``click:<uid>``).
    "awarded_unique": """SELECT count(DISTINCT c.uid) FROM click c JOIN point_entry e
                         ON e.idempotency_key = 'click:' || c.uid WHERE c.is_unique""",
    "duplicate_keys": """SELECT count(*) FROM (SELECT idempotency_key FROM point_entry
                         GROUP BY idempotency_key HAVING count(*) > 1) d""",
    "visitor_unique_twice": """SELECT count(*) FROM (SELECT link_id, day, visitor_hash FROM click WHERE is_unique
                               GROUP BY link_id, day, visitor_hash HAVING count(*) > 1) d""",
    "link_count_drift": """SELECT count(*) FROM tracked_link l WHERE l.click_count !=
                           (SELECT count(*) FROM click c WHERE c.link_id = l.id AND c.is_unique)""",
    "balance_mismatches": """SELECT count(*) FROM (
            SELECT coalesce(b.user_id, e.user_id) AS u FROM point_balance b
            FULL OUTER JOIN (SELECT user_id, sum(delta) AS total FROM point_entry GROUP BY user_id) e
            ON e.user_id = b.user_id WHERE coalesce(b.balance, 0) != coalesce(e.total, 0)) m""",
    "negative_balances": "SELECT count(*) FROM point_balance WHERE balance < 0",
    "shares": "SELECT count(*) FROM share",
    "share_times": "SELECT coalesce(sum(times), 0) FROM share",
    "redemptions": "SELECT count(*) FROM redemption",
    "spend_entries": "SELECT count(*) FROM point_entry WHERE reason = 'redemption'",
    "codes_issued": "SELECT count(*) FROM gift_code WHERE redemption_id IS NOT NULL",
}


def check(instance: Instance, plan: dict) -> dict:
    """Read the books after the hosts stopped."""
    figures = {name: instance.scalar(sql) for name, sql in CHECKS.items()}
    hoodie_id, variant_id, initial = plan["hoodie"]
    card_id, pool = plan["card"]
    stock_left = instance.scalar(f"SELECT stock FROM reward_variant WHERE id = {variant_id}")
    sold = instance.scalar(f"SELECT count(*) FROM redemption WHERE variant_id = {variant_id}")
    card_redemptions = instance.scalar(f"SELECT count(*) FROM redemption WHERE reward_id = {card_id}")
    card_with_code = instance.scalar(
        f"""SELECT count(*) FROM redemption r JOIN gift_code g ON g.redemption_id = r.id
            WHERE r.reward_id = {card_id}"""
    )
    # Over the stock, under zero, a gift card without its own code, or more codes out than redemptions.
    oversold = (
        max(0, sold - initial)
        + max(0, -stock_left)
        + instance.scalar("SELECT count(*) FROM reward_variant WHERE stock < 0")
        + max(0, card_redemptions - pool)
        + (card_redemptions - card_with_code)
        + max(0, figures["codes_issued"] - card_redemptions)
    )
    figures.update(
        hoodie_stock=initial, hoodie_sold=sold, hoodie_left=stock_left, hoodie_leak=initial - sold - stock_left,
        card_pool=pool, card_redemptions=card_redemptions, oversold=oversold,
        double_awards=figures["click_entries"] - figures["awarded_unique"] + figures["duplicate_keys"]
        + figures["visitor_unique_twice"],
        missed_awards=figures["unique_clicks"] - figures["awarded_unique"],
    )  # fmt: skip
    return figures


# --------------------------------------------------------------------------- main


def parse_args(argv):
    """The command line (every option has a default that makes the README's run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--employees", type=int, default=12, help="signed-in employees sharing and redeeming")
    parser.add_argument("--click-threads", type=int, default=4, help="threads following tracked links")
    parser.add_argument(
        "--click-rate", type=float, default=0.0, help="clicks per second in all (0: as fast as they go)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--stock", type=int, default=5, help="the hoodie's stock (one variant)")
    parser.add_argument("--codes", type=int, default=6, help="gift-card codes in the pool")
    parser.add_argument("--login-limit", default="10 per minute", help="HERALD_LOGIN_RATE_LIMIT for both hosts")
    parser.add_argument("--attempts", type=int, default=30, help="wrong-password attempts in all (half per host)")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between an employee's actions")
    parser.add_argument("--pg", default=common.PG_SERVER, help="PostgreSQL server (a fresh database is made there)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server (a free db number is used)")
    parser.add_argument("--redis-db", type=int, default=None, help="use this Redis db number (must be empty)")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="longest wait for the spools to drain")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Start everything, drive the load, drain, stop, check; 0 when every check held."""
    args = parse_args(argv)
    # A SIGTERM (a test's timeout, Ctrl+C from a wrapper) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    common.PG_SERVER = args.pg.rstrip("/")
    # Nothing of the caller's Herald settings (a test run's instance, immediate tasks) leaks in.
    for name in [k for k in os.environ if k.startswith("HERALD_")] + ["FLASK_DEBUG"]:
        os.environ.pop(name, None)
    redis_client, redis_db = pick_redis_db(args.redis, args.redis_db)
    instance = None
    started: list[Herald] = []
    stop = threading.Event()  # ends the load threads, also when something fails midway
    try:
        instance = Instance("postgresql", "scaleout")
        shared = {
            "HERALD_DATABASE_URL": instance.url,
            "HERALD_REDIS_URL": f"{args.redis.rstrip('/')}/{redis_db}",
            "HERALD_SECRET_KEY": secrets.token_urlsafe(48),
            "HERALD_GIFTCARD_KEY": secrets.token_urlsafe(32),
            "HERALD_MEDIA_ROOT": str(instance.tmp / "media"),
            "HERALD_TRUST_PROXY": "1",
            "HERALD_LOGIN_RATE_LIMIT": args.login_limit,
            "PYTHONUNBUFFERED": "1",
        }
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        seed_env = {**base_env, **shared, "HERALD_INSTANCE_PATH": str(instance.folder)}
        instance.env = seed_env
        os.environ.update({k: v for k, v in seed_env.items() if k.startswith("HERALD_")})
        log(f"database {instance.pg_name} on {common.PG_SERVER}; Redis db {redis_db}; temp {instance.tmp}")
        t0 = time.monotonic()
        plan = seed(args.employees, args.stock, args.codes)
        log(f"seeded in {time.monotonic() - t0:.1f} s: {args.employees} employees (200 points each), "
            f"{len(plan['posts'])} posts, hoodie stock {args.stock}, {plan['card'][1]} gift codes, a mug")  # fmt: skip

        ports = [free_port(), free_port()]
        folders = []
        for n, port in enumerate(ports):
            folder = instance.tmp / f"host{n + 1}"
            folders.append(folder / "spool")
            env = {**base_env, **shared, "HERALD_INSTANCE_PATH": str(folder)}
            started.append(Herald(f"host{n + 1}", [
                sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--no-tasks", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(args.workers),
            ], env, instance.tmp / f"host{n + 1}.log"))  # fmt: skip
            # A consumer beside each host, as the README's scale-out section runs them.
            started.append(Herald(f"consumer{n + 1}", [
                sys.executable, "-m", "huey.bin.huey_consumer", "app.worker.huey", "-w", "2", "-k", "thread",
            ], env, instance.tmp / f"consumer{n + 1}.log"))  # fmt: skip
        for host, port in zip(started[0::2], ports, strict=True):
            wait_healthy(host, port)
        log(f"two hosts up on :{ports[0]} and :{ports[1]} ({args.workers} workers each, an ingester each), "
            f"two Huey consumers; {time.monotonic() - t0:.1f} s since start")  # fmt: skip

        people = [
            Employee(email, f"198.18.{n // 250}.{n % 250 + 1}", ports if n % 2 == 0 else ports[::-1], 60)
            for n, email in enumerate(plan["emails"])
        ]
        problems: list[str] = []

        def sign_in(person: Employee) -> None:
            try:
                person.sign_in()
            except Exception as exc:
                problems.append(f"{person.email}: {exc}")

        sign_ins = [threading.Thread(target=sign_in, args=(p,)) for p in people]
        for thread in sign_ins:
            thread.start()
        for thread in sign_ins:
            thread.join()
        if problems:
            raise RuntimeError("sign-in failed: " + "; ".join(problems[:3]))
        log(f"{len(people)} employees signed in (each at one host, session checked at the other); "
            f"{time.monotonic() - t0:.1f} s since start")  # fmt: skip

        tally, attack = Tally(), threading.Event()
        codes: list[str] = []
        keys: dict[str, set[int]] = {}
        seen: set = set()
        keys_lock, seen_lock = threading.Lock(), threading.Lock()
        visitors = itertools.count()
        threads = [
            threading.Thread(
                daemon=True, target=employee_loop, args=(p, plan, stop, tally, codes, keys, keys_lock, n, args.pause)
            )
            for n, p in enumerate(people)
        ]
        per_thread = args.click_rate / args.click_threads if args.click_rate else 0.0
        threads += [
            threading.Thread(
                daemon=True,
                target=click_loop,
                args=(
                    ports,
                    codes,
                    stop,
                    tally,
                    visitors,
                    1000 + n,
                    per_thread,
                    seen,
                    seen_lock,
                    60,
                ),
            )  # fmt: skip
            for n in range(args.click_threads)
        ]
        half = args.attempts // 2
        threads += [
            threading.Thread(daemon=True, target=wrong_passwords, args=(port, count, attack, tally, 60))
            for port, count in zip(ports, (half, args.attempts - half), strict=True)
        ]
        load_start = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds / 3)
        attack.set()  # the wrong passwords fire in a burst while the load runs
        time.sleep(max(0.0, args.seconds - (time.monotonic() - load_start)))
        stop.set()
        stopped = time.monotonic()
        for thread in threads:
            thread.join()
        load_time, join_time = stopped - load_start, time.monotonic() - stopped
        # Read now: a window's counters expire a minute after its first hit.
        limiter_keys, attack_counts = redis_counters(redis_client)

        redirects = sum(n for key, n in tally.counts.items() if key[0] == "click" and key[2] == 302)
        drain_time, rows = drain(instance, folders, redirects, args.drain_timeout)
        from app.tasks import huey

        deadline = time.monotonic() + 15
        while huey.pending_count() and time.monotonic() < deadline:
            time.sleep(0.5)
        pending_tasks = huey.pending_count()
        stopping = time.monotonic()
        stop_all(started)
        stop_time = time.monotonic() - stopping

        figures = check(instance, plan)
        figures.update(
            drain_s=round(drain_time, 1), rows_after_drain=rows, pending_tasks=pending_tasks, limiter_keys=limiter_keys,
            attack_counters=attack_counts,
            load_s=round(load_time, 1), join_s=round(join_time, 1), stop_s=round(stop_time, 1),
            total_s=round(time.monotonic() - t0, 1),
        )  # fmt: skip
        return report(args, ports, tally, figures, redirects, keys, seen)
    finally:
        stop.set()
        stop_all(started)
        if instance is not None:
            instance.close()
        with contextlib.suppress(Exception):
            redis_client.flushdb()  # our db number only
            redis_client.close()


def report(args, ports, tally: Tally, f: dict, redirects: int, keys: dict, seen: set) -> int:
    """Print the figures and the last line; the exit code says whether every check held."""
    counts = tally.counts
    per_host = {port: sum(n for k, n in counts.items() if k[0] == "click" and k[1] == port and k[2] == 302)
                for port in ports}  # fmt: skip
    other_clicks = sum(n for k, n in counts.items() if k[0] == "click" and k[2] != 302)
    client_errors = {k[1]: n for k, n in counts.items() if k[0] == "client_error"}
    shares = counts["share_first"] + counts["share_again"]
    ok = {k[1]: n for k, n in counts.items() if k[0] == "redeem_ok"}
    refused = {f"{k[1]}/{k[2]}": n for k, n in counts.items() if k[0] == "redeem_refused"}
    redeem_errors = {k[1]: n for k, n in counts.items() if k[0] == "redeem_error"}
    same_key_twice = sum(1 for ids in keys.values() if len(ids) > 1)
    processed = {port: counts[("login_processed", port)] for port in ports}
    limited = {port: counts[("login_limited", port)] for port in ports}
    login_other = sum(n for k, n in counts.items() if k[0] == "login_other")
    limit = int(re.match(r"\s*(\d+)", args.login_limit).group(1))
    lost = max(0, redirects - f["clicks"])
    extra = max(0, f["clicks"] - redirects)

    log()
    log(f"load: {f['load_s']} s at both hosts at once (requests in flight then took {f['join_s']} s to finish); "
        f"clicks drained in {f['drain_s']} s after that; hosts and consumers stopped in {f['stop_s']} s; "
        f"{f['total_s']} s from start to the checks")  # fmt: skip
    log(f"redirects: {redirects:,} answered 302 ({per_host[ports[0]]:,} at :{ports[0]}, {per_host[ports[1]]:,} at "
        f":{ports[1]}; {redirects / max(f['load_s'], 1e-9):,.0f}/s), {other_clicks} other answers; "
        f"click rows {f['clicks']:,} (lost {lost}, extra {extra}); {f['bot_clicks']} from crawlers")  # fmt: skip
    log(
        f"unique clicks: {f['unique_clicks']:,} in the click table (the driver sent {len(seen):,} distinct "
        f"browser visitor+link pairs); click ledger entries {f['click_entries']:,}, unique clicks with their award "
        f"{f['awarded_unique']:,}, missed {f['missed_awards']}, duplicate ledger keys {f['duplicate_keys']}, "
        f"a visitor unique twice {f['visitor_unique_twice']}, links whose count drifted {f['link_count_drift']}"
    )
    log(f"shares: {shares:,} answered ({counts[('share', ports[0])]:,} / {counts[('share', ports[1])]:,} per host), "
        f"{counts['share_first']:,} first shares; share rows {f['shares']:,}, their times add up to "
        f"{f['share_times']:,}")  # fmt: skip
    log(
        f"redemptions: {sum(ok.values())} confirmed answers {ok}, refused {refused}, errors {redeem_errors}; "
        f"{counts['redeem_stale_form']} of the forms posted after the page said sold out or too few points; "
        f"{f['redemptions']} redemption rows for {len(keys)} form keys, {counts['redeem_same_key_twice']} forms "
        f"posted at both hosts at once ({same_key_twice} of them made two redemptions); spend entries "
        f"{f['spend_entries']}"
    )
    log(
        f"stock: hoodie {f['hoodie_stock']} -> {f['hoodie_sold']} redeemed, {f['hoodie_left']} left "
        f"(leak {f['hoodie_leak']}); gift card pool {f['card_pool']} -> {f['card_redemptions']} redeemed, "
        f"{f['codes_issued']} codes issued; oversold {f['oversold']}"
    )
    log(f"rate limit '{args.login_limit}' shared across hosts: {args.attempts} wrong passwords from one address, "
        f"processed {sum(processed.values())} ({processed[ports[0]]} + {processed[ports[1]]}), "
        f"answered 429 {sum(limited.values())} ({limited[ports[0]]} + {limited[ports[1]]}), other {login_other}; "
        f"{f['limiter_keys']} limiter keys in Redis; the counters of that address and of the account tried "
        f"(both hosts count into the same ones): {f['attack_counters']}")  # fmt: skip
    log(
        f"balances: {f['balance_mismatches']} differ from their ledger sums, {f['negative_balances']} negative; "
        f"tasks still queued {f['pending_tasks']}; client errors {client_errors or 0}, clicks sent again on a new "
        f"connection after the server closed a kept-alive one {counts['click_resent']}"
    )

    failures = []
    # A request whose answer never arrived (a client error, a resent click) may still have been recorded.
    slack = sum(client_errors.values()) + counts["click_resent"]
    if lost or extra > slack:
        failures.append(f"302s vs click rows: lost {lost}, extra {extra}")
    if other_clicks:
        failures.append(f"{other_clicks} redirects answered something else than 302")
    if f["double_awards"] or f["missed_awards"] or f["link_count_drift"]:
        failures.append("unique clicks and their awards do not match one to one")
    if f["oversold"] or f["hoodie_leak"]:
        failures.append("a reward was oversold or its stock leaked")
    if sum(processed.values()) > limit or login_other or not sum(limited.values()):
        failures.append(f"the sign-in limit did not hold across hosts ({sum(processed.values())} > {limit})")
    if f["balance_mismatches"] or f["negative_balances"]:
        failures.append("balances differ from the ledger")
    if same_key_twice or not (len(keys) <= f["redemptions"] <= len(keys) + slack):
        failures.append("a form key made more or fewer redemptions than one")
    if f["spend_entries"] != f["redemptions"]:
        failures.append("a redemption without exactly one spend entry")
    if not (counts["share_first"] <= f["shares"] <= counts["share_first"] + slack) or not (
        shares <= f["share_times"] <= shares + slack
    ):
        failures.append("share rows do not match the answered shares")
    if not redirects or not shares or not ok:
        failures.append("the load did not get going (no redirects, shares or redemptions)")
    for failure in failures:
        log(f"FAIL: {failure}")
    if args.json:
        args.json.write_text(json.dumps({
            **f, "redirects": redirects, "lost_clicks": lost, "extra_clicks": extra, "shares_answered": shares,
            "first_shares": counts["share_first"], "redeemed": sum(ok.values()), "login_processed":
            sum(processed.values()), "login_limited": sum(limited.values()), "login_limit": limit,
            "same_key_twice": same_key_twice, "form_keys": len(keys), "client_errors": sum(client_errors.values()),
            "clicks_resent": counts["click_resent"],
            "failures": failures,
        }, indent=1))  # fmt: skip
    log(
        f"scaleout hosts=2 redirects={redirects} lost_clicks={lost} double_awards={f['double_awards']} "
        f"oversold={f['oversold']} balance_mismatches={f['balance_mismatches']}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
