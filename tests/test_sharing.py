"""Sharing, tracked links, the redirect and click attribution."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app import events
from app.content.models import Post, Share
from app.database import write_intent
from app.extensions import db
from app.tracking.clicks import Flusher, ingest_spool
from app.tracking.models import Click, TrackedLink
from tests.helpers import PHONE_UA, balance, code_of, flush, free_port, make_post, share, visit


@pytest.fixture
def captured():
    """Events emitted during the test, by name."""
    seen: dict[str, list] = {"share": [], "click": [], "like": [], "comment": [], "suggestion_approved": []}
    handlers = {}
    for name in seen:

        def handler(sender, _name=name, **kw):
            share = kw.get("share")
            seen[_name].append({**kw, "network": getattr(share, "network", None)})

        handlers[name] = handler
        getattr(events, name).connect(handler)
    yield seen
    for name, handler in handlers.items():
        getattr(events, name).disconnect(handler)


@pytest.fixture
def live_post(app):
    return make_post(app, "Q3 results", url="https://example.com/q3?ref=site&utm_source=old")


def test_share_creates_one_link_and_one_share_per_network(app, client, auth, users, live_post, captured):
    auth.login(users["employee"])
    first = share(client, live_post, "linkedin")
    again = share(client, live_post, "linkedin")
    other = share(client, live_post, "x")
    assert first["link"] == again["link"] != other["link"]
    assert (first["first"], again["first"], other["first"]) == (True, False, True)
    assert again["message"] == "Shared again. Points count once per network."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrackedLink)) == 2
        rows = db.session.scalars(select(Share).order_by(Share.network)).all()
        assert [(s.network, s.times) for s in rows] == [("linkedin", 2), ("x", 1)]
        assert db.session.get(Post, live_post).share_count == 2
    assert [e["network"] for e in captured["share"]] == ["linkedin", "x"]
    assert len(code_of(first["link"])) == 10


def test_share_intents_carry_the_tracked_link(client, auth, users, live_post):
    auth.login(users["employee"])
    linkedin = share(client, live_post, "linkedin")
    assert parse_qs(urlsplit(linkedin["intent_url"]).query)["url"] == [linkedin["link"]]
    x = share(client, live_post, "x", caption="My own words", original="different")
    query = parse_qs(urlsplit(x["intent_url"]).query)
    assert query["url"] == [x["link"]] and query["text"] == ["My own words"]
    facebook = share(client, live_post, "facebook")
    assert parse_qs(urlsplit(facebook["intent_url"]).query)["u"] == [facebook["link"]]
    whatsapp = share(client, live_post, "whatsapp")
    assert whatsapp["link"] in parse_qs(urlsplit(whatsapp["intent_url"]).query)["text"][0]
    email = share(client, live_post, "email")
    assert email["intent_url"].startswith("mailto:?subject=Q3%20results&body=")
    copied = share(client, live_post, "copy")
    assert copied["intent_url"] is None and copied["text"].endswith(copied["link"])


def test_edited_caption_is_used_and_placeholder_link_replaced(client, auth, users, live_post):
    auth.login(users["employee"])
    result = share(client, live_post, "whatsapp", caption="Look {link} now", original="x")
    assert result["text"] == f"Look {result['link']} now"


def test_share_without_javascript_goes_straight_to_the_network(client, auth, users, live_post):
    auth.login(users["employee"])
    response = client.post(f"/posts/{live_post}/share", data={"network": "linkedin"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://www.linkedin.com/sharing/share-offsite/?url=")
    page = client.post(f"/posts/{live_post}/share", data={"network": "copy"}).get_data(as_text=True)
    assert "Your link is ready" in page and "/r/" in page


def test_cannot_share_a_post_outside_my_audience(app, client, auth, factory, users):
    sales = factory.department("Sales")
    post_id = make_post(app, "Sales only", department_ids=[sales])
    auth.login(users["employee"])
    response = client.post(
        f"/posts/{post_id}/share", data={"network": "linkedin"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "This post is no longer available to share."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrackedLink)) == 0


def test_redirect_adds_utm_tags_merged_with_the_stored_query(app, client, auth, users, live_post):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    response = visit(app, code)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "example.com", "/q3")
    assert parse_qs(target.query) == {
        "ref": ["site"],
        "utm_source": ["linkedin"],
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": ["q3-results"],
        "utm_content": ["A"],
    }
    assert "Set-Cookie" not in response.headers  # no session on the hot path


def test_redirect_uses_the_campaign_slug(app, client, auth, users):
    from app.content import services

    with app.test_request_context(method="POST"):
        campaign = services.create_campaign("Spring Hiring 2027", "share", "shares", 10, None).id
        db.session.commit()
    post_id = make_post(app, "Jobs", campaign_id=campaign)
    auth.login(users["employee"])
    code = code_of(share(client, post_id, "x")["link"])
    query = parse_qs(urlsplit(visit(app, code).headers["Location"]).query)
    assert query["utm_campaign"] == ["spring-hiring-2027"] and query["utm_source"] == ["x"]


@pytest.mark.parametrize(
    "path",
    [
        "/r/unknownCode9",
        "/r/",
        "/r/abc",
        "/r//evil.example.com",
        "/r/https://evil.example.com",
        "/r/%2F%2Fevil.example.com",
        "/r/..%2F..%2Flogin",
        "/r/AAAAAAAAAA?next=https://evil.example.com",
        "/r/AAAAAAAAAA/https://evil.example.com",
    ],
)
def test_unknown_codes_are_a_404_page_never_a_redirect(app, path):
    response = app.test_client().get(path, headers={"User-Agent": PHONE_UA})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "We could not find that page." in response.get_data(as_text=True)


def test_no_input_reaches_any_url_but_the_stored_one(app, client, auth, users, live_post):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    for suffix in ("?url=https://evil.example.com", "?next=//evil.example.com", "#https://evil.example.com"):
        response = app.test_client().get(f"/r/{code}{suffix}", headers={"Host": "evil.example.com"})
        assert response.status_code == 302
        assert response.headers["Location"].startswith("https://example.com/q3?")


def test_disabled_link_is_a_404(app, client, auth, users, live_post):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    with app.app_context():
        db.session.execute(db.update(TrackedLink).values(enabled=False))
        db.session.commit()
    app.extensions["herald_redirects"].forget(code)
    assert visit(app, code).status_code == 404


def test_clicks_are_attributed_unique_once_per_visitor_per_day(app, client, auth, users, live_post, captured):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    visit(app, code, ip="198.51.100.1", Referer="https://www.linkedin.com/feed/")
    visit(app, code, ip="198.51.100.1")  # same visitor, same day: recorded, not unique
    visit(app, code, ip="198.51.100.2")
    visit(
        app,
        code,
        ip="198.51.100.3",
        ua="LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    )
    visit(app, code, ip="198.51.100.4", ua="facebookexternalhit/1.1")
    visit(app, code, ip="198.51.100.5", ua="")
    assert flush(app) == 6
    with app.app_context():
        clicks = db.session.scalars(select(Click).order_by(Click.id)).all()
        assert [(c.is_unique, c.is_bot, c.is_self) for c in clicks] == [
            (True, False, False), (False, False, False), (True, False, False),
            (False, True, False), (False, True, False), (False, True, False),
        ]  # fmt: skip
        assert clicks[0].referrer_host == "www.linkedin.com" and clicks[0].network == "linkedin"
        assert db.session.get(Post, live_post).click_count == 2
        assert db.session.scalar(select(TrackedLink.click_count)) == 2
        for c in clicks:
            assert "198.51.100" not in c.visitor_hash and len(c.visitor_hash) == 32
    assert len(captured["click"]) == 2
    page = client.get("/me/activity").get_data(as_text=True)
    assert "2 clicks" in page


def _browser_ua(n: int) -> str:
    return f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{100 + n}.0"


def test_rotating_user_agents_from_one_address_earn_only_a_few_visitors(app, client, auth, users, live_post):
    """35 browser user agents from one IP once earned the sharer the whole daily click cap (+300)."""
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    after_share = balance(app, users["employee"])
    for n in range(35):
        assert visit(app, code, ip="203.0.113.50", ua=_browser_ua(n)).status_code == 302
    assert flush(app) == 35
    with app.app_context():
        clicks = db.session.scalars(select(Click)).all()
        assert len(clicks) == 35  # every click is recorded
        assert sum(c.is_unique for c in clicks) == 5  # the default cap: five colleagues behind one office NAT
        assert db.session.get(Post, live_post).click_count == 5
    assert balance(app, users["employee"]) - after_share == 5 * 10


def test_the_network_cap_is_configurable_and_other_addresses_still_count(app, client, auth, users, live_post):
    app.config["CLICK_VISITORS_PER_NETWORK"] = 2
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    for n in range(4):
        visit(app, code, ip="203.0.113.60", ua=_browser_ua(n))
    for n in range(4):  # one IPv6 site: every address in the same /64 is one network
        visit(app, code, ip=f"2001:db8:1:2::{n + 1}", ua=_browser_ua(n))
    for n in range(6):  # six different addresses, one browser each
        visit(app, code, ip=f"198.51.100.{n + 10}", ua=_browser_ua(0))
    flush(app)
    for n in range(4, 8):  # a later batch from the capped address still earns nothing
        visit(app, code, ip="203.0.113.60", ua=_browser_ua(n))
    flush(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Click).where(Click.is_unique.is_(True))) == 2 + 2 + 6
        assert db.session.get(Post, live_post).click_count == 10
    app.config["CLICK_VISITORS_PER_NETWORK"] = 0  # 0: no cap
    for n in range(8, 11):
        visit(app, code, ip="203.0.113.60", ua=_browser_ua(n))
    flush(app)
    with app.app_context():
        assert db.session.get(Post, live_post).click_count == 13


def test_network_counts_store_no_address(app, client, auth, users, live_post):
    from app.tracking.models import NetworkVisit

    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    visit(app, code, ip="203.0.113.77")
    flush(app)
    with app.app_context():
        row = db.session.scalars(select(NetworkVisit)).one()
        assert row.visitors == 1 and len(row.network_hash) == 32 and "203.0.113" not in row.network_hash


def test_flush_waits_for_the_background_pass_in_progress(app, client, auth, users, live_post, monkeypatch):
    """A flush that finds the flusher thread mid-pass returns only once those clicks are committed."""
    from app.tracking import clicks as click_module

    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    visit(app, code, ip="198.51.100.9")
    claimed = threading.Event()
    slow_read = click_module._read

    def read_slowly(path):
        claimed.set()
        time.sleep(0.5)
        return slow_read(path)

    monkeypatch.setattr(click_module, "_read", read_slowly)
    background = threading.Thread(target=flush, args=(app,))  # stands in for the flusher thread's pass
    background.start()
    assert claimed.wait(5)
    flush(app)
    with app.app_context():
        assert db.session.get(Post, live_post).click_count == 1
    background.join()


def test_a_paused_flusher_ingests_nothing_until_the_pause_ends(app, client, auth, users, live_post):
    """Emptying the tables while the flusher thread ingests deadlocks on PostgreSQL; the pause prevents it."""
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    flusher = app.extensions["herald_redirects"].flusher
    background = threading.Thread(target=flush, args=(app,))
    with flusher.paused():  # before the click: the flusher thread could ingest it in the meantime
        visit(app, code, ip="198.51.100.10")
        background.start()
        background.join(0.5)
        assert background.is_alive()  # waiting for the pause to end
        with app.app_context():
            assert db.session.get(Post, live_post).click_count == 0
            db.session.remove()
    background.join(10)
    assert not background.is_alive()
    with app.app_context():
        assert db.session.get(Post, live_post).click_count == 1


def test_a_web_process_hands_its_clicks_to_the_ingester_on_its_own(app, client, auth, users, live_post):
    """The web process's thread rotates the spool (no explicit flush); the ingester's pass writes the click."""
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    spool = app.extensions["herald_redirects"].spool
    handover = Flusher(app, spool, interval=0.05)
    handover.ensure_running()
    try:
        visit(app, code, ip="198.51.100.11")
        deadline = time.monotonic() + 10
        while not list(spool.folder.glob("clicks-*.ready")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(spool.folder.glob("clicks-*.ready")), "the thread did not hand the spool over"
        with app.app_context():
            assert db.session.get(Post, live_post).click_count == 0  # web processes never write clicks
            db.session.remove()
    finally:
        handover.stop()
    with app.app_context(), write_intent():
        assert ingest_spool(spool) == 1  # one pass of ``flask ingest-clicks``
        db.session.commit()
        assert db.session.get(Post, live_post).click_count == 1
        db.session.remove()


def test_no_raw_ip_is_stored_anywhere(app, client, auth, users, live_post):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    visit(app, code, ip="192.0.2.123")
    flush(app)
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                assert "192.0.2.123" not in repr(tuple(row)), table.name


def test_the_sharers_own_click_is_flagged_not_counted(app, client, auth, users, live_post, captured):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    client.get("/feed")  # the signed-in page sets the sharer cookie
    response = client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    assert response.status_code == 302
    flush(app)
    with app.app_context():
        click = db.session.scalar(select(Click))
        assert (click.is_self, click.is_unique) == (True, False)
    assert captured["click"] == []


def test_a_forged_sharer_cookie_does_not_count(app, client, auth, users, live_post):
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    other = app.test_client()
    other.set_cookie("herald_sharer", f"{users['employee']}.0000000000", path="/r/")
    other.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    flush(app)
    with app.app_context():
        assert db.session.scalar(select(Click.is_self)) is False


def test_ingestion_is_idempotent(app, client, auth, users, live_post):
    """A crash after the commit but before the spool file is deleted must not double count."""
    from app.tracking.clicks import _read, ingest_records

    redirects = app.extensions["herald_redirects"]
    redirects.flusher.stop()  # the background pass would ingest the file before the test reads it
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    visit(app, code)
    redirects.spool.rotate()
    ready = next(Path(redirects.spool.folder).glob("*.ready"))
    records = _read(ready)
    with app.app_context():
        assert ingest_records(records) == 1
        db.session.commit()
        assert ingest_records(records) == 0
        db.session.commit()
    flush(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Click)) == 1
        assert db.session.get(Post, live_post).click_count == 1


SERVER = """
import sys
from werkzeug.serving import make_server
from app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "CLICK_FLUSH_SECONDS": 3600,
                  "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests"})
make_server("127.0.0.1", int(sys.argv[2]), app, threaded=True).serve_forever()
"""


def test_a_worker_killed_with_sigkill_loses_no_answered_click(app, client, auth, users, live_post, tmp_path):
    import urllib.error
    import urllib.request

    app.config["CLICK_VISITORS_PER_NETWORK"] = 0  # forty visitors from one test address must all count
    auth.login(users["employee"])
    code = code_of(share(client, live_post, "linkedin")["link"])
    port = free_port()
    env = {**os.environ, "HERALD_INSTANCE_PATH": app.config["INSTANCE_PATH"], "HERALD_TASKS_IMMEDIATE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, app.config["SQLALCHEMY_DATABASE_URI"], str(port)], env=env,
    )  # fmt: skip

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    answered = 0
    try:
        deadline = time.time() + 30
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline, "server did not start"
                time.sleep(0.2)
        for i in range(40):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/r/{code}", headers={"User-Agent": f"{PHONE_UA} {i}"}
            )
            try:
                opener.open(request, timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 302
                answered += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert answered == 40
    flush(app)  # this process adopts the dead worker's spool file
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Click)) == answered
        assert db.session.get(Post, live_post).click_count == answered


def test_redirects_survive_a_dropped_database_connection(app, client, auth, users, live_post):
    """Lookups keep a connection per thread; when the server drops it (a restart), the next click still goes through."""
    auth.login(users["employee"])
    networks = ("linkedin", "x", "facebook", "whatsapp")
    codes = [code_of(share(client, live_post, network)["link"]) for network in networks]
    redirects = app.extensions["herald_redirects"]

    def follows(code):  # an uncached code: looked up on the database
        response = visit(app, code)
        return response.status_code == 302 and response.headers["Location"].startswith("https://example.com/q3")

    assert follows(codes[0])
    with app.app_context():
        assert db.engine.pool.checkedout() == 0  # the lookup connection is not one of the pool's
        if db.engine.dialect.name == "postgresql":
            lookup = redirects._local.connection.dbapi_connection
            with db.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({lookup.info.backend_pid})")
    assert follows(codes[1])  # on PostgreSQL: a failed lookup, then a retry on a new connection
    with app.app_context():
        db.engine.dispose()  # held lookup connections close with the pool
    assert redirects._held == []
    assert follows(codes[2]) and follows(codes[3])
    assert len(redirects._held) == 1  # this thread's new lookup connection
    assert flush(app) == 4
