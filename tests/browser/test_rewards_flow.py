"""Rewards end to end: redeem a hoodie on a phone, an admin approves and ships it at a desk, the employee follows it.

An employee with 60 points opens the Rewards tab: the hoodie (40 points) is marked
affordable, a 100-point reward is 40 points away. They redeem the hoodie in size L
through the two-tap sheet (a sold-out size cannot be picked), giving a shipping
address, and the Me tab's pill drops to 20. An admin on a desktop screen (their own
browser context) approves the order in the queue, filters the approved ones and
marks it shipped with a carrier and a tracking number. Back on the phone, My
redemptions shows the order shipped, with the tracking number and its timeline.
axe checks every screen on the way (light and dark), each in a twin context that
lets it inject its script.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from rewards.models import Redemption, RewardVariant
from tests.helpers import give_points, make_reward

from .helpers import PASSWORD, PHONE, WCAG_TAGS, Console, describe, run_axe, sign_in

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
HOODIE = "Herald hoodie"
TRIP = "Team trip to the coast"
ADDRESS = {
    "Full name": "Erin Employee",
    "Street and number": "Marszałkowska 1",
    "Postcode": "00-001",
    "City": "Warsaw",
    "Country": "Poland",
}
CARRIER, TRACKING = "DHL", "JD014600006281230704"


def assert_accessible(page, what: str) -> None:
    """No axe violations (WCAG 2.1 A/AA nor best practice) on the page, light and dark."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = run_axe(page)
        wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
        assert not wcag, f"WCAG violations on {what} ({scheme}):\n{describe(wcag)}"
        assert not violations, f"best-practice violations on {what} ({scheme}):\n{describe(violations)}"


def check_with_axe(browser, context, size: dict, url: str, prepare=None) -> None:
    """Open ``url`` in a twin of ``context`` (same cookies and screen, CSP bypassed for axe) and run axe there."""
    checker = browser.new_context(**size, bypass_csp=True, storage_state=context.storage_state())
    path = "/" + url.split("/", 3)[-1]
    try:
        page = checker.new_page()
        response = page.goto(url)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        if prepare:
            prepare(page)
        assert_accessible(page, path)
    finally:
        checker.close()


def sheet(page):
    """The reward page's redeem sheet (a <details>)."""
    return page.locator("details.redeem-sheet")


def open_sheet(page) -> None:
    sheet(page).locator("summary", has_text="Redeem").click()
    expect(sheet(page)).to_have_attribute("open", "")


def open_ship_form(page) -> None:
    """Open the queue's "Ship" form (carrier and tracking number)."""
    page.locator(".queue-item summary", has_text="Ship").click()
    expect(page.get_by_label("Tracking number")).to_be_visible()


def test_redeem_on_the_phone_ship_at_the_desk_and_follow_the_order(
    app, browser, context, page, live_server, factory, console
):
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin"), password=PASSWORD)
    give_points(app, erin, 60)
    hoodie = make_reward(
        app, "merch", cost=40, title=HOODIE, variants=(("S / Navy", 2), ("M / Navy", 0), ("L / Navy", 3))
    )
    make_reward(app, "experience", cost=100, title=TRIP)
    tabs = page.get_by_role("navigation", name="Main")
    pill = tabs.get_by_role("link", name="Me").locator(".pill")

    # 1. The Rewards tab: what 60 points buy, and how far the rest is.
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    expect(pill).to_have_text("60")
    tabs.get_by_role("link", name="Rewards").tap()
    expect(page).to_have_url(live_server.url + "/rewards")
    expect(page.get_by_role("heading", name="Rewards", level=1)).to_be_visible()
    expect(page.get_by_text("You have 60 points to spend.")).to_be_visible()
    cards = page.locator(".reward-grid > li")
    expect(cards).to_have_count(2)
    hoodie_card = cards.filter(has_text=HOODIE)
    expect(hoodie_card).to_contain_text("40 points")
    expect(hoodie_card).to_contain_text("You can afford it")
    trip_card = cards.filter(has_text=TRIP)
    expect(trip_card).to_contain_text("100 points")
    expect(trip_card).to_contain_text("40 points to go")
    expect(trip_card).not_to_contain_text("Almost there")  # 60 %: not yet "almost"
    expect(trip_card.get_by_role("img", name="60% of the cost")).to_be_visible()
    expect(trip_card).not_to_contain_text("You can afford it")
    check_with_axe(browser, context, PHONE, f"{live_server.url}/rewards")

    # 2. The hoodie: the sheet opens on Redeem; the sold-out size is there but cannot be picked.
    hoodie_card.get_by_role("link", name=HOODIE).tap()
    expect(page).to_have_url(f"{live_server.url}/rewards/{hoodie}")
    expect(page.get_by_role("heading", name=HOODIE, level=1)).to_be_visible()
    size = page.get_by_label("Size or colour")
    expect(size).to_be_hidden()
    sheet(page).locator("summary", has_text="Redeem").tap()
    expect(sheet(page)).to_have_attribute("open", "")
    expect(size).to_be_visible()
    options = size.locator("option")
    expect(options).to_have_text(["S / Navy", "M / Navy (sold out)", "L / Navy"])
    expect(options.nth(1)).to_be_disabled()
    expect(options.nth(0)).to_be_enabled()
    expect(options.nth(2)).to_be_enabled()
    check_with_axe(browser, context, PHONE, f"{live_server.url}/rewards/{hoodie}", prepare=open_sheet)

    size.select_option(label="L / Navy")
    expect(page.get_by_label("Ship it to me")).to_be_checked()
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)
    expect(sheet(page)).to_contain_text(f"Confirm: 40 points for “{HOODIE}”.")
    sheet(page).get_by_role("button", name="Confirm and redeem").tap()

    # 3. Redeemed: the order page says so, the order is "Requested", and the pill shows what is left.
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/rewards/redemptions/\d+$"))
    order = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("status").filter(has_text="Redeemed!")).to_have_text(
        "Redeemed! We will keep you posted here."
    )
    expect(page.get_by_role("heading", name=HOODIE, level=1)).to_be_visible()
    status = page.get_by_role("main").locator(".tag")
    expect(status).to_have_text("Requested")
    expect(page.get_by_role("main")).to_contain_text("L / Navy")
    expect(pill).to_have_text("20")
    with app.app_context():
        redemption = db.session.get(Redemption, order)
        assert (redemption.status, redemption.cost, redemption.variant.label) == ("requested", 40, "L / Navy")
        assert (redemption.shipping["city"], redemption.shipping["country"]) == ("Warsaw", "Poland")
        stock = dict(db.session.execute(select(RewardVariant.label, RewardVariant.stock)).all())
        assert stock == {"S / Navy": 2, "M / Navy": 0, "L / Navy": 2}
        db.session.remove()
    check_with_axe(browser, context, PHONE, f"{live_server.url}/rewards/redemptions/{order}")  # with "Cancel"

    # 4. The admin, at a desk: approve the order, then ship it from the approved ones.
    desk = browser.new_context(**DESKTOP)
    desk_console = Console()
    desk.on("console", desk_console.on_console)
    desk.on("weberror", lambda web_error: desk_console.on_page_error(web_error.error))
    try:
        admin = desk.new_page()
        sign_in(admin, live_server, "ada@example.com")
        admin.goto(live_server.url + "/admin/redemptions")
        expect(admin.get_by_role("heading", name="Redemptions", level=1)).to_be_visible()
        expect(admin.get_by_label("Status")).to_have_value("requested")
        item = admin.locator(".queue-item", has_text=f"#{order} {HOODIE}")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("L / Navy · Erin Employee")
        expect(item).to_contain_text("Warsaw, Poland")
        expect(item.locator(".tag")).to_have_text("Requested")
        check_with_axe(browser, desk, DESKTOP, f"{live_server.url}/admin/redemptions")

        item.get_by_role("button", name=f"Approve order {order}").click()
        expect(admin).to_have_url(re.compile(r"/admin/redemptions\?status=requested$"))
        expect(admin.get_by_role("status")).to_have_text("Updated.")
        expect(admin.locator(".queue-item")).to_have_count(0)
        expect(admin.get_by_role("heading", name="Nothing here")).to_be_visible()

        admin.get_by_label("Status").select_option(label="Approved")
        admin.get_by_role("button", name="Filter").click()
        expect(admin).to_have_url(re.compile(r"/admin/redemptions\?status=approved(&|$)"))
        expect(admin.get_by_label("Status")).to_have_value("approved")
        expect(item.locator(".tag")).to_have_text("Approved")
        check_with_axe(
            browser,
            desk,
            DESKTOP,
            f"{live_server.url}/admin/redemptions?status=approved",
            prepare=open_ship_form,
        )
        item.locator("summary", has_text="Ship").click()
        item.get_by_label("Carrier").fill(CARRIER)
        item.get_by_label("Tracking number").fill(TRACKING)
        item.get_by_role("button", name="Mark shipped").click()
        expect(admin.get_by_role("status")).to_have_text("Updated.")
        expect(admin.locator(".queue-item")).to_have_count(0)  # shipped: no longer among the approved
        admin.goto(live_server.url + "/admin/redemptions?status=shipped")
        expect(item.locator(".tag")).to_have_text("Shipped")
        assert [m for m in desk_console.messages if m.startswith(("error:", "pageerror:"))] == []
    finally:
        desk.close()
    assert desk_console.csp_violations() == [], "the Content Security Policy blocked something (admin)"

    # 5. Back on the phone: My redemptions, the order, shipped with its tracking number and timeline.
    tabs.get_by_role("link", name="Rewards").tap()
    expect(page).to_have_url(live_server.url + "/rewards")
    expect(page.get_by_text("You have 20 points to spend.")).to_be_visible()
    expect(page.locator(".reward-grid > li").filter(has_text=HOODIE)).to_contain_text("20 points to go")
    page.get_by_role("main").get_by_role("link", name="My redemptions").tap()
    expect(page).to_have_url(live_server.url + "/rewards/mine")
    expect(page.get_by_role("heading", name="My redemptions", level=1)).to_be_visible()
    mine = page.get_by_role("main").get_by_role("listitem")
    expect(mine).to_have_count(1)
    expect(mine.locator(".tag")).to_have_text("Shipped")
    mine.get_by_role("link").tap()
    expect(page).to_have_url(f"{live_server.url}/rewards/redemptions/{order}")
    expect(status).to_have_text("Shipped")
    expect(page.get_by_role("status").filter(has_text="Shipped with")).to_have_text(
        f"Shipped with {CARRIER}, tracking number {TRACKING}."
    )
    timeline = page.get_by_role("list", name="Status history").get_by_role("listitem")
    expect(timeline).to_have_text(
        [re.compile(r"^\s*Requested\b"), re.compile(r"^\s*Approved\b"), re.compile(r"^\s*Shipped\b")]
    )
    expect(timeline.nth(2)).to_contain_text(f"{CARRIER} {TRACKING}")
    expect(page.get_by_role("button", name="Cancel and get my points back")).to_have_count(0)
    expect(pill).to_have_text("20")
    check_with_axe(browser, context, PHONE, f"{live_server.url}/rewards/redemptions/{order}")
    check_with_axe(browser, context, PHONE, f"{live_server.url}/rewards/mine")

    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []
