"""The analytics dashboard in Chromium: ten measures with charts, filters, an XLSX export, axe, a phone.

The dataset is the hand-made November 2026 of tests/test_analytics.py (its docstring gives the
figures: 5 shares by 3 people in Sales, 8 visits, 7 unique clicks, 6 unique visitors, 1 like and
1 comment by Cat in Engineering, one lead worth 100), plus two months of business figures and an
eNPS pulse that five people answered (three promoters, one detractor: eNPS +40).

1. At 1280 × 900 an admin picks "Custom dates" for November and presses Show: all ten measures
   are there with the month's figures, every chart is drawn by Chart.js, nothing breaks the CSP
   or logs an error.
2. "Key figures as XLSX" downloads a workbook that openpyxl opens, holding the numbers of the page.
3. The filters change the figures: Engineering alone has no shares nor clicks, one like, and its
   eNPS is hidden (one person); Sales in the first week of November has 3 shares.
4. axe finds nothing on the dashboard, content and business pages, light or dark.
5. On a 390 × 844 phone the pages do not scroll sideways.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from app.accounts.models import User
from app.analytics import figures, rollups, services
from app.analytics.models import Conversion
from app.content import services as content
from app.content.models import Comment, PostLike, Share
from app.extensions import db
from app.tracking.models import Click, TrackedLink
from surveys import services as surveys
from surveys.models import Wave
from tests.helpers import make_post

from .helpers import PASSWORD, WCAG_TAGS, describe, run_axe, sign_in, wait_until

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False, "has_touch": False}
NOVEMBER = "period=custom&start=2026-11-01&end=2026-11-30"
TEN_MEASURES = [
    "Participation",
    "Adoption",
    "Organic reach",
    "Organic engagement",
    "Top contributors",
    "Referrals and conversions",
    "Sales and new hires",
    "By network",  # brand awareness: visits by network...
    "Visits by post and campaign",  # ... and by post and campaign
    "Employee satisfaction and eNPS",
    "Earned media value",
]
CHARTS = [
    "Activity by day",
    "Adoption funnel",
    "Visits by network",
    "Earned media value by network",
    "Visits by post",
    "Business figures and advocacy by month",
    "Employee satisfaction",
]

ALL_DRAWN = """() => {
    const canvases = [...document.querySelectorAll('canvas[data-chart]')];
    return canvases.length > 0 && canvases.every((c) => window.Chart && Chart.getChart(c) && c.dataset.chartReady);
}"""
# Each chart's label, its size on screen and how many of its pixels are painted.
PAINTED = """() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    const box = c.getBoundingClientRect();
    return [c.getAttribute('aria-label'), Math.round(box.width), Math.round(box.height), painted];
})"""
# How wide the page is laid out (wider than the screen: it scrolls sideways; on a phone the layout
# viewport grows with the content, so window.innerWidth would not tell).
PAGE_WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
# The key figures table as the page shows it: {measure: [this period, previous period, change]}.
KEY_FIGURES = """(table) => Object.fromEntries([...table.tBodies[0].rows].map(
    (tr) => [tr.cells[0].textContent.trim(), [...tr.cells].slice(1).map((td) => td.textContent.trim())]))"""


def errors(console) -> list[str]:
    return [m for m in console.messages if m.startswith(("error", "pageerror"))]


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


class World:
    """Ids of the hand-made dataset."""


def _link(post_id, user_id, network, variant="A") -> TrackedLink:
    link = TrackedLink(code=f"c{post_id}{user_id}{network}"[:16], post_id=post_id, user_id=user_id, network=network,
                       variant=variant)  # fmt: skip
    db.session.add(link)
    db.session.flush()
    return link


def _share(link: TrackedLink, when: datetime) -> None:
    db.session.add(Share(post_id=link.post_id, user_id=link.user_id, network=link.network, link_id=link.id,
                         variant=link.variant, created_at=when, last_shared_at=when))  # fmt: skip


def _click(link: TrackedLink, when: datetime, visitor: str, unique: bool, n: int, bot=False, own=False) -> None:
    db.session.add(Click(uid=f"u{n}-{visitor}", link_id=link.id, post_id=link.post_id, sharer_id=link.user_id,
                         network=link.network, clicked_at=when, day=when.date(), visitor_hash=visitor,
                         is_bot=bot, is_self=own, is_unique=unique))  # fmt: skip


def _enps_pulse(app, hr_id: int, scores: dict[int, int]) -> None:
    """An eNPS pulse launched now and answered by ``scores`` {user id: score}."""
    with app.test_request_context(method="POST"):
        survey = surveys.create_survey(db.session.get(User, hr_id), "enps_pulse")
        wave = surveys.launch(survey, db.session.get(User, hr_id))
        db.session.commit()
        wave = db.session.get(Wave, wave.id)
        for user_id, score in scores.items():
            given = {q.id: score for q in wave.survey.questions if q.kind == "enps"}
            surveys.submit(wave, db.session.get(User, user_id), given)
        db.session.commit()


@pytest.fixture
def world(app, factory):
    """tests/test_analytics.py's November 2026, an admin who signs in, business figures and an eNPS pulse."""
    w = World()
    w.sales, w.eng = factory.department("Sales"), factory.department("Engineering")
    w.warsaw = factory.location("Warsaw")
    invited = at(1, 8) - timedelta(days=30)
    w.ann = factory.user("ann@example.com", "Ann Lee", department_id=w.sales, location_id=w.warsaw)
    w.bob = factory.user("bob@example.com", "Bob Ray", department_id=w.sales, location_id=w.warsaw)
    w.hal = factory.user("hal@example.com", "Hal Hidden", department_id=w.sales, location_id=w.warsaw)
    w.cat = factory.user("cat@example.com", "Cat Kim", department_id=w.eng)
    w.dan = factory.user("dan@example.com", "Dan Fox", department_id=w.eng, status="invited")
    w.eve = factory.user("eve@example.com", "Eve Gone", department_id=w.eng)
    w.admin = factory.user("boss@example.com", "Boss", roles=("admin", "hr", "employee"), password=PASSWORD)
    with app.test_request_context():
        campaign = content.create_campaign("Caption test", "ab_test", "clicks", 10, None)
        db.session.commit()
        w.campaign = campaign.id
    w.p1 = make_post(app, "Launch", campaign_id=w.campaign)
    w.p2 = make_post(app, "Hiring", url="https://example.com/jobs")
    with app.app_context():
        for uid in (w.ann, w.bob, w.hal, w.cat, w.dan, w.eve, w.admin):
            user = db.session.get(User, uid)
            user.invited_at = invited
            user.activated_at = None if uid == w.dan else invited + timedelta(days=1)
        db.session.get(User, w.hal).hide_from_leaderboards = True
        eve = db.session.get(User, w.eve)
        eve.status, eve.deactivated_at = "deactivated", invited + timedelta(days=2)
        ann_p1 = _link(w.p1, w.ann, "linkedin", "A")
        ann_p2x = _link(w.p2, w.ann, "x")
        ann_p2 = _link(w.p2, w.ann, "linkedin")
        bob_p1 = _link(w.p1, w.bob, "linkedin", "B")
        hal_p2 = _link(w.p2, w.hal, "linkedin")
        _share(ann_p1, at(2))
        _share(ann_p2x, at(10))
        _share(ann_p2, at(17))
        _share(bob_p1, at(3, 14))
        _share(hal_p2, at(4, 9))
        clicks = [
            (ann_p1, at(2, 11), "v1", True, {}),
            (ann_p1, at(2, 12), "v1", False, {}),
            (ann_p1, at(2, 13), "v2", True, {}),
            (ann_p1, at(2, 14), "bot", False, {"bot": True}),
            (ann_p1, at(2, 15), "ann", False, {"own": True}),
            (ann_p1, at(3, 9), "v1", True, {}),
            (bob_p1, at(3, 16), "v1", True, {}),
            *((hal_p2, at(4, 12), v, True, {}) for v in ("v3", "v4", "v5")),
        ]
        for n, (link, when, visitor, unique, flags) in enumerate(clicks):
            _click(link, when, visitor, unique, n, **flags)
        db.session.add(PostLike(post_id=w.p1, user_id=w.cat, created_at=at(5)))
        db.session.add(Comment(post_id=w.p2, user_id=w.cat, body="Great", created_at=at(5)))
        db.session.add(Conversion(idempotency_key="lead-1", link_id=ann_p1.id, post_id=w.p1, sharer_id=w.ann,
                                  network="linkedin", kind="lead", value=Decimal("100"), source="api",
                                  occurred_at=at(3, 18), day=date(2026, 11, 3)))  # fmt: skip
        figures.save(date(2026, 10, 1), "sales", Decimal("120000"))
        figures.save(date(2026, 11, 1), "sales", Decimal("135000"))
        figures.save(date(2026, 11, 1), "hires", Decimal("4"))
        db.session.commit()
        rollups.rebuild(date(2026, 10, 1), date(2026, 12, 3))
        services.forget_today()
        db.session.remove()
    _enps_pulse(app, w.admin, {w.ann: 10, w.bob: 9, w.hal: 8, w.cat: 6, w.admin: 10})
    return w


def figure(page, measure: str, name: str):
    """The figure called ``name`` in the tile of ``measure`` (a row of its list of figures)."""
    tile = page.get_by_role("region", name=measure)
    return tile.locator(".kpi-list > div").filter(has=page.get_by_text(name, exact=True)).locator("dd strong")


def show(page, period: str | None = None, start: str = "", end: str = "", people: str | None = None) -> None:
    """Set the filters by their labels and press Show."""
    filters = page.locator("form.analytics-filter")
    if period:
        filters.get_by_label("Period").select_option(label=period)
    if start:
        filters.get_by_label("From").fill(start)
    if end:
        filters.get_by_label("To").fill(end)
    if people:
        filters.get_by_label("People").select_option(label=people)
    with page.expect_navigation():
        filters.get_by_role("button", name="Show").click()


def number(text: str) -> float | None:
    return None if text in ("–", "") else float(text)


@pytest.mark.browser_context_args(**DESKTOP)
def test_the_dashboard_shows_ten_measures_with_charts_filters_and_an_xlsx_export(
    page, live_server, world, console, tmp_path
):
    sign_in(page, live_server, "boss@example.com")
    page.goto(live_server.url + "/admin/analytics")
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()

    # 1. Custom dates: November 2026.
    show(page, period="Custom dates", start="2026-11-01", end="2026-11-30")
    expect(page).to_have_url(f"{live_server.url}/admin/analytics?{NOVEMBER}&scope=")
    expect(page.locator(".period-line")).to_contain_text("2026-11-01 to 2026-11-30 · Everyone")
    for measure in TEN_MEASURES:
        expect(page.get_by_role("region", name=measure)).to_be_visible()

    # Every chart is a Chart.js chart, laid out and painted.
    wait_until(page, ALL_DRAWN)
    wait_until(page, f"() => ({PAINTED})().every(([, w, h, painted]) => w > 200 && h > 100 && painted > 200)")
    assert [label for label, *_ in page.evaluate(PAINTED)] == CHARTS
    for chart in CHARTS:
        expect(page.get_by_role("img", name=chart)).to_be_visible()

    # The figures of the hand-made month.
    expect(page.get_by_role("region", name="Participation").locator(".kpi-figure")).to_have_text("3 people shared")
    expect(page.get_by_role("region", name="Organic reach").locator(".kpi-figure")).to_have_text("6 unique visitors")
    expect(figure(page, "Organic engagement", "Unique clicks")).to_have_text("7")
    expect(figure(page, "Organic engagement", "Shares")).to_have_text("5")
    expect(figure(page, "Organic engagement", "Likes")).to_have_text("1")
    expect(figure(page, "Organic engagement", "Clicks per share")).to_have_text("1.40")
    expect(figure(page, "Referrals and conversions", "Visits through employee links")).to_have_text("8")
    expect(figure(page, "Referrals and conversions", "Conversions")).to_have_text("1")
    expect(page.get_by_role("region", name="Earned media value").locator(".kpi-figure")).to_have_text("35.00 EUR")
    satisfaction = page.get_by_role("region", name="Employee satisfaction and eNPS")
    expect(satisfaction.locator(".kpi-figure strong")).to_have_text("+40")
    top_clicks = page.get_by_role("region", name="Top contributors").locator("ol").nth(1)
    expect(top_clicks.get_by_role("listitem")).to_have_text(["Ann Lee 3", "Hidden 3", "Bob Ray 1"])
    expect(page.get_by_role("region", name="Top contributors")).not_to_contain_text("Hal Hidden")
    assert errors(console) == []

    # 2. The key figures as XLSX: openpyxl opens it and it holds the page's numbers.
    key_figures = page.get_by_role("table", name="Key figures")
    shown = key_figures.evaluate(KEY_FIGURES)
    assert shown["Unique clicks"][0] == "7" and shown["Shares"][0] == "5"
    assert shown["Organic reach (unique visitors)"][0] == "6"
    with page.expect_download() as info:
        page.get_by_role("link", name="Key figures as XLSX").click()
    download = info.value
    assert download.suggested_filename == "herald-kpis-2026-11-01-2026-11-30.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = load_workbook(path).active
    header, *body = sheet.iter_rows(values_only=True)
    assert header == ("Measure", "This period", "Previous period", "Change in per cent")
    exported = {row[0]: row[1:] for row in body}
    assert list(exported) == list(shown)
    for measure, (now, before, change) in exported.items():
        page_now, page_before, page_change = (number(text) for text in shown[measure])
        assert page_now == pytest.approx(now) and page_before == pytest.approx(before), measure
        assert page_change == (None if change is None else pytest.approx(change, abs=0.05)), measure
    assert exported["Unique clicks"][0] == 7
    assert exported["Shares"][0] == 5
    assert exported["Organic reach (unique visitors)"][0] == 6
    assert exported["Earned media value (EUR)"][0] == 35

    # 3. The filters change the figures: Engineering alone (Cat liked and commented, shared nothing).
    show(page, people="Department: Engineering")
    expect(page.locator(".period-line")).to_contain_text("2026-11-01 to 2026-11-30 · Engineering")
    expect(page.get_by_label("People")).to_have_value(f"department:{world.eng}")
    expect(figure(page, "Organic engagement", "Unique clicks")).to_have_text("0")
    expect(figure(page, "Organic engagement", "Shares")).to_have_text("0")
    expect(figure(page, "Organic engagement", "Likes")).to_have_text("1")
    expect(figure(page, "Organic engagement", "Comments")).to_have_text("1")
    expect(page.get_by_role("region", name="Participation").locator(".kpi-figure")).to_have_text("0 people shared")
    expect(satisfaction).to_contain_text("Hidden to protect anonymity")
    # The export follows the filter.
    href = urlsplit(page.get_by_role("link", name="Key figures as XLSX").get_attribute("href"))
    assert href.path == "/admin/analytics/export/kpis.xlsx"
    assert parse_qs(href.query) == {**parse_qs(NOVEMBER), "scope": [f"department:{world.eng}"]}

    # Sales, first week of November: Ann, Bob and Hal shared once each.
    show(page, start="2026-11-02", end="2026-11-08", people="Department: Sales")
    expect(page.locator(".period-line")).to_contain_text("2026-11-02 to 2026-11-08 · Sales")
    expect(figure(page, "Organic engagement", "Shares")).to_have_text("3")
    expect(figure(page, "Organic engagement", "Unique clicks")).to_have_text("7")
    wait_until(page, ALL_DRAWN)
    assert errors(console) == []


@pytest.mark.browser_context_args(bypass_csp=True, **DESKTOP)  # axe is injected as an inline script
def test_the_analytics_pages_have_no_axe_violations_light_or_dark(page, live_server, world):
    sign_in(page, live_server, "boss@example.com")
    for path in (f"/admin/analytics?{NOVEMBER}", f"/admin/analytics/content?{NOVEMBER}", "/admin/analytics/business"):
        response = page.goto(live_server.url + path)
        assert response is not None and response.ok, path
        for summary in page.get_by_text("Show the data").all():
            summary.click()
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            if page.locator("canvas[data-chart]").count():
                wait_until(page, ALL_DRAWN)
            violations = run_axe(page)
            wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
            assert not wcag, f"WCAG violations on {path} ({scheme}):\n{describe(wcag)}"
            assert not violations, f"best-practice violations on {path} ({scheme}):\n{describe(violations)}"


def test_the_analytics_pages_fit_a_phone(page, live_server, world, console):
    sign_in(page, live_server, "boss@example.com")
    for path in (f"/admin/analytics?{NOVEMBER}", f"/admin/analytics/content?{NOVEMBER}", "/admin/analytics/business"):
        page.goto(live_server.url + path)
        if path.startswith("/admin/analytics?"):
            wait_until(page, ALL_DRAWN)
            for label, width, height, painted in page.evaluate(PAINTED):
                assert width > 200 and height > 100 and painted > 200, label
            for summary in page.get_by_text("Show the data").all():
                summary.tap()
        assert page.evaluate(PAGE_WIDTH) == 390, f"{path} is {page.evaluate(PAGE_WIDTH)} px wide on a 390 px phone"
    assert errors(console) == []


def test_a_new_api_token_has_a_copy_button(page, context, live_server, factory, console):
    """The token is shown once: Copy puts exactly it on the clipboard and says so."""
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin"), password=PASSWORD)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server, "ada@example.com")
    page.goto(live_server.url + "/admin/analytics/tokens")
    page.get_by_label("Name").fill("Careers site")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert len(token) >= 20
    page.get_by_role("button", name="Copy the token").click()
    expect(page.locator("#token-copy-status")).to_have_text("Copied: the token is on your clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == token
    assert [m for m in console.messages if m.startswith(("error:", "pageerror:"))] == []
