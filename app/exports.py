"""The one way Herald writes spreadsheets: CSV and XLSX with every cell safe to open.

Exports carry text people typed (names, addresses, comments). A spreadsheet runs a
cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a leading tab or
carriage return can hide one), so ``=HYPERLINK("http://evil/", "click")`` in a street
field would become a live link or worse in the vendor's Excel. OWASP's rule, applied
to every text cell here: prefix such a cell with ``'`` so it is shown as text. Numbers,
dates and booleans are written as values (a negative number is not text, so it keeps
its sign and stays a number). Every CSV and XLSX export goes through this module.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime

from flask import Response

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Row = Sequence | Mapping


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _plain(value):
    """A cell value as CSV or XLSX can hold it: None empty, dates ISO, structures as JSON, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return neutralise(str(value))


def _cells(columns: Sequence[str], rows: Iterable[Row]) -> Iterable[list]:
    yield [_plain(c) for c in columns]
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, Mapping) else row
        yield [_plain(v) for v in values]


def csv_bytes(columns: Sequence[str], rows: Iterable[Row]) -> bytes:
    """A CSV file: UTF-8 with a byte-order mark and CRLF lines, which Excel opens with the right characters.

    ``rows`` are sequences in column order or mappings keyed by column name.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(_cells(columns, rows))
    return out.getvalue().encode("utf-8-sig")


def sheet_title(text: str) -> str:
    """``text`` as Excel allows a sheet name: none of ``[]:*?/\\``, at most 31 characters, not empty."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in text).strip().strip("'")
    return cleaned[:31] or "Export"


def xlsx_bytes(columns: Sequence[str], rows: Iterable[Row], sheet: str = "Export") -> bytes:
    """An XLSX workbook with one sheet; the same cells as ``csv_bytes``, every text cell stored as text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet_title(sheet))
    for values in _cells(columns, rows):
        line = []
        for value in values:
            if isinstance(value, str):
                # Control characters other than tab and newlines are not allowed in XLSX text.
                cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # text, whatever openpyxl would guess from its first character
            else:
                cell = WriteOnlyCell(ws, value=value)
            line.append(cell)
        ws.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


def csv_response(filename: str, columns: Sequence[str], rows: Iterable[Row]) -> Response:
    """A CSV download (``filename`` is ours, never user input)."""
    return _download(csv_bytes(columns, rows), CSV_MIMETYPE, filename)


def xlsx_response(filename: str, columns: Sequence[str], rows: Iterable[Row], sheet: str = "Export") -> Response:
    """An XLSX download (``filename`` is ours, never user input)."""
    return _download(xlsx_bytes(columns, rows, sheet), XLSX_MIMETYPE, filename)
