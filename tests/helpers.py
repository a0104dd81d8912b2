"""Builders and small helpers shared by tests: they create data the way the product does.

Test modules import from here (or use fixtures from ``conftest.py``), never from one
another: ``tests/test_suite_layout.py`` fails when one does.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import func, select

from app.accounts.models import User
from app.content import services as content
from app.database import write_intent
from app.extensions import db
from app.gamification import ledger
from app.gamification.models import PointBalance, PointEntry
from rewards import services as rewards
from rewards.models import Reward, RewardVariant

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
# The address a merch redemption ships to unless a test gives another.
# .ci/run runs its SQLite and PostgreSQL passes side by side: each flushes Redis databases of its own.
REDIS_RATE_LIMITS, REDIS_TASKS = (12, 13) if os.environ.get("HERALD_TEST_DATABASE_URL") else (14, 15)
ADDRESS = {"name": "Erin E", "line1": "Main St 1", "postcode": "00-001", "city": "Warsaw", "country": "Poland"}

# (inputs tried, inputs accepted) per route in tests/test_inputs_never_crash.py; conftest prints them at the end.
FUZZ_TRIED: dict[str, tuple[int, int]] = {}


def mail_text(message) -> str:
    """The plain-text body of a captured e-mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def link_in(message) -> str:
    """The first http(s) link in a captured e-mail's text."""
    match = re.search(r"https?://\S+", mail_text(message))
    assert match, mail_text(message)
    return match.group(0)


def path_of(url: str) -> str:
    """The path part of an absolute URL (test clients want paths)."""
    return re.sub(r"^https?://[^/]+", "", url)


def get(app, model, pk):
    """Load a row in a fresh app context (what the database holds now)."""
    with app.app_context():
        obj = db.session.get(model, pk)
        if obj is not None:
            db.session.expunge(obj)
        return obj


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_targets(app, users: dict) -> dict:
    """Real rows for every id a route takes, as URL values (``users`` is the ``users`` fixture).

    A department and a location, another person, a campaign with a published post that the
    employee shared and commented on, a pending suggestion, a feed with a new item, a merch
    reward (stock 5, cost 10) and the employee's requested redemption of it, and a gift card
    with one code; the employee holds 500 points. Built through the services, so balances
    equal the ledger.
    """
    from app.content import engagement, services, sharing
    from app.content.models import FeedItem, FeedSource
    from app.org.services import get_or_create_department, get_or_create_location

    with app.test_request_context(method="POST"), write_intent():
        employee = db.session.get(User, users["employee"])
        admin = db.session.get(User, users["admin"])
        dept = get_or_create_department("Sales")
        loc = get_or_create_location("Warsaw", "Europe/Warsaw")
        from app.accounts.services import create_user

        other = create_user("target@example.com", "Target Person", roles=("employee",), status="active",
                            department=dept, location=loc)  # fmt: skip
        campaign = services.create_campaign("Launch", "share", "shares", 10, None)
        post = services.create_post(
            services.PostData(title="Hello", url="https://example.com/a", action="publish", campaign_id=campaign.id),
            admin,
        )
        comment = engagement.add_comment(post, employee, "Nice")
        link = sharing.share_post(post, employee, "linkedin").link
        suggestion = engagement.suggest(employee, "https://example.com/b", "Worth sharing")
        source = FeedSource(url="https://example.com/feed.xml", title="Blog")
        db.session.add(source)
        db.session.flush()
        item = FeedItem(source_id=source.id, guid="1", url="https://example.com/c", title="Item")
        db.session.add(item)
        ledger.award(employee, "adjustment", 500, f"seed:{employee.id}")
        reward = Reward(kind="merch", title="Hoodie", cost=10, active=True)
        reward.variants = [RewardVariant(label="M", stock=5)]
        db.session.add(reward)
        db.session.flush()
        address = {"name": "Erin E", "line1": "Main St 1", "postcode": "00-001", "city": "Warsaw", "country": "PL"}
        gift_card = Reward(kind="gift_card", title="Book voucher", cost=20, active=True)
        db.session.add(gift_card)
        db.session.flush()
        rewards.import_codes(gift_card, b"code\nBOOK-0001-AAAA\n")
        redemption, _created = rewards.redeem(employee, reward, "targets-key-1", variant_id=reward.variants[0].id,
                                              address=address)  # fmt: skip
        db.session.commit()
        survey = make_survey_targets(db.session.get(User, users["hr"]))
        survey |= make_notification_targets(post, employee)
        survey |= make_analytics_targets()
        return {
            **survey,
            "department_id": dept.id, "location_id": loc.id, "user_id": other.id, "campaign_id": campaign.id,
            "post_id": post.id, "comment_id": comment.id, "code": link.rsplit("/", 1)[1],
            "suggestion_id": suggestion.id, "source_id": source.id, "item_id": item.id, "reward_id": reward.id,
            "variant_id": reward.variants[0].id, "redemption_id": redemption.id, "gift_card_id": gift_card.id,
        }  # fmt: skip


def make_survey_targets(hr) -> dict:
    """A launched eNPS pulse (its questions are the first two: ids 1 and 2 in an emptied database)."""
    from surveys import services as surveys

    survey = surveys.create_survey(hr, "enps_pulse")
    wave = surveys.launch(survey, hr)
    db.session.commit()
    return {"survey_id": survey.id, "question_id": survey.questions[0].id, "wave_id": wave.id, "fmt": "csv"}


def make_notification_targets(post, user) -> dict:
    """A call to action on ``post`` (which notifies ``user``), a device of ``user``'s, one notification."""
    from app.notifications import services as notifications
    from app.notifications.models import Notification

    # An address the sender refuses at once (private, not allowed): no test waits on DNS or a network.
    device = notifications.subscribe(user, "https://127.0.0.1:9/push/target", "B" * 87, "A" * 22, "Phone")
    cta = notifications.send_cta(post, None, notifications.CtaData([], [], None, False, "Go", 100))
    db.session.commit()
    note = db.session.scalar(select(Notification.id).where(Notification.user_id == user.id).limit(1))
    return {"cta_id": cta.id, "subscription_id": device.id, "notification_id": note}


def make_analytics_targets() -> dict:
    """A business figure (October 2026 sales), the export of the key figures as CSV, and a live API token."""
    from datetime import date

    from app.analytics import conversions, figures

    figures.save(date(2026, 10, 1), "sales", 1000)
    token, plain = conversions.create_token("Careers site", None)
    db.session.commit()
    return {"name": "kpis", "fmt": "csv", "year": 2026, "month": 10, "kind": "sales", "token_id": token.id,
            "api_token": plain}  # fmt: skip


# --- posts, shares and clicks ---------------------------------------------------------------------------------


def make_post(app, title="Q3 results", action="publish", author=None, **kw):
    """Create a post through the service, committed; returns its id."""
    with app.test_request_context(method="POST"):
        data = content.PostData(title=title, url=kw.pop("url", "https://example.com/q3"), action=action, **kw)
        post = content.create_post(data, db.session.get(User, author) if author else None)
        db.session.commit()
        return post.id


def share(client, post_id, network="linkedin", **data):
    """Share a post as the signed-in ``client`` (the JSON answer); the share must succeed."""
    response = client.post(
        f"/posts/{post_id}/share", data={"network": network, **data}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def code_of(link: str) -> str:
    """The code of a tracked link (``https://…/r/<code>``)."""
    return link.rsplit("/", 1)[1]


def flush(app) -> int:
    """Ingest the spooled clicks now; returns how many were ingested."""
    return app.extensions["herald_redirects"].flusher.flush()


def visit(app, code, ip="203.0.113.7", ua=PHONE_UA, **headers):
    """Follow a tracked link as a stranger (a new client, no cookies) from ``ip``."""
    client = app.test_client()
    return client.get(f"/r/{code}", headers={"User-Agent": ua, **headers}, environ_base={"REMOTE_ADDR": ip})


# --- points -----------------------------------------------------------------------------------------------------


def ledger_sum(app, user_id) -> int:
    """The sum of a person's ledger entries."""
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(PointEntry.delta), 0)).where(PointEntry.user_id == user_id)
        )


def balance(app, user_id) -> int:
    """A person's stored point balance (0 before their first points)."""
    with app.app_context():
        row = db.session.get(PointBalance, user_id)
        return row.balance if row else 0


def balance_and_ledger(app, user_id) -> tuple[int, int]:
    """(balance, ledger sum): equal whenever the books are right."""
    return balance(app, user_id), ledger_sum(app, user_id)


def give_points(app, user_id, points):
    """Award ``points`` to a person as an adjustment, committed."""
    with app.app_context(), write_intent():
        ledger.award(db.session.get(User, user_id), "adjustment", points, f"seed:{user_id}:{secrets.token_hex(4)}")
        db.session.commit()


# --- conversions ------------------------------------------------------------------------------------------------


def make_api_token(app, name="Careers site") -> tuple[int, str]:
    """Create an API token through the service, committed; returns (id, the plain token)."""
    from app.analytics import conversions

    with app.app_context(), write_intent():
        token, plain = conversions.create_token(name, None)
        db.session.commit()
        return token.id, plain


def report_conversion(client, token: str | None, headers: dict | None = None, **body):
    """POST a conversion to the API as the company's server would (``token`` None: no Authorization)."""
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post("/api/v1/conversions", json=body, headers={**auth, **(headers or {})})


# --- rewards ----------------------------------------------------------------------------------------------------


def make_reward(app, kind="merch", cost=10, variants=(("M", 5),), codes=(), **kw) -> int:
    """Create a reward (merch gets ``variants`` of (label, stock); a gift card gets ``codes``); returns its id."""
    with app.app_context(), write_intent():
        reward = Reward(kind=kind, title=kw.pop("title", f"{kind} reward"), cost=cost, **kw)
        reward.variants = (
            [RewardVariant(label=label, stock=stock) for label, stock in variants] if kind == "merch" else []
        )
        db.session.add(reward)
        db.session.flush()
        if codes:
            added, errors = rewards.import_codes(reward, "\n".join(codes).encode())
            assert errors == [] and added == len(codes)
        db.session.commit()
        return reward.id


def redeem(app, user_id, reward_id, key=None, **kw):
    """One redemption attempt in its own app context and transaction; returns (created, id) or (False, message)."""
    with app.app_context(), write_intent():
        user = db.session.get(User, user_id)
        reward = db.session.get(Reward, reward_id)
        variant_id = kw.pop("variant_id", reward.variants[0].id if reward.variants else None)
        try:
            redemption, created = rewards.redeem(user, reward, key or secrets.token_hex(8), variant_id=variant_id,
                                                  address=kw.pop("address", ADDRESS), **kw)  # fmt: skip
            db.session.commit()
            return created, redemption.id
        except rewards.RewardError as exc:
            db.session.rollback()
            return False, str(exc)
        finally:
            db.session.remove()


def run_parallel(n, target):
    """Run ``target(i)`` in ``n`` threads released together; returns their results (any exception fails)."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def work(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # pragma: no cover - reported
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


# --- a web site on 127.0.0.1 (link previews, feeds) -----------------------------------------------------------


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's hook name)
        site = self.server.site
        site.requests.append((self.path, dict(self.headers)))
        route = site.routes.get(self.path)
        if route is None:
            site.send(self, 404, b"not found", "text/plain")
        else:
            route(self)

    def log_message(self, *args):
        pass


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout, size limit) is expected here


class Site:
    """A real web server on 127.0.0.1 in a thread; ``routes`` maps a path to ``fn(handler)``."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self.routes: dict = {}
        self.requests: list[tuple[str, dict]] = []
        self.server = _SiteServer(("127.0.0.1", 0), _SiteHandler)
        self.server.site = self
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        """Shut the server down and wait for its thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @staticmethod
    def send(handler, status, body=b"", content_type="text/html; charset=utf-8", headers=None):
        """Write a whole answer on ``handler``."""
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def page(self, path, body, status=200, content_type="text/html; charset=utf-8", headers=None):
        """Serve a fixed answer at ``path``."""
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = lambda h: self.send(h, status, body, content_type, headers)

    def redirect(self, path, location, status=302):
        """Answer ``path`` with a redirect to ``location``."""
        self.routes[path] = lambda h: self.send(h, status, b"", None, {"Location": location})

    def paths(self):
        """The paths requested so far, in order."""
        return [path for path, _headers in self.requests]
