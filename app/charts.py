"""Chart specs for Herald's one chart library (Chart.js, vendored under ``static/vendor/chartjs-*``).

Views build a spec with one of the functions below and hand it to the ``chart`` macro
(``templates/macros/charts.html``), which puts it on a ``<canvas data-chart='...'>`` and
renders the same figures as a data table behind a "Show the data" toggle.
``static/js/charts.js`` turns the spec into a Chart.js config; colours come from CSS
custom properties, so light and dark mode both work.

A spec is a plain dict, JSON-serialisable and independent of Chart.js's own format::

    {"type": "line" | "bar" | "stacked" | "funnel" | "gauge",
     "labels": [...], "datasets": [{"label": str, "data": [number | None, ...]}],
     "min": number | None, "max": number | None, "percent": bool, "horizontal": bool}

A gauge has ``value`` (number or None), ``min`` and ``max`` instead of labels and datasets.
A value of ``None`` is a missing or suppressed point (too few answers to show): Chart.js
leaves a gap there, and the data table shows a dash. Percentages are given as 0-100.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from numbers import Real
from typing import Any, Literal, NotRequired, TypedDict, overload

from flask_babel import format_decimal, gettext

Number = int | float | Decimal
Series = tuple[str, Sequence[Number | None]]


class Dataset(TypedDict):
    """One named series of values, ``None`` where a point is missing."""

    label: str
    data: list[int | float | None]


class ChartSpec(TypedDict):
    """What the ``chart`` macro puts on the canvas for ``static/js/charts.js``."""

    type: Literal["line", "bar", "stacked", "funnel", "gauge"]
    labels: list[str]
    datasets: list[Dataset]
    min: int | float | None
    max: int | float | None
    percent: bool
    horizontal: bool
    value: NotRequired[int | float | None]


def _number(value: Number | None) -> int | float | None:
    """A JSON-safe number: ``None``, NaN and infinities become ``None`` (a gap, not invalid JSON)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise TypeError(f"chart values are numbers or None, not {value!r}")
    if isinstance(value, int):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def _datasets(labels: Sequence[str], series: Sequence[Series]) -> list[Dataset]:
    datasets: list[Dataset] = []
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
        datasets.append({"label": str(name), "data": [_number(v) for v in values]})
    return datasets


def _spec(
    kind: Literal["line", "bar", "stacked", "funnel"],
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_min: Number | None = None,
    y_max: Number | None = None,
    percent: bool = False,
    horizontal: bool = False,
) -> ChartSpec:
    if percent:  # a share axis runs 0-100 unless the caller narrows it
        y_min = 0 if y_min is None else y_min
        y_max = 100 if y_max is None else y_max
    return {
        "type": kind,
        "labels": [str(label) for label in labels],
        "datasets": _datasets(labels, series),
        "min": _number(y_min),
        "max": _number(y_max),
        "percent": percent,
        "horizontal": horizontal,
    }


def line(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_min: Number | None = None,
    y_max: Number | None = None,
    percent: bool = False,
) -> ChartSpec:
    """A line chart of one or more named series over ``labels`` (e.g. survey waves).

    ``series`` is a list of ``(name, values)``, one value per label; ``None`` leaves a gap.
    """
    return _spec("line", labels, series, y_min=y_min, y_max=y_max, percent=percent)


def bars(
    labels: Sequence[str],
    values: Sequence[Number | None],
    *,
    name: str = "",
    horizontal: bool = False,
    percent: bool = False,
) -> ChartSpec:
    """A bar chart of one value per label; horizontal suits long labels on a phone."""
    return _spec("bar", labels, [(name, values)], percent=percent, horizontal=horizontal)


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    horizontal: bool = False,
    percent: bool = False,
) -> ChartSpec:
    """Bars with the series stacked (e.g. detractors, passives, promoters per department)."""
    return _spec("stacked", labels, series, percent=percent, horizontal=horizontal)


def funnel(labels: Sequence[str], values: Sequence[Number | None], *, name: str = "") -> ChartSpec:
    """The steps of a funnel (invited, opened, answered) as horizontal bars, first step on top."""
    return _spec("funnel", labels, [(name, values)], y_min=0, horizontal=True)


def gauge(value: Number | None, lo: Number = -100, hi: Number = 100) -> ChartSpec:
    """A half doughnut showing ``value`` between ``lo`` and ``hi`` (eNPS runs -100 to 100).

    ``None`` (a suppressed score) draws an empty gauge with a dash in the middle.
    """
    if not lo < hi:
        raise ValueError(f"a gauge needs lo < hi, got {lo} and {hi}")
    return {
        "type": "gauge",
        "labels": [],
        "datasets": [],
        "min": _number(lo),
        "max": _number(hi),
        "percent": False,
        "horizontal": False,
        "value": _number(value),
    }


def table_columns(spec: ChartSpec, first: str) -> list[str]:
    """The data table's header for ``spec``: ``first`` (what the labels are), then one column per series.

    A series without a name (``bars`` and ``funnel`` need none) is headed "Value": an empty
    header cell leaves screen-reader users guessing what the column holds.
    """
    return [first, *(d["label"] or gettext("Value") for d in spec["datasets"])]


def table_rows(
    spec: ChartSpec,
    *,
    note: str | None = None,
    fmt: Callable[[int | float], str] | None = None,
) -> list[list[Any]]:
    """The figures of ``spec`` as rows for the ``chart`` macro: a label, then one cell per series.

    Numbers are formatted for the page's language (``fmt``, default Flask-Babel's
    ``format_decimal``), with ``%`` for percent charts. A missing value becomes ``None``
    (a dash), or ``{"text": None, "note": note}`` so screen readers hear why it is missing.
    Needs a request (or app) context for the default ``fmt``.
    """
    fmt = fmt or format_decimal
    suffix = "%" if spec["percent"] else ""
    missing = {"text": None, "note": note} if note else None
    rows: list[list[Any]] = []
    for i, label in enumerate(spec["labels"]):
        cells = [missing if (v := d["data"][i]) is None else f"{fmt(v)}{suffix}" for d in spec["datasets"]]
        rows.append([label, *cells])
    return rows


@overload
def heat_level(value: Number, lo: Number, hi: Number, steps: int = 10) -> int: ...
@overload
def heat_level(value: None, lo: Number, hi: Number, steps: int = 10) -> None: ...
def heat_level(value: Number | None, lo: Number, hi: Number, steps: int = 10) -> int | None:
    """The colour step (``0`` to ``steps``) of a heatmap cell: ``lo`` is 0, ``hi`` is ``steps``.

    The value goes to the nearest step (halves round up), so each inner step covers an
    equal band and the two ends half a band; values outside ``lo..hi`` take the end step.
    ``None`` (or NaN) stays ``None``: the cell is suppressed, not coloured. The CSS has
    classes ``heat-0`` to ``heat-10``, so keep ``steps`` at 10 for the ``heatmap`` macro.
    """
    if not lo < hi:
        raise ValueError(f"a heat scale needs lo < hi, got {lo} and {hi}")
    if steps < 1:
        raise ValueError("a heat scale needs at least one step")
    number = _number(value)
    if number is None:
        return None
    share = (float(number) - float(lo)) / (float(hi) - float(lo))
    return min(steps, max(0, math.floor(share * steps + 0.5)))
