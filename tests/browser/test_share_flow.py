"""Sharing end to end on a phone: edit the caption, share to LinkedIn, copy the link, and count the clicks.

An employee shares a post from the feed; an anonymous reader, LinkedIn's preview
bot and the employee themself then follow the tracked link. Only the reader's
click counts, and the employee sees it on the post and on their activity page.
Nothing leaves the machine: LinkedIn is answered by a route in the employee's
context, and the post's own site through the DevTools protocol (see ``article_tab``).
"""

from __future__ import annotations

import base64
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.content.models import Post
from app.extensions import db
from app.tracking.models import Click, TrackedLink
from tests.helpers import make_post

from .helpers import PASSWORD, PHONE, Console, sign_in

# The employee and the reader use real phones. Chromium's own headless user agent
# says "HeadlessChrome", which Herald rightly files under bots.
EMPLOYEE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
READER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)
BOT_UA = "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"

POST_URL = "https://news.example.test/q3?ref=site"
LINKEDIN_INTENT = "https://www.linkedin.com/sharing/share-offsite/?url="
EDITED = "Proud of this quarter: our Q3 numbers are out, have a look!"
PASTE_MESSAGE = "Your caption is copied: paste it in the post."
COPIED_MESSAGE = "Copied: paste it wherever you share."
ARTICLE = "<!doctype html><html lang='en'><title>Q3 results</title><h1>Q3 results</h1></html>"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """The employee's phone, with a phone's user agent (the folder's phone, plus that)."""
    return {**browser_context_args, "user_agent": EMPLOYEE_UA}


def fake_linkedin(context) -> None:
    """Answer LinkedIn inside ``context``: the share window never leaves the machine."""
    context.route("https://www.linkedin.com/**", lambda route: route.fulfill(status=200, body="ok"))


def article_tab(context):
    """A new tab of ``context`` in which the post's site (news.example.test) is answered locally.

    Playwright's routes never see a request reached through an HTTP redirect (by
    design: its own test suite has "should not work with redirects"), so
    ``context.route`` cannot serve the page the 302 of ``/r/<code>`` leads to: Chromium
    would look the host up and fail with ERR_NAME_NOT_RESOLVED. The DevTools
    protocol's Fetch domain does pause redirected requests, so answer them there.
    """
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    body = base64.b64encode(ARTICLE.encode()).decode()

    def answer(event):
        cdp.send(
            "Fetch.fulfillRequest",
            {
                "requestId": event["requestId"],
                "responseCode": 200,
                "responseHeaders": [{"name": "Content-Type", "value": "text/html; charset=utf-8"}],
                "body": body,
            },
        )

    cdp.on("Fetch.requestPaused", answer)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "https://news.example.test/*"}]})
    return page


@pytest.fixture
def visitor(browser):
    """Makes other phones (own cookies, a given user agent); their pages must not break the CSP either."""
    made: list[tuple[object, Console]] = []

    def new(user_agent: str):
        context = browser.new_context(**PHONE, user_agent=user_agent)
        seen = Console()
        context.on("console", seen.on_console)
        context.on("weberror", lambda web_error: seen.on_page_error(web_error.error))
        made.append((context, seen))
        return context

    yield new
    for context, _seen in made:
        context.close()
    assert [m for _context, seen in made for m in seen.csp_violations()] == []


def follow(context, link: str) -> str:
    """Open ``link`` in a new tab of ``context`` as a tap would; the URL the tab ends on."""
    page = article_tab(context)
    page.goto(link)
    expect(page).to_have_url(re.compile(r"^https://news\.example\.test/q3\?"), timeout=10_000)
    expect(page.get_by_role("heading", name="Q3 results")).to_be_visible()
    url = page.url
    page.close()
    return url


def flush_until(app, count: int, timeout: float = 10.0) -> list:
    """Ingest the click spool until ``count`` clicks are in; their (is_unique, is_bot, is_self, link_id).

    The visitor's clicks reach the live server while this runs, so the spool may not
    hold them all yet: poll briefly instead of trusting a single pass.
    """
    flusher = app.extensions["herald_redirects"].flusher
    deadline = time.monotonic() + timeout
    while True:
        flusher.flush()
        with app.app_context():
            rows = db.session.execute(select(Click.is_unique, Click.is_bot, Click.is_self, Click.link_id)).all()
            db.session.remove()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_share_copy_and_the_clicks_that_count(app, context, page, live_server, factory, console, visitor):
    employee = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    post_id = make_post(
        app,
        "Q3 results",
        url=POST_URL,
        hashtags="growth, results",
        captions=[("generic", "A", "{first_name} recommends: {title} {hashtags}")],
    )
    with app.app_context():
        slug = db.session.get(Post, post_id).slug
    fake_linkedin(context)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    # 1. The employee edits the suggested caption and shares on LinkedIn.
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    card = page.get_by_role("article", name="Q3 results")
    expect(card).to_be_visible()
    counts = card.locator(f"[data-share-count='{post_id}']")
    expect(counts).to_have_text("0 shares")
    card.locator("summary", has_text="Share").tap()
    caption = card.get_by_label("Your caption (edit it to sound like you)")
    expect(caption).to_be_visible()
    expect(caption).to_have_value("Erin recommends: Q3 results #growth #results")
    caption.fill(EDITED)
    with page.expect_popup() as opened:
        card.get_by_role("button", name="LinkedIn", exact=True).tap()
    popup = opened.value
    popup.wait_for_url(re.compile("^" + re.escape(LINKEDIN_INTENT)), timeout=10_000)
    linkedin_link = parse_qs(urlsplit(popup.url).query)["url"][0]
    assert re.fullmatch(re.escape(live_server.url) + r"/r/[A-Za-z0-9]{10}", linkedin_link), linkedin_link
    assert popup.evaluate("() => window.opener") is None  # LinkedIn gets no handle on Herald
    expect(card.get_by_role("status")).to_have_text(PASTE_MESSAGE)
    expect(counts).to_have_text("1 share")  # updated in place, no reload
    popup.close()
    # LinkedIn takes only the link (it previews it), so the edited caption waits on the clipboard for pasting.
    assert page.evaluate("() => navigator.clipboard.readText()") == EDITED
    with app.app_context():
        link = db.session.scalar(select(TrackedLink).where(TrackedLink.code == linkedin_link.rsplit("/", 1)[1]))
        assert (link.user_id, link.post_id, link.network) == (employee, post_id, "linkedin")
        linkedin_link_id = link.id
        db.session.remove()

    # 2. Copy link puts the edited caption and another tracked link (the copy network's own) on the clipboard.
    card.get_by_role("button", name="Copy link", exact=True).tap()
    expect(card.get_by_role("status")).to_have_text(COPIED_MESSAGE)
    expect(counts).to_have_text("2 shares")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert EDITED in copied, copied
    copy_links = re.findall(re.escape(live_server.url) + r"/r/[A-Za-z0-9]{10}", copied)
    assert len(copy_links) == 1 and copy_links[0] != linkedin_link, copied

    # 3. A reader taps the LinkedIn link and lands on the article, tagged for analytics.
    landed = urlsplit(follow(visitor(READER_UA), linkedin_link))
    assert (landed.scheme, landed.netloc, landed.path) == ("https", "news.example.test", "/q3")
    assert parse_qs(landed.query) == {
        "ref": ["site"],
        "utm_source": ["linkedin"],
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": [slug],
        "utm_content": ["A"],
    }

    # 4. LinkedIn's preview bot fetches it, and the employee checks their own link.
    follow(visitor(BOT_UA), linkedin_link)
    assert any(c["name"] == "herald_sharer" and c["path"] == "/r/" for c in context.cookies())
    follow(context, linkedin_link)

    clicks = flush_until(app, 3)
    assert len(clicks) == 3, clicks
    assert {row.link_id for row in clicks} == {linkedin_link_id}
    assert sorted((row.is_unique, row.is_bot, row.is_self) for row in clicks) == [
        (False, False, True),  # the employee's own click
        (False, True, False),  # LinkedIn's preview bot
        (True, False, False),  # the reader
    ]

    page.goto(f"{live_server.url}/posts/{post_id}")
    post_card = page.get_by_role("article", name="Q3 results")
    expect(post_card.locator(".counts")).to_contain_text(re.compile(r"\b1 click\b"))
    expect(post_card.locator(".counts")).to_contain_text("2 shares")

    page.goto(live_server.url + "/me/activity")
    shares = page.get_by_role("list", name="My shares").get_by_role("listitem")
    expect(shares).to_have_count(2)
    on_linkedin = shares.filter(has_text="LinkedIn")
    expect(on_linkedin).to_have_count(1)
    expect(on_linkedin.locator(".tag")).to_have_text("1 click")
    expect(shares.filter(has_text="a copied link").locator(".tag")).to_have_text("0 clicks")
    expect(page.locator(".stat", has_text="Unique clicks earned").locator("strong")).to_have_text("1")
