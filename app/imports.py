"""The one way Herald reads an uploaded CSV: size-capped, UTF-8 (Excel's BOM too), any of , ; or tab.

``read_csv`` decodes, sniffs the delimiter from the header, checks the required columns and
yields each non-empty row as a dict of lower-cased column names with its line number, or a
list of ``(line, reason)`` errors that stop the import before any row is used. Feature code
validates the values; nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_babel import gettext as _

from app.inputs import strip_control

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000


@dataclass
class CsvTable:
    """The rows of a CSV file (``line``, ``{column: stripped text}``), or why it cannot be read."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_csv(data: bytes, required: Sequence[str], optional: Sequence[str] = (), max_rows: int = MAX_ROWS,
             max_bytes: int = MAX_BYTES) -> CsvTable:  # fmt: skip
    """Read ``data`` as a CSV with a header naming at least the ``required`` columns (any case, any order)."""
    table = CsvTable()
    if len(data) > max_bytes:
        table.errors.append((0, _("The file is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024))))
        return table
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        table.errors.append((0, _("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again.")))
        return table
    text = strip_control(text)
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        table.errors.append((0, _("The file is empty.")))
        return table
    columns = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        table.errors.append((1, _("Missing column(s): %(cols)s.", cols=", ".join(missing))))
        return table
    wanted = [c for c in (*required, *optional) if c in columns]
    index = {c: columns.index(c) for c in wanted}
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(table.rows) >= max_rows:
                table.errors.append((reader.line_num, _("Too many rows; import at most %(n)d at a time.", n=max_rows)))
                break
            table.rows.append((reader.line_num, {c: (record[i].strip() if i < len(record) else "")
                                                 for c, i in index.items()}))  # fmt: skip
    except csv.Error as exc:
        table.errors.append((reader.line_num, _("The file is not a valid CSV file (%(reason)s).", reason=str(exc))))
    if not table.rows and not table.errors:
        table.errors.append((0, _("The file has a header but no rows.")))
    return table
