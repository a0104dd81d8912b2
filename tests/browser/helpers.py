"""Constants and helpers shared by the browser tests and ``make_screenshot.py``."""

from __future__ import annotations

import os
import time
from pathlib import Path

# Debian's Chromium (`playwright install` cannot download here); HERALD_CHROMIUM points elsewhere.
CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PASSWORD = "long-enough-pass"

HERE = Path(__file__).resolve().parent
AXE_VERSION = "4.14.1"
AXE_JS = HERE / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21aa"]
AXE_TAGS = [*WCAG_TAGS, "best-practice"]

# The tabs every employee has, and the screens of an admin who also has the HR role.
SHELL_PAGES = ["/feed", "/leaderboard", "/rewards", "/surveys", "/me"]
ADMIN_PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/import",
    "/admin/departments",
    "/admin/locations",
    "/hr/",
]

# Chromium logs a blocked script/style/connection as "Refused to ... Content Security Policy ...".
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy")


class Console:
    """Console messages and uncaught page errors seen in a browser context."""

    def __init__(self):
        self.messages: list[str] = []

    def on_console(self, msg):
        self.messages.append(f"{msg.type}: {msg.text}")

    def on_page_error(self, error):
        self.messages.append(f"pageerror: {error}")

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if any(marker in m for marker in CSP_MARKERS)]


def sign_in(page, live_server, email: str, password: str = PASSWORD) -> None:
    """Sign in through the password form (posted by the context, so the cookie lands in the browser)."""
    response = page.request.post(
        live_server.url + "/login", form={"email": email, "password": password, "remember": "y"}
    )
    assert response.ok, response.status
    assert response.url == live_server.url + "/feed", response.url


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` (may be an async function) in the page until it is truthy.

    ``page.wait_for_function`` re-evaluates its predicate with ``eval`` inside the
    page, which Herald's CSP (no 'unsafe-eval') blocks; ``page.evaluate`` goes
    through the DevTools protocol and is not subject to the page's CSP.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(50)


def wait_for_service_worker(page) -> None:
    """Wait until an activated service worker controls ``page``.

    ``navigator.serviceWorker.ready`` can resolve while the worker is still
    activating; the worker claims open pages once active, so wait for that.
    """
    wait_until(page, "() => navigator.serviceWorker.controller?.state === 'activated'")


def run_axe(page, tags=AXE_TAGS) -> list[dict]:
    """Inject the vendored axe-core and return its violations on the current page (compact form).

    ``add_script_tag`` inserts an inline script, which Herald's CSP rightly
    refuses: call this in a context made with ``bypass_csp=True``.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help, tags: v.tags,
                nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
            }));
        }""",
        tags,
    )


def describe(violations: list[dict]) -> str:
    """A readable list of axe violations for assertion messages."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {node}" for node in v["nodes"])
    return "\n".join(lines)
