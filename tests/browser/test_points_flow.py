"""Points end to end on a phone: share, see "+5 points" and a badge at once, then the boards and the Me tab.

An employee of Sales shares a post from the feed; without a reload the toast
announces the points and the "First share" badge, and the Me tab's pill shows the
new balance. The Leaderboard tab's period and board controls (swapped in by htmx,
the URL kept in step) then rank them among their colleagues and Sales among the
teams, and the Me tab shows the balance, the badges, the streak and the ledger.
Finally axe checks both pages with that data on them.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from app.accounts.models import User
from app.extensions import db
from app.timeutil import utcnow
from tests.helpers import make_post

from .helpers import PASSWORD, PHONE, WCAG_TAGS, describe, run_axe, sign_in

LINKEDIN_INTENT = "https://www.linkedin.com/sharing/share-offsite/?url="
TITLE = "Q3 results"


def award(app, user_id: int, key: str, points: int, when=None) -> None:
    """Give a colleague points the way the product does (the ledger), committed."""
    from app.database import write_intent
    from app.gamification import ledger

    with app.app_context(), write_intent():
        result = ledger.award(
            db.session.get(User, user_id), "share", points, key, params={"title": "Old news"}, when=when
        )
        db.session.commit()
        assert result.points == points


def row(*parts: str) -> re.Pattern:
    """A list item's whole text: ``parts`` in order, separated by any whitespace (the markup's newlines)."""
    return re.compile(r"^\s*" + r"\s*".join(map(re.escape, parts)) + r"\s*$")


def board_rows(page):
    """The people on the board shown in #board."""
    return page.locator("#board").get_by_role("list", name="Standings").get_by_role("listitem")


def assert_accessible(page, what: str) -> None:
    """No axe violations (WCAG 2.1 A/AA nor best practice) on the page, light and dark."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = run_axe(page)
        wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
        assert not wcag, f"WCAG violations on {what} ({scheme}):\n{describe(wcag)}"
        assert not violations, f"best-practice violations on {what} ({scheme}):\n{describe(violations)}"


def test_share_earns_points_seen_on_the_boards_and_the_me_tab(
    app, browser, context, page, live_server, factory, console
):
    sales, marketing = factory.department("Sales"), factory.department("Marketing")
    factory.user("erin@example.com", "Erin Employee", password=PASSWORD, department_id=sales)
    sam = factory.user("sam@example.com", "Sam Seller", department_id=sales)
    tara = factory.user("tara@example.com", "Tara Trader", department_id=sales)
    mark = factory.user("mark@example.com", "Mark Marketer", department_id=marketing)
    award(app, sam, "seed:sam", 10)
    award(app, tara, "seed:tara", 3)
    award(app, tara, "seed:tara-old", 30, when=utcnow() - timedelta(days=400))  # counts for "All time" only
    award(app, mark, "seed:mark", 20)
    make_post(app, TITLE, url="https://news.example.test/q3")
    context.route("https://www.linkedin.com/**", lambda route: route.fulfill(status=200, body="ok"))
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    tabs = page.get_by_role("navigation", name="Main")
    pill = tabs.get_by_role("link", name="Me").locator(".pill")

    # 1. Share on LinkedIn from the feed: the toast and the Me tab's pill change in place.
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    expect(pill).to_have_text("0")
    page.evaluate("() => { window.heraldNoReload = true; }")  # gone if the page reloaded
    card = page.get_by_role("article", name=TITLE)
    card.locator("summary", has_text="Share").tap()
    with page.expect_popup() as opened:
        card.get_by_role("button", name="LinkedIn", exact=True).tap()
    toast = page.locator("#toast")
    expect(toast).to_be_visible()  # it hides itself after 4 s
    expect(toast).to_have_text("+5 points · Badge unlocked: First share")
    expect(pill).to_have_text("5")
    popup = opened.value
    popup.wait_for_url(re.compile("^" + re.escape(LINKEDIN_INTENT)), timeout=10_000)
    popup.close()
    assert page.evaluate("() => window.heraldNoReload === true")

    # 2. The Leaderboard tab: the period and board controls swap #board in place and keep the URL in step.
    tabs.get_by_role("link", name="Leaderboard").tap()
    expect(page).to_have_url(live_server.url + "/leaderboard")
    expect(page.get_by_role("heading", name="Leaderboard", level=1)).to_be_visible()
    page.evaluate("() => { window.heraldNoReload = true; }")  # a fresh page: mark it too
    rows = board_rows(page)
    expect(rows).to_have_text(
        [
            row("1", "Mark Marketer", "20 points"),
            row("2", "Sam Seller", "10 points"),
            row("3", "Erin Employee", "You", "5 points"),
            row("4", "Tara Trader", "3 points"),
        ]
    )
    page.get_by_text("All time", exact=True).tap()
    expect(page).to_have_url(re.compile(r"/leaderboard\?period=all&scope=company$"))
    expect(rows.first).to_have_text(row("1", "Tara Trader", "33 points"))
    page.get_by_text("This week", exact=True).tap()
    expect(page.get_by_role("radio", name="This week")).to_be_checked()
    expect(page).to_have_url(re.compile(r"/leaderboard\?period=week&scope=company$"))
    expect(rows.first).to_have_text(row("1", "Mark Marketer", "20 points"))
    page.get_by_label("Board").select_option(label="My department")
    expect(page).to_have_url(re.compile(r"/leaderboard\?period=week&scope=department$"))
    expect(rows).to_have_text(
        [
            row("1", "Sam Seller", "10 points"),
            row("2", "Erin Employee", "You", "5 points"),
            row("3", "Tara Trader", "3 points"),
        ]
    )
    mine = rows.filter(has_text="You")
    expect(mine).to_have_class(re.compile(r"\bmine\b"))
    expect(mine.locator(".rank")).to_have_attribute("aria-label", "Rank 2")
    expect(page.locator("#board .my-rank")).to_have_count(0)  # in the top rows, so no separate "You: rank" line

    page.get_by_label("Board").select_option(label="Teams")
    expect(page).to_have_url(re.compile(r"/leaderboard\?period=week&scope=teams$"))
    teams = page.locator("#board").get_by_role("list", name="Teams").get_by_role("listitem")
    expect(teams).to_have_text(
        [
            row("1", "Marketing", "1 member · 20 points", "20.0 per person"),
            row("2", "Sales", "My team", "3 members · 18 points", "6.0 per person"),
        ]
    )
    expect(teams.filter(has_text="Sales")).to_have_class(re.compile(r"\bmine\b"))
    assert page.evaluate("() => window.heraldNoReload === true")  # htmx swapped; no page load

    # 3. The Me tab: balance, badges earned and locked, streak, ranks and the ledger line.
    tabs.get_by_role("link", name="Me").tap()
    expect(page).to_have_url(live_server.url + "/me")
    expect(pill).to_have_text("5")
    expect(page.get_by_role("region", name="My points").locator("[data-balance]")).to_have_text("5")
    badges = page.get_by_role("region", name="Badges").get_by_role("listitem")
    first_share = badges.filter(has=page.get_by_text("First share", exact=True))
    expect(first_share).to_have_count(1)
    expect(first_share).not_to_have_class(re.compile(r"\blocked\b"))
    expect(first_share).to_contain_text("Earned")
    amplifier = badges.filter(has=page.get_by_text("Amplifier", exact=True))
    expect(amplifier).to_have_class(re.compile(r"\blocked\b"))
    expect(amplifier).to_contain_text("Locked")
    expect(page.get_by_role("region", name="Streak")).to_contain_text(re.compile(r"Current: 1 ·"))
    ranks = page.get_by_role("region", name="My rank this month").get_by_role("listitem")
    expect(ranks).to_have_text(
        [
            row("#3", "Company", "(5 points)"),
            row("#2", "My department", "(5 points)"),
        ]
    )
    recent = page.get_by_role("region", name="Recent points").get_by_role("listitem")
    expect(recent).to_have_count(1)
    expect(recent).to_contain_text("+5")
    expect(recent).to_contain_text(f"shared “{TITLE}” on LinkedIn")

    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []

    # 4. axe on both pages with that data, in a context that lets it inject its script (same cookies).
    checker = browser.new_context(**PHONE, bypass_csp=True, storage_state=context.storage_state())
    try:
        axe_page = checker.new_page()
        for path in ["/leaderboard", "/leaderboard?period=week&scope=department", "/leaderboard?scope=teams", "/me"]:
            response = axe_page.goto(live_server.url + path)
            assert response is not None and response.ok, f"{path}: {response and response.status}"
            assert_accessible(axe_page, path)
    finally:
        checker.close()
