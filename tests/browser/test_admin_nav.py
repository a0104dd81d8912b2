"""Admin on any screen: one admin navigation with the section marked, the post form's one
publication choice, and file drop zones that work with the keyboard (phone and desktop)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.content.models import Post
from app.extensions import db
from app.timeutil import utcnow
from tests.helpers import make_post, make_reward

from .helpers import PASSWORD, PHONE, Console, describe, run_axe, sign_in

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SCREENS = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture(params=list(SCREENS))
def admin_page(request, browser, live_server, factory):
    """A signed-in admin (who also has the HR role) on a phone or a desktop screen; no CSP violation allowed."""
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin", "hr"), password=PASSWORD)
    context = browser.new_context(**SCREENS[request.param])
    seen = Console()
    context.on("console", seen.on_console)
    page = context.new_page()
    sign_in(page, live_server, "ada@example.com")
    yield page
    context.close()
    assert seen.csp_violations() == [], "the Content Security Policy blocked something"


def admin_pages(app, factory) -> list[tuple[str, str]]:
    """(path, section expected to be marked) for every kind of admin page."""
    erin = factory.user("erin@example.com", "Erin Employee")
    post = make_post(app, "Q3 results")
    card = make_reward(app, "gift_card", cost=5, codes=("CODE-1",), title="Book voucher")
    return [
        ("/admin/", "Overview"),
        ("/admin/users", "People"),
        ("/admin/users/new", "People"),
        ("/admin/users/import", "People"),
        ("/admin/departments", "People"),
        ("/admin/locations", "People"),
        (f"/admin/users/{erin}", "People"),
        (f"/admin/users/{erin}/erase", "People"),
        ("/admin/posts", "Content"),
        ("/admin/posts/new", "Content"),
        (f"/admin/posts/{post}", "Content"),
        (f"/admin/posts/{post}/cta", "Content"),
        ("/admin/suggestions", "Content"),
        ("/admin/feeds", "Content"),
        ("/admin/campaigns", "Campaigns"),
        ("/admin/points", "Points"),
        ("/admin/points/adjust", "Points"),
        ("/admin/badges", "Points"),
        ("/admin/rewards", "Rewards"),
        ("/admin/rewards/new", "Rewards"),
        (f"/admin/rewards/{card}", "Rewards"),
        ("/admin/redemptions", "Rewards"),
        ("/admin/kudos", "Rewards"),
        ("/admin/analytics", "Analytics"),
        ("/admin/analytics/content", "Analytics"),
        ("/admin/analytics/business", "Analytics"),
        ("/admin/analytics/conversions", "Analytics"),
        ("/admin/analytics/tokens", "Analytics"),
        ("/admin/analytics/settings", "Analytics"),
        ("/hr/", "Surveys"),
    ]


def test_every_admin_page_has_one_admin_nav_with_its_section_marked(admin_page, live_server, app, factory):
    page = admin_page
    for path, section in admin_pages(app, factory):
        response = page.goto(live_server.url + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        navs = page.get_by_role("navigation", name="Admin sections")
        expect(navs, path).to_have_count(1)
        current = navs.locator("a[aria-current]")
        expect(current, path).to_have_count(1)
        expect(current, path).to_have_text(section)
        expect(current, path).to_be_in_viewport()  # scrolled into view on a phone
        # No employee tab lights up: only the work area's own item (Admin, or HR for surveys).
        tabs = page.get_by_role("navigation", name="Main").locator("a[aria-current]")
        expect(tabs, path).to_have_count(1)
        expect(tabs, path).to_have_text("HR" if path.startswith("/hr/") else "Admin")


def test_employee_pages_have_no_admin_nav(admin_page, live_server):
    page = admin_page
    page.goto(live_server.url + "/rewards")
    expect(page.get_by_role("navigation", name="Admin sections")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").locator("a[aria-current]")).to_have_text("Rewards")


def _new_post(page, live_server, title: str) -> None:
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Link to share").fill("https://example.com/" + title.lower().replace(" ", "-"))
    page.get_by_label("Title").fill(title)


def _status(app, title: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Post.status).where(Post.title == title))


def test_post_form_shows_the_date_only_for_schedule(admin_page, live_server, app):
    page = admin_page
    _new_post(page, live_server, "Publish me")
    when = page.get_by_role("group", name="Publication")
    date = page.get_by_label("Publish at")
    expect(date).to_be_hidden()
    when.get_by_label("Publish now").check()
    expect(date).to_be_hidden()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(live_server.url + "/admin/posts")
    assert _status(app, "Publish me") == "published"

    _new_post(page, live_server, "Later")
    when.get_by_label("Schedule").check()
    expect(date).to_be_visible()
    tomorrow = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT09:00")
    date.fill(tomorrow)
    when.get_by_label("Save as draft").check()
    expect(date).to_be_hidden()
    when.get_by_label("Schedule").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(live_server.url + "/admin/posts")
    assert _status(app, "Later") == "scheduled"


def test_file_drop_zone_works_with_the_keyboard(admin_page, live_server, tmp_path):
    page = admin_page
    page.goto(live_server.url + "/admin/users/import")
    upload = page.get_by_label("CSV file")
    for _ in range(80):  # Tab through the page to the file input, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement?.type === 'file'"):
            break
    expect(upload).to_be_focused()
    zone = page.locator(".drop").filter(has=upload)
    assert zone.evaluate("(z) => getComputedStyle(z).outlineStyle") == "solid"  # the focus ring shows
    box = zone.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 200
    sheet = tmp_path / "people.csv"
    sheet.write_text("email,name\nnew@example.com,New Person\n")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(sheet))
    expect(zone).to_contain_text("people.csv")
    upload.dispatch_event("dragenter")  # a file dragged over it marks the zone
    expect(zone).to_have_class(re.compile(r"\bover\b"))
    upload.dispatch_event("dragleave")
    expect(zone).not_to_have_class(re.compile(r"\bover\b"))


def test_gift_card_codes_sit_with_their_reward(admin_page, live_server, app):
    page = admin_page
    card = make_reward(app, "gift_card", cost=5, codes=("CODE-1",), title="Book voucher")
    page.goto(live_server.url + "/admin/rewards")
    page.get_by_role("link", name="Upload codes for Book voucher").click()
    codes = page.get_by_role("region", name="Gift-card codes")
    expect(codes).to_be_in_viewport()
    expect(codes.get_by_label("CSV file, one code per line")).to_be_attached()
    assert page.url.endswith(f"/admin/rewards/{card}#gift-codes")


@pytest.mark.browser_context_args(bypass_csp=True)
def test_admin_nav_post_form_and_drop_zones_are_accessible(page, live_server, app, factory):
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin", "hr"), password=PASSWORD)
    card = make_reward(app, "gift_card", cost=5, codes=("CODE-1",), title="Book voucher")
    sign_in(page, live_server, "ada@example.com")
    for path in ("/admin/posts/new", "/admin/rewards", f"/admin/rewards/{card}", "/admin/analytics/tokens"):
        page.goto(live_server.url + path)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = run_axe(page)
            assert not violations, f"axe on {path} ({scheme}):\n{describe(violations)}"
