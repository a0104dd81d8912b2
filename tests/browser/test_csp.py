"""Herald's strict Content Security Policy holds: no page needs anything it blocks."""

from __future__ import annotations

from playwright.sync_api import expect

from .helpers import ADMIN_PAGES, SHELL_PAGES


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.ok, f"{url}: {response.status}"
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp, f"{url} is served without the strict CSP"
    assert "style-src 'self'" in csp
    page.wait_for_load_state("load")


def test_no_csp_violations(page, live_server, factory, console):
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin", "hr"), password="long-enough-pass")

    for path in ["/login", "/password/forgot", "/offline"]:
        visit(page, live_server.url + path)

    # Sign in through the real form this time, then tap around.
    page.goto(live_server.url + "/login")
    form = page.get_by_role("region", name="Use your password")
    form.get_by_label("E-mail").fill("ada@example.com")
    form.get_by_label("Password").fill("long-enough-pass")
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/feed")

    for path in [*SHELL_PAGES, *ADMIN_PAGES]:
        visit(page, live_server.url + path)

    # An htmx request (the people search) runs without eval or inline styles.
    page.goto(live_server.url + "/admin/users")
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true") as hx:
        page.get_by_role("searchbox").fill("ada")
    assert hx.value.ok

    assert console.csp_violations() == []
    assert [m for m in console.messages if m.startswith(("error", "pageerror"))] == []


def test_csp_violations_are_seen(page, live_server, console):
    """The check above can fail: an inline script on a Herald page is reported."""
    page.goto(live_server.url + "/login")
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.inlineRan = true';
        document.head.append(script);
    }""")
    page.wait_for_timeout(100)
    assert page.evaluate("window.inlineRan === undefined")
    assert len(console.csp_violations()) == 1
    console.messages.clear()
