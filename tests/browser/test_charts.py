"""Charts in Chromium: every kind draws under the strict CSP, follows the colour scheme and passes axe.

The product has no page of sample charts, so this module builds its own app with a
test-only blueprint that renders the macros (a blueprint cannot be added to the
session's app once it has served requests) and serves it beside the usual live server.
"""

from __future__ import annotations

import pytest
from flask import Blueprint, render_template_string
from playwright.sync_api import expect

from app import charts
from tests.conftest import TEST_CONFIG, LiveServer

from .helpers import WCAG_TAGS, describe, run_axe, wait_until

PAGE = """{% extends "base.html" %}
{% from "macros/charts.html" import chart, chart_assets, heatmap %}
{% block title %}Charts{% endblock %}
{% block content %}
<h1>Charts</h1>
{{ chart_assets() }}
{% for c in samples %}{{ chart(c.spec, c.title, c.columns, c.rows, caption=c.caption) }}{% endfor %}
{{ heatmap(heat_rows, heat_columns, heat_cells, 'Favourable answers') }}
<button type="button" class="btn" hx-get="{{ url_for('chart_samples.more') }}" hx-target="#more">More charts</button>
<div id="more"></div>
{% endblock %}"""

MORE = """{% from "macros/charts.html" import chart %}
{{ chart(spec, 'Loaded later', ['Step', 'People'], rows, id='later') }}"""

LIGHT_FIRST_SERIES = "#4338ca"  # --chart-1 in app.css
DARK_FIRST_SERIES = "#a5b4fc"


def _sample(spec, title, first, caption=None):
    return {
        "spec": spec,
        "title": title,
        "columns": charts.table_columns(spec, first) if spec["datasets"] else ["Score", "Value"],
        "rows": charts.table_rows(spec, note="Fewer than 5 answers") if spec["datasets"] else [["eNPS", spec["value"]]],
        "caption": caption,
    }


bp = Blueprint("chart_samples", __name__)


@bp.route("/_test/charts")
def samples():
    """Every kind of chart once, and a heatmap using all eleven colour steps and a hidden cell."""
    waves = ["Jan", "Feb", "Mar", "Apr"]
    sample_charts = [
        _sample(
            charts.line(waves, [("Engineering", [62, None, 70, 74]), ("Sales", [55, 58, 61, None])], percent=True),
            "Response rate",
            "Wave",
            caption="Waves with fewer than 5 answers are left out.",
        ),
        _sample(charts.bars(["Pay", "Growth", "Managers"], [3.9, None, 4.2], name="Score"), "Scores", "Topic"),
        _sample(charts.bars(["Warsaw", "Kraków"], [40, 60], horizontal=True, percent=True), "By office", "Office"),
        _sample(
            charts.stacked_bars(
                ["Ops", "IT"], [("Detractors", [20, 10]), ("Passives", [30, 40]), ("Promoters", [50, 50])]
            ),
            "eNPS groups",
            "Department",
        ),
        _sample(charts.funnel(["Invited", "Opened", "Answered"], [120, 80, 45]), "Funnel", "Step"),
        _sample(charts.gauge(23), "eNPS", "Score"),
        _sample(charts.gauge(None), "eNPS in Legal", "Score"),
    ]
    cells = [
        [{"value": v, "text": str(v), "level": charts.heat_level(v, 0, 100)} for v in range(0, 101, 10)],
        [{"value": None, "note": "Fewer than 5 answers"}, None, *({"value": 50, "level": 5} for _ in range(9))],
    ]
    return render_template_string(
        PAGE,
        samples=sample_charts,
        heat_rows=["Engineering", "Legal"],
        heat_columns=[f"Q{n}" for n in range(1, 12)],
        heat_cells=cells,
    )


@bp.route("/_test/charts/more")
def more():
    """A chart that arrives in an htmx swap."""
    spec = charts.funnel(["Invited", "Answered"], [10, 4])
    return render_template_string(MORE, spec=spec, rows=charts.table_rows(spec))


@pytest.fixture(scope="module")
def charts_url(_app, database_url):
    """The sample page, served by an app of its own with the test blueprint."""
    from app import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    app.register_blueprint(bp)
    server = LiveServer(app)
    yield server.url + "/_test/charts"
    server.stop()
    app.extensions["herald_redirects"].flusher.stop()


ALL_DRAWN = """() => {
    const canvases = [...document.querySelectorAll('canvas[data-chart]')];
    return canvases.length > 0 && canvases.every((c) => window.Chart && Chart.getChart(c) && c.dataset.chartReady);
}"""

# How many pixels of each canvas are painted (a chart that failed to draw stays transparent).
PAINTED = """() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return [c.getAttribute('aria-label'), painted];
})"""

FIRST_COLOUR = "() => Chart.getChart(document.querySelector('canvas[data-chart]')).data.datasets[0].borderColor"


def test_every_chart_draws_under_the_csp_and_follows_the_colour_scheme(page, charts_url, console):
    response = page.goto(charts_url)
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    wait_until(page, ALL_DRAWN)
    wait_until(page, f"() => ({PAINTED})().every(([, painted]) => painted > 200)")
    labels = [label for label, _ in page.evaluate(PAINTED)]
    assert labels == [
        "Response rate",
        "Scores",
        "By office",
        "eNPS groups",
        "Funnel",
        "eNPS: +23",
        "eNPS in Legal: not shown",
    ]

    # A suppressed point is a gap in the line, not a zero.
    line = page.evaluate("() => Chart.getChart(document.querySelector('canvas')).data.datasets[0].data")
    assert line == [62, None, 70, 74]

    # Colours come from the CSS of the current scheme, and a scheme change redraws.
    assert page.evaluate(FIRST_COLOUR) == LIGHT_FIRST_SERIES
    page.emulate_media(color_scheme="dark")
    wait_until(page, f"() => ({FIRST_COLOUR})() === '{DARK_FIRST_SERIES}'")
    wait_until(page, ALL_DRAWN)

    # The figures are in a table behind a toggle.
    figure = page.get_by_role("figure", name="Response rate")
    table = figure.get_by_role("table", name="Response rate")
    expect(table).to_be_hidden()
    figure.get_by_text("Show the data").click()
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name="Feb")).to_contain_text("Fewer than 5 answers")

    # A chart that arrives through htmx is drawn too.
    page.get_by_role("button", name="More charts").click()
    wait_until(page, "() => Boolean(Chart.getChart(document.querySelector('#later canvas')))")

    assert [m for m in console.messages if m.startswith(("error", "pageerror"))] == []


def test_reduced_motion_turns_animation_off(page, charts_url, console):
    page.emulate_media(reduced_motion="reduce")
    page.goto(charts_url)
    wait_until(page, ALL_DRAWN)
    animations = page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => Chart.getChart(c).options.animation)"
    )
    assert animations and all(a is False for a in animations)


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
def test_charts_page_has_no_axe_violations_light_or_dark(page, charts_url):
    page.goto(charts_url)
    wait_until(page, ALL_DRAWN)
    for summary in page.get_by_text("Show the data").all():
        summary.click()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        wait_until(page, ALL_DRAWN)
        violations = run_axe(page)
        wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
        assert not wcag, f"WCAG violations on the charts page ({scheme}):\n{describe(wcag)}"
        assert not violations, f"best-practice violations on the charts page ({scheme}):\n{describe(violations)}"
