"""Browser tests: Herald in real Chromium (Debian's, through Playwright) on a phone-sized screen.

Every test in this folder carries the ``browser`` marker (``pytest -m "not browser"``
leaves them out). Without ``/usr/bin/chromium`` they are skipped, unless
``HERALD_REQUIRE_BROWSER=1`` is set (CI), where a missing browser is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
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

# Chromium logs a blocked script/style/connection as "Refused to ... Content Security Policy ...".
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy")


def pytest_collection_modifyitems(config, items):
    """Mark every test collected from this folder as a browser test."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


def chromium_missing_reason() -> str | None:
    """Why Chromium cannot be used here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests need it"
    return None


@pytest.fixture(scope="session", autouse=True)
def _require_chromium():
    """Skip the browser tests without Chromium, or fail them when HERALD_REQUIRE_BROWSER=1."""
    reason = chromium_missing_reason()
    if reason is None:
        return
    if os.environ.get("HERALD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HERALD_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def base_url(_live_server):
    """The live server, so ``page.goto("/feed")`` works.

    Also replaces pytest-playwright 0.10's own ``base_url`` fixture: that one is an
    instance method of a plugin class, which pytest 9.2 deprecates with a warning
    (an error under this project's ``filterwarnings = error``).
    """
    return _live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium (``playwright install`` cannot download here)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A phone: 390 x 844, mobile, touch."""
    return {**browser_context_args, **PHONE}


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


@pytest.fixture
def console(context):
    """Everything the pages of ``context`` log; CSP violations fail the test at teardown."""
    seen = Console()
    context.on("console", seen.on_console)
    context.on("weberror", lambda web_error: seen.on_page_error(web_error.error))
    yield seen
    assert seen.csp_violations() == [], "the Content Security Policy blocked something"


def sign_in(page, live_server, email: str, password: str = PASSWORD) -> None:
    """Sign in through the password form (posted by the context, so the cookie lands in the browser)."""
    response = page.request.post(
        live_server.url + "/login", form={"email": email, "password": password, "remember": "y"}
    )
    assert response.ok, response.status
    assert response.url == live_server.url + "/feed", response.url


def wait_for_service_worker(page) -> None:
    """Wait until an activated service worker controls ``page`` (reloading once if it registered late)."""
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    if page.evaluate("!navigator.serviceWorker.controller"):
        # The worker claims open pages on activation; a reload covers the race where it has not yet.
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=5_000)
    page.wait_for_function("navigator.serviceWorker.controller?.state === 'activated'")


def run_axe(page, tags=AXE_TAGS) -> list[dict]:
    """Inject the vendored axe-core and return its violations on the current page (compact form)."""
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
