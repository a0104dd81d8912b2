"""Rewards on a phone (390 x 844): pictures, the affordability ring, merch in two taps, copying a gift-card code.

Every tap goes through ``Taps``, so the number of taps a redemption takes is counted,
not assumed: a returning person (a saved address or office) needs two (Redeem, Confirm);
a new person who picks it up at the office needs three (Redeem, the office choice,
Confirm); a new person who has it shipped taps Redeem and Confirm but types the
address first (their name is already filled in). The sheet's Confirm stays on screen
while the sheet is open, even with the whole address form in it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.database import write_intent
from app.extensions import db
from app.media import save_resized_image
from rewards.demo import WIDTHS, reward_picture
from rewards.models import Redemption, Reward, SavedAddress
from tests.helpers import give_points, make_reward, redeem

from .helpers import PASSWORD, PHONE, describe, run_axe, sign_in

HOODIE = "Herald hoodie"
ADDRESS = {"name": "Rita Returning", "line1": "Marszałkowska 1", "postcode": "00-001", "city": "Warsaw",
           "country": "Poland"}  # fmt: skip
TYPED = {"Street and number": "Długa 5", "Postcode": "80-001", "City": "Gdańsk", "Country": "Poland"}
VIEWPORT_HEIGHT = PHONE["viewport"]["height"]


class Taps:
    """Taps made on the page, counted."""

    def __init__(self):
        self.count = 0

    def __call__(self, locator) -> None:
        locator.tap()
        self.count += 1


def add_picture(app, reward_id: int, index: int = 0) -> None:
    """Give a reward a drawn picture, stored as the admin upload stores it."""
    with app.app_context(), write_intent():
        reward = db.session.get(Reward, reward_id)
        paths = save_resized_image(reward_picture(index, "hoodie"), "rewards", WIDTHS, 8 * 1024 * 1024)
        reward.image_path, reward.preview_path = paths["phone"], paths["preview"]
        db.session.commit()


def remember(app, user_id: int, address: dict | None = None, office: int | None = None) -> None:
    """What a past redemption saved: an address, or an office to pick things up at."""
    with app.app_context(), write_intent():
        db.session.merge(SavedAddress(user_id=user_id, address=address, pickup_location_id=office))
        db.session.commit()


def variant_id(app, reward_id: int, label: str) -> int:
    """The id of a reward's variant by its label."""
    with app.app_context():
        return next(v.id for v in db.session.get(Reward, reward_id).variants if v.label == label)


def redemptions_of(app, user_id: int) -> list[tuple[str, dict | None, int | None]]:
    """The person's redemptions as (variant, shipping, pickup office)."""
    with app.app_context():
        rows = db.session.scalars(select(Redemption).where(Redemption.user_id == user_id)).all()
        return [(r.variant.label if r.variant else "", r.shipping, r.pickup_location_id) for r in rows]


def assert_accessible(browser, context, url: str, prepare=None) -> None:
    """axe finds nothing on ``url`` in light and dark (in a twin context that lets it inject its script)."""
    twin = browser.new_context(**PHONE, bypass_csp=True, storage_state=context.storage_state())
    try:
        page = twin.new_page()
        assert page.goto(url).ok
        if prepare:
            prepare(page)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = run_axe(page)
            assert not violations, f"axe on {url} ({scheme}):\n{describe(violations)}"
    finally:
        twin.close()


def sheet(page):
    return page.locator("details.redeem-sheet")


def redeem_button(page):
    return sheet(page).locator("summary", has_text="Redeem")


def confirm_button(page):
    return page.get_by_role("button", name="Confirm and redeem")


def assert_in_view(locator) -> None:
    box = locator.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT_HEIGHT, box


def open_reward(page, live_server, title: str) -> None:
    page.goto(live_server.url + "/rewards")
    page.locator(".reward-grid > li").filter(has_text=title).get_by_role("link", name=title).tap()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def test_catalog_cards_show_picture_cost_and_ring(app, browser, context, page, live_server, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    give_points(app, erin, 30)
    hoodie = make_reward(app, "merch", cost=40, title=HOODIE)
    add_picture(app, hoodie)
    make_reward(app, "experience", cost=20, title="Coffee with the team")  # no picture: the placeholder

    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/rewards")
    cards = page.locator(".reward-grid > li")
    card = cards.filter(has_text=HOODIE)
    picture = card.get_by_role("link", name=HOODIE).locator("img")
    expect(picture).to_be_visible()
    assert page.evaluate("(img) => img.complete && img.naturalWidth", picture.element_handle()) == 640
    expect(card).to_contain_text("40 points")
    ring = card.get_by_role("img", name="75% of the cost")
    expect(ring).to_be_visible()
    box = ring.bounding_box()
    assert abs(box["width"] - box["height"]) < 1, box  # a circle, not squeezed by the text beside it
    expect(card).to_contain_text("Almost there: 10 points to go")

    coffee = cards.filter(has_text="Coffee with the team")
    expect(coffee.locator(".reward-placeholder svg")).to_be_visible()
    expect(coffee.get_by_role("img", name="100% of the cost")).to_be_visible()
    expect(coffee).to_contain_text("You can afford it")
    assert_accessible(browser, context, live_server.url + "/rewards")

    # The reward page shows the picture large: the whole width of the card.
    card.get_by_role("link", name=HOODIE).tap()
    large = page.get_by_role("article").locator("img.reward-picture")
    expect(large).to_be_visible()
    assert large.bounding_box()["width"] >= PHONE["viewport"]["width"] - 40
    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []


@pytest.mark.parametrize("remembered", ["address", "office"])
def test_returning_person_redeems_merch_in_two_taps(app, page, live_server, factory, console, remembered):
    office = factory.location("Warsaw office")
    factory.location("Gdańsk office")
    rita = factory.user("rita@example.com", "Rita Returning", password=PASSWORD)
    give_points(app, rita, 100)
    make_reward(app, "merch", cost=40, title=HOODIE, variants=(("S", 0), ("M", 3), ("L", 3)))
    tee = make_reward(app, "merch", cost=10, title="Herald T-shirt", variants=(("M", 3), ("L", 3)))
    assert redeem(app, rita, tee, variant_id=variant_id(app, tee, "L"))[0]  # last time: an L
    if remembered == "address":
        remember(app, rita, address=ADDRESS)
    else:
        remember(app, rita, address=ADDRESS, office=office)

    sign_in(page, live_server, "rita@example.com")
    open_reward(page, live_server, HOODIE)
    tap = Taps()
    tap(redeem_button(page))
    expect(redeem_button(page)).to_be_hidden()  # the Redeem button hides while the sheet is open
    if remembered == "address":
        expect(page.get_by_label("Ship it to me")).to_be_checked()
        expect(page.get_by_label("Street and number")).to_have_value(ADDRESS["line1"])
        expect(page.get_by_label("Office", exact=True)).to_be_hidden()
    else:
        expect(page.get_by_label("Pick it up at an office")).to_be_checked()
        expect(page.get_by_label("Office", exact=True)).to_have_value(str(office))
        expect(page.get_by_label("Street and number")).to_be_hidden()
    expect(page.get_by_label("Size or colour").locator("option:checked")).to_have_text("L")  # their size
    assert_in_view(confirm_button(page))
    tap(confirm_button(page))

    expect(page).to_have_url(re.compile(r"/rewards/redemptions/\d+$"))
    expect(page.get_by_role("status").filter(has_text="Redeemed!")).to_be_visible()
    assert tap.count == 2
    expected = ({**ADDRESS, "line2": "", "phone": ""}, None) if remembered == "address" else (None, office)
    assert redemptions_of(app, rita)[-1] == ("L", *expected)
    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []


def test_new_person_picks_it_up_in_three_taps_with_confirm_in_view(
    app, browser, context, page, live_server, factory, console
):
    office = factory.location("Warsaw office")
    factory.location("Gdańsk office")
    nina = factory.user("nina@example.com", "Nina New", password=PASSWORD, location_id=office)
    give_points(app, nina, 100)
    hoodie = make_reward(app, "merch", cost=40, title=HOODIE, variants=(("M", 3), ("L", 3)))

    sign_in(page, live_server, "nina@example.com")
    open_reward(page, live_server, HOODIE)
    tap = Taps()
    tap(redeem_button(page))
    # Nothing remembered: shipping is the default, with the whole address form, and Confirm still in view.
    expect(page.get_by_label("Ship it to me")).to_be_checked()
    expect(page.get_by_label("Full name")).to_have_value("Nina New")
    expect(page.get_by_label("Street and number")).to_be_visible()
    expect(page.get_by_label("Office", exact=True)).to_be_hidden()
    assert_in_view(confirm_button(page))
    assert_accessible(browser, context, f"{live_server.url}/rewards/{hoodie}",
                      prepare=lambda p: redeem_button(p).tap())  # fmt: skip

    tap(page.get_by_label("Pick it up at an office"))
    expect(page.get_by_label("Office", exact=True)).to_have_value(str(office))  # their own office, already chosen
    expect(page.get_by_label("Street and number")).to_be_hidden()
    assert_in_view(confirm_button(page))
    tap(confirm_button(page))

    expect(page).to_have_url(re.compile(r"/rewards/redemptions/\d+$"))
    assert tap.count == 3
    assert redemptions_of(app, nina) == [("M", None, office)]
    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []


def test_new_person_ships_with_two_taps_after_typing_the_address(app, page, live_server, factory, console):
    noah = factory.user("noah@example.com", "Noah New", password=PASSWORD)
    give_points(app, noah, 100)
    make_reward(app, "merch", cost=40, title=HOODIE, variants=(("M", 3),))

    sign_in(page, live_server, "noah@example.com")
    open_reward(page, live_server, HOODIE)
    tap = Taps()
    tap(redeem_button(page))
    for label, value in TYPED.items():
        page.get_by_label(label, exact=True).fill(value)
        assert_in_view(confirm_button(page))  # the footer stays put while the form scrolls under it
    tap(confirm_button(page))

    expect(page).to_have_url(re.compile(r"/rewards/redemptions/\d+$"))
    assert tap.count == 2  # plus the four fields typed: name is filled in already
    [(variant, shipping, office)] = redemptions_of(app, noah)
    assert (variant, shipping["name"], shipping["city"], office) == ("M", "Noah New", "Gdańsk", None)

    # Next time the address is remembered: Redeem, Confirm.
    open_reward(page, live_server, HOODIE)
    tap = Taps()
    tap(redeem_button(page))
    expect(page.get_by_label("City")).to_have_value("Gdańsk")
    tap(confirm_button(page))
    expect(page).to_have_url(re.compile(r"/rewards/redemptions/\d+$"))
    assert tap.count == 2 and len(redemptions_of(app, noah)) == 2


def open_the_hoodie_sheet(page, live_server, factory, app) -> int:
    """Erin (100 points) opens the hoodie's redeem sheet; returns her id."""
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    give_points(app, erin, 100)
    make_reward(app, "merch", cost=40, title=HOODIE)

    sign_in(page, live_server, "erin@example.com")
    open_reward(page, live_server, HOODIE)
    redeem_button(page).tap()
    return erin


def test_sheet_closes_with_not_now_and_shows_redeem_again(page, live_server, factory, app, console):
    erin = open_the_hoodie_sheet(page, live_server, factory, app)
    expect(page.get_by_role("heading", name=f"Redeem “{HOODIE}”")).to_be_focused()
    page.get_by_role("link", name="Not now").tap()
    expect(sheet(page)).not_to_have_attribute("open", "")
    expect(redeem_button(page)).to_be_visible()
    expect(redeem_button(page)).to_be_focused()
    assert redemptions_of(app, erin) == []


def test_tab_stays_in_the_open_sheet_until_it_closes(page, live_server, factory, app, console):
    open_the_hoodie_sheet(page, live_server, factory, app)
    in_sheet = "() => document.activeElement.closest('details.redeem-sheet[open]') !== null"
    for _ in range(25):  # more stops than the sheet has, so Tab would leave it if it could
        page.keyboard.press("Tab")
        assert page.evaluate(in_sheet), page.evaluate("() => document.activeElement.outerHTML")
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(in_sheet), page.evaluate("() => document.activeElement.outerHTML")
    page.keyboard.press("Escape")
    expect(redeem_button(page)).to_be_focused()
    page.keyboard.press("Shift+Tab")  # the page behind is usable again
    assert page.evaluate("() => document.activeElement !== document.body && !document.activeElement.closest('[inert]')")


def test_revealed_gift_card_code_has_a_copy_button(app, browser, context, page, live_server, factory, console):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    gina = factory.user("gina@example.com", "Gina Gift", password=PASSWORD)
    give_points(app, gina, 100)
    card = make_reward(app, "gift_card", cost=50, title="Bookshop card", codes=("BOOK-1234-ABCD",),
                       requires_approval=False)  # fmt: skip
    created, redemption_id = redeem(app, gina, card)
    assert created

    sign_in(page, live_server, "gina@example.com")
    page.goto(f"{live_server.url}/rewards/redemptions/{redemption_id}/code")
    page.get_by_role("button", name="Show the code").tap()
    expect(page.locator("#gift-code")).to_have_text("BOOK-1234-ABCD")
    copy = page.get_by_role("button", name="Copy the code")
    status = page.get_by_role("status").filter(has_text="Copied")
    expect(status).to_have_count(0)
    copy.tap()
    expect(status).to_have_text("Copied: the code is on your clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == "BOOK-1234-ABCD"

    # With the keyboard: clear the clipboard, focus the button, press Enter.
    page.evaluate("() => navigator.clipboard.writeText('')")
    copy.focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text("Copied: the code is on your clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == "BOOK-1234-ABCD"

    def reveal(p):
        p.get_by_role("button", name="Show the code").click()
        expect(p.get_by_role("button", name="Copy the code")).to_be_visible()

    assert_accessible(browser, context, f"{live_server.url}/rewards/redemptions/{redemption_id}/code", prepare=reveal)
    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []
