"""Signing in with a magic link from the e-mail, then moving around with the tab bar."""

from __future__ import annotations

import re

from playwright.sync_api import expect

TABS = [
    ("Leaderboard", "/leaderboard"),
    ("Rewards", "/rewards"),
    ("Surveys", "/surveys"),
    ("Me", "/me"),
    ("Feed", "/feed"),
]


def magic_link_from(message, base_url: str) -> str:
    """The sign-in link in the plain-text part of an e-mail."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(re.escape(base_url) + r"/login/magic/\S+", text)
    assert found, f"no sign-in link to {base_url} in:\n{text}"
    return found.group(0)


def test_magic_link_sign_in_and_tab_bar(page, live_server, factory, outbox, console):
    factory.user("erin@example.com", "Erin Employee")

    page.goto(live_server.url + "/login")
    # Two forms ask for an e-mail address: use the one in the magic-link section.
    magic = page.get_by_role("region", name="Get a sign-in link")
    magic.get_by_label("E-mail").fill("erin@example.com")
    magic.get_by_role("button", name="E-mail me a link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    assert len(outbox) == 1
    message = outbox[-1]
    assert message["To"] == "erin@example.com"
    link = magic_link_from(message, live_server.url)

    # Opening the link only shows a button, so mail scanners that follow links use nothing.
    page.goto(link)
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(live_server.url + "/feed")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi Erin")
    expect(page.get_by_role("status")).to_contain_text("Welcome back, Erin.")

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Feed", exact=True)).to_have_attribute("aria-current", "page")
    for name, path in TABS:
        tab = nav.get_by_role("link", name=name, exact=True)
        tab.click()
        expect(page).to_have_url(live_server.url + path)
        expect(tab).to_have_attribute("aria-current", "page")
        expect(nav.locator("[aria-current]")).to_have_count(1)
    # An employee sees no Admin or HR tab.
    expect(nav.get_by_role("link")).to_have_count(len(TABS))

    # The link worked once: a second use is refused.
    page.goto(link)
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
