"""Screenshots of the employee's screens on a phone, light and dark, for the README and reviews.

The demo company (``flask seed-demo``: posts with images, rewards, 69 people with
points, the demo employee with a balance, badges and a streak) is built in the
test database; the demo employee signs in and each screen is captured at
390 x 844 (viewport only) in both colour schemes.

With ``HERALD_SCREENSHOTS=1`` the PNGs go to ``docs/screenshots/<page>-<light|dark>.png``
(commit them); otherwise to a temporary folder, so ordinary runs (CI) leave the
working tree clean while still checking that every screen can be captured.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.cli import seed_demo_data
from app.database import write_intent
from app.extensions import db

from .helpers import PHONE, sign_in

ROOT = Path(__file__).resolve().parents[2]
SCHEMES = ("light", "dark")
EMAIL = "employee@northwind.example"
# Device pixels per CSS pixel: sharp on a retina README, about 100-250 KB a PNG.
SCALE = 2
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def out_dir(tmp_path) -> Path:
    """docs/screenshots when HERALD_SCREENSHOTS=1, else a throwaway folder."""
    if os.environ.get("HERALD_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def open_feed(page, base):
    page.goto(base + "/feed")
    expect(page.get_by_role("article").first).to_be_visible()


def open_share_sheet(page, base):
    """The first card's share sheet open, its buttons in view."""
    open_feed(page, base)
    card = page.get_by_role("article").first
    card.locator("summary", has_text="Share").tap()
    copy = card.get_by_role("button", name="Copy link", exact=True)
    expect(copy).to_be_visible()
    # The sheet's buttons in the middle of the screen, the card's title above them.
    copy.evaluate("(button) => button.scrollIntoView({block: 'center'})")
    expect(copy).to_be_in_viewport()


def open_rewards(page, base):
    page.goto(base + "/rewards")
    expect(page.locator("main a[href^='/rewards/']").first).to_be_visible()


def open_reward(page, base):
    """The first reward in the catalogue that has a page of its own."""
    page.goto(base + "/rewards")
    hrefs = page.locator("main a[href^='/rewards/']").evaluate_all("links => links.map((a) => a.pathname)")
    reward = next(h for h in hrefs if h.rstrip("/").rsplit("/", 1)[-1].isdigit())
    page.goto(base + reward)
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def open_leaderboard(page, base):
    page.goto(base + "/leaderboard")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def open_me(page, base):
    page.goto(base + "/me")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


SCREENS = {
    "feed": open_feed,
    "share-sheet": open_share_sheet,
    "rewards": open_rewards,
    "reward": open_reward,
    "leaderboard": open_leaderboard,
    "me": open_me,
}


def test_screenshots_of_every_employee_screen_light_and_dark(app, browser, live_server, out_dir):
    with app.app_context():
        with write_intent():
            passwords = seed_demo_data(print_fn=lambda *_: None)
            db.session.commit()
        db.session.remove()

    written = []
    for scheme in SCHEMES:
        context = browser.new_context(
            **PHONE,
            device_scale_factor=SCALE,
            color_scheme=scheme,
            reduced_motion="reduce",
            service_workers="block",  # no install banner or cached shell in the pictures
        )
        try:
            page = context.new_page()
            sign_in(page, live_server, EMAIL, passwords[EMAIL])
            for name, open_screen in SCREENS.items():
                open_screen(page, live_server.url)
                page.wait_for_load_state("networkidle")
                assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
                path = out_dir / f"{name}-{scheme}.png"
                page.screenshot(path=str(path), animations="disabled", caret="hide")
                written.append(path)
        finally:
            context.close()

    assert [p.name for p in written] == [f"{name}-{scheme}.png" for scheme in SCHEMES for name in SCREENS]
    for path in written:
        assert path.is_file(), f"{path} was not written"
        size = path.stat().st_size
        assert 10_000 < size < 400_000, f"{path}: {size} bytes"
        assert png_size(path) == (390 * SCALE, 844 * SCALE), path
