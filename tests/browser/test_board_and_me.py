"""The leaderboard and the Me tab on a phone: a podium, my row pinned in view, and a first screen that says it all.

Fifty colleagues earn points through the ledger; the person signed in is 30th.
The board shows the top three on a podium (second, first, third from the left,
with avatars; a colleague hidden from leaderboards stays "Hidden") and keeps my
own row pinned above the tab bar while its place in the list is off screen; the
teams board does the same for my team. The Me tab's first 844 px show the
balance, the streak and the badges (icons, locked ones with their progress).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.accounts.models import User
from app.database import write_intent
from app.extensions import db
from app.gamification import badges, periods
from app.gamification.models import Streak, UserStats
from app.timeutil import utcnow
from tests.helpers import give_points

from .helpers import PASSWORD, PHONE, WCAG_TAGS, describe, run_axe, sign_in

ME = 29  # index among the fifty: 30th place


def fifty_colleagues(app, factory) -> list[int]:
    """Fifty people in 25 two-person departments with 100, 99, ... 51 points; #2 hides from boards."""
    departments = [factory.department(f"Team {n:02d}") for n in range(25)]
    ids = []
    for n in range(50):
        email = "erin@example.com" if n == ME else f"p{n}@example.com"
        name = "Erin Employee" if n == ME else f"Person {n:02d} Colleague"
        ids.append(factory.user(email, name, password=PASSWORD if n == ME else None, department_id=departments[n // 2]))
    with app.app_context(), write_intent():
        db.session.get(User, ids[1]).hide_from_leaderboards = True
        db.session.commit()
    for n, user_id in enumerate(ids):
        give_points(app, user_id, 100 - n)
    return ids


def box(locator) -> dict:
    """The element's box in the viewport (CSS pixels)."""
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return found


def assert_within_first_screen(page, locator, what: str) -> None:
    """The element lies wholly inside the viewport, above the tab bar."""
    shown = box(locator)
    tab_top = box(page.get_by_role("navigation", name="Main"))["y"]
    assert shown["y"] >= 0 and shown["y"] + shown["height"] <= tab_top + 0.5, f"{what}: {shown}, tab bar at {tab_top}"


def assert_accessible(browser, context, live_server, paths) -> None:
    """No axe violations, light and dark (a context that lets axe inject itself, same cookies)."""
    checker = browser.new_context(**PHONE, bypass_csp=True, storage_state=context.storage_state())
    try:
        page = checker.new_page()
        for path in paths:
            assert page.goto(live_server.url + path).ok
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                violations = run_axe(page)
                wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
                assert not wcag, f"{path} ({scheme}):\n{describe(wcag)}"
                assert not violations, f"{path} ({scheme}):\n{describe(violations)}"
    finally:
        checker.close()


def test_podium_and_my_row_pinned_on_a_fifty_person_board(app, browser, context, page, live_server, factory, console):
    fifty_colleagues(app, factory)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/leaderboard")
    rows = page.locator("#board").get_by_role("list", name="Standings").get_by_role("listitem")
    expect(rows).to_have_count(50)

    # The podium: first in the middle, second on the left, third on the right, all in the first screen.
    first, second, third = rows.nth(0), rows.nth(1), rows.nth(2)
    expect(first).to_contain_text("Person 00 Colleague")
    expect(second).to_contain_text("Hidden")
    expect(second).not_to_contain_text("Person 01")
    expect(third).to_contain_text("Person 02 Colleague")
    boxes = [box(first), box(second), box(third)]
    assert boxes[1]["x"] < boxes[0]["x"] < boxes[2]["x"]
    for item, shown in zip((first, second, third), boxes, strict=True):
        assert shown["y"] + shown["height"] <= PHONE["viewport"]["height"]
        expect(item.locator(".avatar")).to_be_visible()
    expect(first.locator(".avatar")).to_have_attribute("data-initials", "PC")
    expect(second.locator(".avatar")).to_have_attribute("data-initials", "?")  # no initials, no photo
    podium_bottom = max(b["y"] + b["height"] for b in boxes)
    assert box(rows.nth(3))["y"] >= podium_bottom - 0.5  # the rest of the list starts below the podium

    # My row, 30th, is far below the first screen but pinned above the tab bar; scrolled to, it sits in place.
    mine = rows.nth(ME)
    expect(mine).to_contain_text("Erin Employee")
    expect(mine).to_contain_text("You")
    expect(mine.locator(".rank")).to_have_attribute("aria-label", "Rank 30")
    expect(mine).to_be_in_viewport()
    assert_within_first_screen(page, mine, "the pinned row")
    expect(rows.nth(20)).not_to_be_in_viewport()  # it is pinned, not reached by scrolling
    rows.nth(ME + 1).scroll_into_view_if_needed()
    expect(mine).to_be_in_viewport()
    assert box(rows.nth(ME - 1))["y"] < box(mine)["y"] < box(rows.nth(ME + 1))["y"]

    # The teams board: my team (15th of 25) is pinned the same way.
    page.evaluate("() => window.scrollTo(0, 0)")
    page.get_by_label("Board").select_option(label="Teams")
    expect(page).to_have_url(re.compile(r"scope=teams"))
    teams = page.locator("#board").get_by_role("list", name="Teams").get_by_role("listitem")
    expect(teams).to_have_count(25)
    my_team = teams.filter(has_text="My team")
    expect(my_team).to_contain_text("Team 14")
    expect(my_team.locator(".rank")).to_have_attribute("aria-label", "Rank 15")
    assert_within_first_screen(page, my_team, "my team's pinned row")
    expect(teams.nth(10)).not_to_be_in_viewport()

    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []
    assert_accessible(browser, context, live_server, ["/leaderboard", "/leaderboard?scope=teams"])


def test_a_person_outside_the_top_list_sees_their_rank_pinned(app, page, live_server, factory, console):
    ids = fifty_colleagues(app, factory)
    erin = factory.user("late@example.com", "Late Comer", password=PASSWORD)
    give_points(app, erin, 1)
    assert len(ids) == 50
    sign_in(page, live_server, "late@example.com")
    page.goto(live_server.url + "/leaderboard")
    pinned = page.locator("#board").get_by_role("status")
    expect(pinned).to_have_text(re.compile(r"You: rank 51 of 51 with 1 point\."))
    assert_within_first_screen(page, pinned, "the pinned rank")


def test_me_first_screen_shows_balance_streak_and_badges(app, browser, context, page, live_server, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    give_points(app, erin, 40)
    with app.app_context(), write_intent():
        user = db.session.get(User, erin)
        week = periods.streak_key(utcnow(), user.timezone, "weekly")
        db.session.add(Streak(user_id=erin, period="weekly", current=3, longest=3, last_key=week, freezes=0))
        db.session.add(UserStats(user_id=erin, shares=7))
        db.session.flush()
        assert [b.code for b in badges.evaluate(erin, ("shares",))] == ["first-share"]
        db.session.commit()
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/me")

    balance = page.get_by_role("region", name="My points").locator("[data-balance]")
    expect(balance).to_have_text("40")
    streak = page.get_by_role("region", name="Streak")
    expect(streak).to_contain_text("3 weeks in a row")
    badge_region = page.get_by_role("region", name="Badges")
    items = badge_region.get_by_role("listitem")
    first_share = items.filter(has=page.get_by_text("First share", exact=True))
    regular = items.filter(has=page.get_by_text("Regular", exact=True))
    expect(first_share).not_to_have_class(re.compile(r"\blocked\b"))
    expect(first_share).to_contain_text("Earned")
    expect(regular).to_have_class(re.compile(r"\blocked\b"))
    expect(regular).to_contain_text("7/10 shares")
    expect(regular.locator("progress")).to_have_attribute("value", "7")
    expect(first_share.locator("svg.badge-icon")).to_be_visible()

    # The first screen (390 x 844, above the tab bar): balance, streak, the badges' heading and first row.
    assert_within_first_screen(page, balance, "the balance")
    assert_within_first_screen(page, streak, "the streak")
    assert_within_first_screen(page, badge_region.get_by_role("heading", name="Badges"), "the badges' heading")
    for n in range(4):
        assert_within_first_screen(page, items.nth(n), f"badge {n + 1}")
    # Three to a row on a phone: a grid, not a column of cards (four would break names mid-word).
    assert len({round(box(items.nth(n))["y"]) for n in range(3)}) == 1

    # Recent points: the last five, then a link to all of them.
    for _ in range(7):
        give_points(app, erin, 1)
    page.reload()
    recent = page.get_by_role("region", name="Recent points")
    expect(recent.get_by_role("listitem")).to_have_count(5)
    recent.get_by_role("link", name="Show all my points").click()
    expect(page).to_have_url(live_server.url + "/me/points")

    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []
    assert_accessible(browser, context, live_server, ["/me"])
