"""Browser tests: Herald in real Chromium (Debian's, through Playwright) on a phone-sized screen.

Every test in this folder carries the ``browser`` marker (``pytest -m "not browser"``
leaves them out). Without ``/usr/bin/chromium`` (or the browser ``HERALD_CHROMIUM``
names) they are skipped, unless ``HERALD_REQUIRE_BROWSER=1`` is set (CI), where a
missing browser is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .helpers import ARGS, CHROMIUM, HERE, PHONE, Console


def pytest_collection_modifyitems(config, items):
    """Mark every test collected from this folder as a browser test."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


def chromium_missing_reason() -> str | None:
    """Why Chromium cannot be used here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set HERALD_CHROMIUM)"
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


@pytest.fixture
def console(context):
    """Everything the pages of ``context`` log; CSP violations fail the test at teardown."""
    seen = Console()
    context.on("console", seen.on_console)
    context.on("weberror", lambda web_error: seen.on_page_error(web_error.error))
    yield seen
    assert seen.csp_violations() == [], "the Content Security Policy blocked something"
