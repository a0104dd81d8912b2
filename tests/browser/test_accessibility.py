"""axe-core finds no WCAG 2.1 A/AA (nor best-practice) violations, in light and dark mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .helpers import ADMIN_PAGES, SHELL_PAGES, WCAG_TAGS, describe, run_axe, sign_in

# axe is injected as an inline script, which Herald's CSP refuses; test_csp.py checks the CSP.
pytestmark = pytest.mark.browser_context_args(bypass_csp=True)


def assert_accessible(page, what: str) -> None:
    """No axe violations on the page, in the light and the dark colour scheme."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = run_axe(page)
        wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
        assert not wcag, f"WCAG violations on {what} ({scheme}):\n{describe(wcag)}"
        others = [v for v in violations if v not in wcag]
        assert not others, f"best-practice violations on {what} ({scheme}):\n{describe(others)}"


def test_sign_in_pages(page, live_server):
    page.goto(live_server.url + "/login")
    assert_accessible(page, "the sign-in page")

    # With errors shown: invalid fields are marked and described.
    form = page.get_by_role("region", name="Use your password")
    form.get_by_role("button", name="Sign in").click()
    expect(form.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "the sign-in page with errors")

    magic = page.get_by_role("region", name="Get a sign-in link")
    magic.get_by_label("E-mail").fill("nobody@example.com")
    magic.get_by_role("button", name="E-mail me a link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    assert_accessible(page, "the check-your-e-mail page")

    page.goto(live_server.url + "/offline")
    assert_accessible(page, "the offline page")


def test_shell_pages(page, live_server, factory):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    sign_in(page, live_server, "erin@example.com")
    for path in SHELL_PAGES:
        page.goto(live_server.url + path)
        assert_accessible(page, path)


def test_admin_pages(page, live_server, factory):
    factory.department("Engineering")
    factory.location("Warsaw", "Europe/Warsaw")
    erin = factory.user("erin@example.com", "Erin Employee", status="invited")
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin", "hr"), password="long-enough-pass")
    sign_in(page, live_server, "ada@example.com")
    # The dashboard, the other admin screens, a person's page and HR's home.
    for path in [*ADMIN_PAGES, f"/admin/users/{erin}"]:
        response = page.goto(live_server.url + path)
        assert response is not None
        assert response.ok, f"{path}: {response.status}"
        assert_accessible(page, path)
