"""What Herald refuses or strips from a request, one mechanism per concern.

* **Text**: every query-string and form value (and field name) loses its control
  characters except tab and newline (CRLF becomes LF) as the request parses it,
  so no view, form or service ever sees a NUL byte (PostgreSQL cannot store one
  in text) or another invisible control; ``strip_control`` does the same for
  text read from uploaded files.
* **Whole numbers**: every id and count column is an INTEGER on PostgreSQL, so a
  number typed anywhere must lie within ``MAX_INT``. Path ids go through
  ``IdConverter`` (registered as ``int``: a larger id is a 404), query strings
  through ``arg_int`` (a 400), form fields through ``app.forms.WholeNumberField``
  (or ``NumberRange`` validators); all of them read numbers with ``whole_number``.
* **Dates** are refused outside ``app.forms.EARLIEST``..``LATEST`` (see there).
"""

from __future__ import annotations

import re

from flask import abort, request
from flask.wrappers import Request
from werkzeug.datastructures import ImmutableMultiDict, iter_multi_items
from werkzeug.routing import IntegerConverter

MAX_INT = 2**31 - 1  # PostgreSQL INTEGER: ids, points, stock, limits, thresholds
# Control characters (Unicode category Cc: C0, DEL, C1) except tab and newline; a CR before a newline goes too.
_CONTROL = re.compile(r"\r\n|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_control(text: str) -> str:
    """``text`` without control characters other than tab and newline (CRLF becomes LF)."""
    return _CONTROL.sub(lambda m: "\n" if m.group() == "\r\n" else "", text)


def _clean(value):
    return strip_control(value) if isinstance(value, str) else value


class CleanMultiDict(ImmutableMultiDict):
    """Query-string and form values (and their names) with ``strip_control`` applied; files pass untouched."""

    def __init__(self, mapping=None):
        if mapping is None:
            super().__init__()
        else:
            super().__init__([(_clean(key), _clean(value)) for key, value in iter_multi_items(mapping)])


class HeraldRequest(Request):
    """Flask's request, whose ``args``, ``form`` and ``values`` are cleaned of control characters."""

    parameter_storage_class = CleanMultiDict


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: a whole number from 0 to ``MAX_INT`` (a larger one matches no route: 404)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_INT,
                 signed: bool = False) -> None:  # fmt: skip
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def whole_number(text, low: int = -MAX_INT, high: int = MAX_INT) -> int:
    """``text`` as a whole number from ``low`` to ``high``; ValueError otherwise.

    Only ASCII digits with an optional sign count ("1e20", "1.0", "²" and "1_000" do
    not), so the answer is what the person typed or a refusal.
    """
    text = str(text).strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,10}", text):
        raise ValueError(text[:20])
    value = int(text)
    if not low <= value <= high:
        raise ValueError(text)
    return value


def arg_int(name: str, default: int | None = None, low: int = -MAX_INT, high: int = MAX_INT,
            values=None) -> int | None:  # fmt: skip
    """The query-string integer ``name`` (``default`` when absent or empty); anything else is a 400.

    ``values`` reads another multidict instead (``request.values`` for a form that carries
    the query's id along as a hidden field).
    """
    text = (request.args if values is None else values).get(name, "")
    if not text.strip():
        return default
    try:
        return whole_number(text, low, high)
    except ValueError:
        abort(400)


def install(app) -> None:
    """Use the cleaning request class and the bounded ``int`` converter (before any route is added)."""
    app.request_class = HeraldRequest
    app.url_map.converters["int"] = IdConverter
