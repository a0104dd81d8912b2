"""The share moment on a phone: what the person sees right where they tapped, and their own caption.

Every check looks at the card that was tapped, not the top of the page: on a feed of
three posts the third card is tapped, so a message shown anywhere else would be off
screen (the bug this file guards against).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import make_post

from .helpers import PASSWORD, describe, run_axe, sign_in

PASTE = "Your caption is copied: paste it in the post."
COPIED = "Copied: paste it wherever you share."
CAPTION_LABEL = "Your caption (edit it to sound like you)"


@pytest.fixture
def feed(app, page, live_server, factory, context):
    """Erin signed in on a feed of three posts; returns the third card, its Share sheet open."""
    factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    for n in (1, 2, 3):
        make_post(app, f"Story {n}", url=f"https://news.example.test/{n}",
                  captions=[("generic", "A", "{first_name} recommends: {title}")])  # fmt: skip
    context.route("https://www.linkedin.com/**", lambda route: route.fulfill(status=200, body="ok"))
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    cards = page.get_by_role("article")
    expect(cards).to_have_count(3)
    card = cards.nth(2)
    card.get_by_text("Share", exact=True).tap()
    expect(card.get_by_label(CAPTION_LABEL)).to_be_visible()
    return card


def inside(inner, outer) -> bool:
    """Whether ``inner``'s box lies within ``outer``'s."""
    a, b = inner.bounding_box(), outer.bounding_box()
    return (
        a["x"] >= b["x"]
        and a["y"] >= b["y"]
        and a["x"] + a["width"] <= b["x"] + b["width"]
        and a["y"] + a["height"] <= b["y"] + b["height"]
    )


def test_linkedin_says_where_to_paste_then_asks_on_return(page, feed, console):
    status = feed.get_by_role("status")
    with page.expect_popup() as opened:
        feed.get_by_role("button", name="LinkedIn", exact=True).tap()
        # Before LinkedIn opens, the hint is where the finger is: in the tapped card, on screen.
        expect(status).to_contain_text(PASTE)
        expect(status).to_be_in_viewport()
        assert inside(status, feed)
    popup = opened.value
    popup.wait_for_url(re.compile(r"^https://www\.linkedin\.com/sharing/share-offsite/"), timeout=10_000)
    assert "recommends: Story 1" in page.evaluate("() => navigator.clipboard.readText()")
    popup.close()

    # Back on Herald: "Did you share it?" on that card; answering only closes the question.
    page.bring_to_front()
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    check = feed.get_by_role("group", name="Did you share it?")
    expect(check).to_be_visible()
    expect(check).to_be_in_viewport()
    check.get_by_role("button", name="Not yet").tap()
    expect(check).to_be_hidden()
    expect(status).to_have_text("No problem: share it when you are ready.")
    expect(feed.get_by_text("1 share", exact=True)).to_be_visible()  # the tap counted; "Not yet" undoes nothing


def test_a_blocked_window_leaves_a_link_to_the_network_in_the_card(page, feed, console):
    # Safari blocks a window opened after the pause; then one more tap on the card opens it.
    page.evaluate("() => { window.open = () => null; }")
    feed.get_by_role("button", name="Facebook", exact=True).tap()
    expect(feed.get_by_role("status")).to_have_text(PASTE)
    link = feed.get_by_role("link", name="Open Facebook")
    expect(link).to_be_in_viewport()
    assert link.get_attribute("href").startswith("https://www.facebook.com/sharer/sharer.php?u=")
    assert link.get_attribute("rel") == "noopener" and link.get_attribute("target") == "_blank"


def test_copy_confirms_inside_the_tapped_card(page, feed, console):
    first = page.get_by_role("article").first
    feed.get_by_role("button", name="Copy link", exact=True).tap()
    status = feed.get_by_role("status")
    expect(status).to_have_text(COPIED)
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_be_in_viewport()
    assert inside(status, feed)
    expect(first.get_by_role("status", include_hidden=True)).to_have_text("")
    assert page.locator("#share-status").count() == 0  # no page-wide line under the filter chips


def test_edited_caption_survives_a_reload(page, feed, console):
    caption = feed.get_by_label(CAPTION_LABEL)
    expect(caption).to_have_value("Erin recommends: Story 1")
    with page.expect_response(re.compile(r"/posts/\d+/caption$")) as kept:
        caption.fill("My own words about story one")
        caption.blur()
    assert kept.value.ok
    page.reload()
    card = page.get_by_role("article").nth(2)
    card.get_by_text("Share", exact=True).tap()
    expect(card.get_by_label(CAPTION_LABEL)).to_have_value("My own words about story one")


def test_link_placeholder_puts_the_link_where_it_was(page, feed, live_server, console):
    caption = feed.get_by_label(CAPTION_LABEL)
    hint = feed.get_by_text("Your personal link is added at the end when you share.")
    expect(hint).to_be_visible()
    caption.fill("Read {link} before Friday")
    expect(feed.get_by_text("Your personal link goes where {link} is.")).to_be_visible()
    feed.get_by_role("button", name="Copy link", exact=True).tap()
    expect(feed.get_by_role("status")).to_have_text(COPIED)
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert re.fullmatch(r"Read " + re.escape(live_server.url) + r"/r/[A-Za-z0-9]{10} before Friday", copied), copied


def test_too_long_for_x_says_so_before_sharing(feed, console):
    caption = feed.get_by_label(CAPTION_LABEL)
    caption.fill("a" * 257)  # 257 + a space + a 23-character link = 281
    expect(feed.get_by_text("Too long for X: 281 of 280 characters (a link counts as 23).")).to_be_visible()
    caption.fill("a" * 256)
    expect(feed.get_by_text(re.compile("Too long for X"))).to_be_hidden()


def test_network_buttons_show_icons_without_a_grey_tap_highlight(feed, console):
    for name in ("LinkedIn", "X", "Facebook", "WhatsApp", "E-mail", "Copy link"):
        button = feed.get_by_role("button", name=name, exact=True)
        expect(button.locator("svg use")).to_have_count(1)
        box = button.locator("svg").bounding_box()
        assert box["width"] == box["height"] == 20, (name, box)
        highlight = button.evaluate("(b) => getComputedStyle(b).webkitTapHighlightColor")
        assert highlight == "rgba(0, 0, 0, 0)", (name, highlight)


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
def test_the_share_sheet_with_its_messages_has_no_axe_violations(page, feed):
    feed.get_by_label(CAPTION_LABEL).fill("a" * 300)  # the X warning shows
    feed.get_by_role("button", name="Copy link", exact=True).tap()
    expect(feed.get_by_role("status")).to_have_text(COPIED)
    page.evaluate("() => document.querySelectorAll('.share-check').forEach((c) => { c.hidden = false; })")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = run_axe(page)
        assert not violations, f"axe on the open share sheet ({scheme}):\n{describe(violations)}"


def test_cards_of_the_next_feed_page_say_where_the_link_goes(app, page, live_server, factory, console):
    """The second page of the feed arrives by htmx: its cards are set up like the first page's."""
    factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    make_post(app, "Oldest story", url="https://news.example.test/old",
              captions=[("generic", "A", "Read {link} today")])  # fmt: skip
    for n in range(11):
        make_post(app, f"Story {n}", url=f"https://news.example.test/{n}")
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    cards = page.get_by_role("article")
    expect(cards).to_have_count(10)
    cards.last.scroll_into_view_if_needed()
    expect(cards).to_have_count(12)
    card = cards.filter(has_text="Oldest story")
    card.get_by_text("Share", exact=True).tap()
    expect(card.get_by_text("Your personal link goes where {link} is.")).to_be_visible()
