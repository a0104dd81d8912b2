"""Charts: the specs app/charts.py builds, the macros that render them with a data table, the heat scale."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import render_template_string
from flask_babel import force_locale

from app import charts

ROOT = Path(__file__).resolve().parent.parent
CHARTJS = ROOT / "static" / "vendor" / "chartjs-4.6.1"

USE = '{% from "macros/charts.html" import chart, chart_assets, heatmap %}'


class Tags(HTMLParser):
    """Every start tag of a fragment with its attributes, and the text of each table cell."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[tuple[str, dict[str, str | None], str]] = []
        self._cell: list | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = [tag, dict(attrs), ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append((self._cell[0], self._cell[1], " ".join(self._cell[2].split())))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += " " + data

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def render(app, source: str, locale: str = "en", **context) -> str:
    with app.test_request_context(), force_locale(locale):
        return render_template_string(USE + source, **context)


def assert_csp_safe(html: str) -> None:
    """Nothing the strict CSP would block: no style attributes or elements, no inline script."""
    assert not re.search(r"\sstyle\s*=", html)
    assert "<style" not in html
    for attrs in Tags(html).find("script"):
        assert attrs.get("src"), "a <script> without src is inline script"


# Specs ---------------------------------------------------------------------------------------


def test_line_keeps_missing_points_as_gaps():
    spec = charts.line(["Q1", "Q2", "Q3"], [("Engineering", [40, None, 55.5]), ("Sales", [Decimal("12.5"), 20, None])])
    assert spec["type"] == "line"
    assert spec["labels"] == ["Q1", "Q2", "Q3"]
    assert spec["datasets"] == [
        {"label": "Engineering", "data": [40, None, 55.5]},
        {"label": "Sales", "data": [12.5, 20, None]},
    ]
    assert (spec["min"], spec["max"], spec["percent"]) == (None, None, False)
    assert json.loads(json.dumps(spec)) == spec


def test_line_in_percent_runs_from_0_to_100_unless_narrowed():
    share = charts.line(["a"], [("x", [1])], percent=True)
    assert (share["min"], share["max"]) == (0, 100)
    narrowed = charts.line(["a"], [("x", [1])], y_min=20, y_max=80, percent=True)
    assert (narrowed["min"], narrowed["max"]) == (20, 80)


def test_values_that_json_cannot_carry_become_gaps_and_wrong_shapes_are_refused():
    spec = charts.bars(["a", "b", "c"], [math.nan, math.inf, 3])
    assert spec["datasets"][0]["data"] == [None, None, 3]
    assert "NaN" not in json.dumps(spec)
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        charts.line(["a", "b", "c"], [("x", [1, 2])])
    with pytest.raises(TypeError):
        charts.bars(["a"], ["12"])
    with pytest.raises(TypeError):
        charts.bars(["a"], [True])


def test_bars_stacked_and_funnel_shapes():
    bars = charts.bars(["Yes", "No"], [70, 30], horizontal=True, percent=True)
    assert (bars["type"], bars["horizontal"], bars["percent"], bars["min"], bars["max"]) == ("bar", True, True, 0, 100)
    assert bars["datasets"] == [{"label": "", "data": [70, 30]}]

    stacked = charts.stacked_bars(["Ops", "IT"], [("Detractors", [10, None]), ("Promoters", [60, None])], percent=True)
    assert stacked["type"] == "stacked"
    assert [d["data"] for d in stacked["datasets"]] == [[10, None], [60, None]]

    funnel = charts.funnel(["Invited", "Opened", "Answered"], [120, 80, 45])
    assert (funnel["type"], funnel["horizontal"], funnel["min"]) == ("funnel", True, 0)
    assert funnel["datasets"][0]["data"] == [120, 80, 45]


def test_gauge_holds_its_value_and_range():
    assert charts.gauge(23) == {
        "type": "gauge",
        "labels": [],
        "datasets": [],
        "min": -100,
        "max": 100,
        "percent": False,
        "horizontal": False,
        "value": 23,
    }
    assert charts.gauge(None, 0, 10)["value"] is None
    with pytest.raises(ValueError):
        charts.gauge(5, 10, 10)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (-100, 0),
        (-150, 0),  # below the scale: the first step
        (-90.01, 0),  # just under the first half band
        (-90, 1),  # a half band up rounds up
        (0, 5),
        (89.99, 9),
        (90, 10),
        (100, 10),
        (250, 10),  # above the scale: the last step
    ],
)
def test_heat_level_goes_to_the_nearest_step(value, level):
    assert charts.heat_level(value, -100, 100) == level


def test_heat_level_other_scales_and_suppressed_values():
    assert [charts.heat_level(v, 1, 5) for v in (1, 2, 3, 4, 5)] == [0, 3, 5, 8, 10]  # 2.5 and 7.5 round up
    assert charts.heat_level(3, 0, 4, steps=4) == 3
    assert charts.heat_level(None, 0, 10) is None
    assert charts.heat_level(math.nan, 0, 10) is None
    with pytest.raises(ValueError):
        charts.heat_level(1, 5, 5)


def test_table_rows_format_for_the_language_and_mark_gaps(app):
    spec = charts.line(["Q1", "Q2"], [("Eng", [12.5, None]), ("Sales", [1000, 7])], percent=True)
    with app.test_request_context():
        assert charts.table_columns(spec, "Wave") == ["Wave", "Eng", "Sales"]
        with force_locale("pl"):
            assert charts.table_columns(charts.bars(["a"], [1]), "Biuro") == ["Biuro", "Wartość"]
        with force_locale("en"):
            assert charts.table_rows(spec) == [["Q1", "12.5%", "1,000%"], ["Q2", None, "7%"]]
        with force_locale("pl"):
            noted = charts.table_rows(spec, note="Mniej niż 5 odpowiedzi")
    assert noted[0][1] == "12,5%"
    assert noted[1][1] == {"text": None, "note": "Mniej niż 5 odpowiedzi"}


# Macros --------------------------------------------------------------------------------------


def test_chart_macro_renders_the_spec_and_the_same_figures_as_a_table(app):
    spec = charts.line(["Q1", "Q2", "Q3"], [("Engineering", [40, None, 55.5]), ("O'Brien's team", [10, 20, 30])])
    with app.test_request_context():
        rows = charts.table_rows(spec, note="Fewer than 5 answers")
    html = render(
        app,
        "{{ chart(spec, 'Response rate', columns, rows, id='rate', caption='By team, per wave') }}",
        spec=spec,
        columns=charts.table_columns(spec, "Wave"),
        rows=rows,
    )
    page = Tags(html)

    [figure] = page.find("figure")
    assert (figure["id"], figure["class"]) == ("rate", "chart")
    [canvas] = page.find("canvas")
    assert canvas["role"] == "img"
    assert canvas["aria-label"] == "Response rate"
    assert canvas["aria-describedby"] == "rate-caption"
    assert json.loads(canvas["data-chart"]) == spec  # the apostrophe does not end the attribute
    assert "<summary>Show the data</summary>" in html
    assert "By team, per wave" in html

    headers = [(tag, attrs.get("scope"), text) for tag, attrs, text in page.cells]
    assert headers[:3] == [("th", "col", "Wave"), ("th", "col", "Engineering"), ("th", "col", "O'Brien's team")]
    body = [text for _tag, _attrs, text in page.cells[3:]]
    assert body == ["Q1", "40", "10", "Q2", "— Fewer than 5 answers", "20", "Q3", "55.5", "30"]
    assert [attrs.get("scope") for tag, attrs, _ in page.cells[3:] if tag == "th"] == ["row", "row", "row"]
    assert '<span aria-hidden="true">—</span><span class="sr-only">Fewer than 5 answers</span>' in html
    assert_csp_safe(html)


def test_chart_cells_take_plain_values_none_and_notes(app):
    rows = [["A", 1, None, {"text": "12", "note": "estimated"}]]
    spec = charts.bars(["A"], [1])
    html = render(app, "{{ chart(spec, 'Mix', ['Team', 'x', 'y', 'z'], rows) }}", spec=spec, rows=rows)
    cells = [text for _tag, _attrs, text in Tags(html).cells[4:]]
    assert cells == ["A", "1", "— not shown", "12 estimated"]
    assert Tags(html).find("figure")[0]["id"] == "chart-mix"
    assert_csp_safe(html)


def test_gauge_says_its_value_in_the_label(app):
    source = "{{ chart(spec, 'eNPS', ['Group', 'People'], [['Promoters', 12]]) }}"
    label = Tags(render(app, source, spec=charts.gauge(23))).find("canvas")[0]["aria-label"]
    assert label == "eNPS: +23"
    assert Tags(render(app, source, spec=charts.gauge(-7))).find("canvas")[0]["aria-label"] == "eNPS: -7"
    assert Tags(render(app, source, spec=charts.gauge(4, 0, 10))).find("canvas")[0]["aria-label"] == "eNPS: 4"
    assert Tags(render(app, source, spec=charts.gauge(None))).find("canvas")[0]["aria-label"] == "eNPS: not shown"


def test_chart_assets_are_local_deferred_scripts_that_exist(app, client):
    html = render(app, "{{ chart_assets() }}")
    scripts = Tags(html).find("script")
    assert [s["src"] for s in scripts] == ["/static/vendor/chartjs-4.6.1/chart.umd.min.js", "/static/js/charts.js"]
    assert all("defer" in s for s in scripts)
    for script in scripts:
        response = client.get(script["src"])
        assert response.status_code == 200
        response.close()
    assert_csp_safe(html)


def test_chartjs_is_vendored_with_its_licence():
    assert "Chart.js v4.6.1" in (CHARTJS / "chart.umd.min.js").read_text()[:200]
    assert "The MIT License" in (CHARTJS / "LICENSE").read_text()
    templates = "".join(p.read_text() for p in (ROOT / "templates").rglob("*.html"))
    assert "cdn.jsdelivr" not in templates and "unpkg.com" not in templates


def test_heatmap_colours_cells_and_shows_why_a_cell_is_hidden(app):
    cells = [
        [
            {"value": 80, "text": "80%", "level": charts.heat_level(80, 0, 100)},
            {"value": None, "note": "Fewer than 5 answers"},
        ],
        [None, {"value": 5, "level": charts.heat_level(5, 0, 100)}],
    ]
    html = render(app, "{{ heatmap(['Ops', 'IT'], ['Pay', 'Growth'], cells, 'Favourable answers') }}", cells=cells)
    page = Tags(html)
    body = [(attrs.get("class"), text) for tag, attrs, text in page.cells if tag == "td" and text]
    assert body == [
        ("heat-8", "80%"),
        ("heat-hidden", "Fewer than 5 answers"),
        ("heat-none", "— No data"),
        ("heat-1", "5"),
    ]
    assert [text for tag, attrs, text in page.cells if tag == "th"] == ["Pay", "Growth", "Ops", "IT"]
    [region] = page.find("div")
    assert (region["role"], region["tabindex"], region["aria-labelledby"]) == ("region", "0", region["id"] + "-title")
    assert "<caption" in html and "Favourable answers</caption>" in html
    assert_csp_safe(html)


def test_macros_speak_polish(app):
    html = render(
        app,
        "{{ chart(spec, 'Udział', ['Fala', 'Wynik'], [['Q1', None]]) }}"
        "{{ heatmap(['A'], ['B', 'C'], [[None, {'value': None}]], 'Mapa') }}",
        locale="pl",
        spec=charts.bars(["Q1"], [None]),
    )
    assert "<summary>Pokaż dane</summary>" in html
    assert '<span class="sr-only">nie pokazano</span>' in html
    assert '<span class="sr-only">Brak danych</span>' in html
    assert '<td class="heat-hidden">nie pokazano</td>' in html


# Colours -------------------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _full(hex_colour: str) -> str:
    return "#" + "".join(c * 2 for c in hex_colour[1:]) if len(hex_colour) == 4 else hex_colour


def test_every_heat_step_has_readable_text_in_light_and_dark():
    css = (ROOT / "static" / "css" / "app.css").read_text()
    rule = re.compile(r"\.heat-(\d+) \{ background: (#[0-9a-f]{3,6}); color: (#[0-9a-f]{3,6}); \}")
    found = rule.findall(css)
    light = {int(n): (bg, fg) for n, bg, fg in found[:11]}
    dark = {int(n): (bg, fg) for n, bg, fg in found[11:]}
    assert sorted(light) == sorted(dark) == list(range(11)), "heat-0..heat-10, once for light and once for dark"
    second = css.index(".heat-0 {", css.index(".heat-0 {") + 1)
    assert css.rindex("@media", 0, second) == css.rindex("@media (prefers-color-scheme: dark)", 0, second)
    for scheme in (light, dark):
        for level, (bg, fg) in scheme.items():
            assert _contrast(_full(bg), _full(fg)) >= 4.5, f"heat-{level}: {fg} on {bg}"
