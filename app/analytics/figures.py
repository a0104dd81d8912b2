"""Monthly business figures (sales, new hires, leads, applications) that admins type in or import."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import ngettext

from app.analytics.models import FIGURE_KINDS, BusinessFigure
from app.extensions import db
from app.imports import read_csv

KINDS = FIGURE_KINDS
MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})(?:-01)?$")
MAX_VALUE = Decimal(10) ** 13


def kind_label(kind: str) -> str:
    return {"sales": _("Sales"), "hires": _("New hires"), "leads": _("Leads"),
            "applications": _("Job applications")}.get(kind, kind)  # fmt: skip


def save(month: date, kind: str, value) -> BusinessFigure:
    """Set one month's figure (replacing what was there); the caller commits."""
    row = db.session.get(BusinessFigure, (month, kind))
    if row is None:
        row = BusinessFigure(month=month, kind=kind, value=value)
        db.session.add(row)
    else:
        row.value = value
    db.session.flush()
    return row


@dataclass
class ImportResult:
    saved: int = 0
    errors: list[str] = field(default_factory=list)


def _kind(text: str) -> str | None:
    text = text.strip().lower()
    aliases = {"sale": "sales", "revenue": "sales", "hire": "hires", "new hires": "hires", "lead": "leads",
               "application": "applications"}  # fmt: skip
    text = aliases.get(text, text)
    return text if text in KINDS else None


def _month(text: str) -> date | None:
    match = MONTH_RE.match(text.strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return date(year, month, 1)


def _value(text: str) -> Decimal | None:
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    # "1234,50" from a Polish spreadsheet, "1,234.50" from an English one.
    cleaned = cleaned.replace(",", ".") if "," in cleaned and "." not in cleaned else cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= MAX_VALUE:
        return None
    return value.quantize(Decimal("0.01"))


def import_csv(upload) -> ImportResult:
    """Save every row of a CSV (month, kind, value); any bad row means nothing is saved (the caller rolls back)."""
    result = ImportResult()
    table = read_csv(upload.read(), ("month", "kind", "value"))
    for line, reason in table.errors:
        result.errors.append(_("Line %(line)d: %(reason)s", line=line, reason=reason) if line else reason)
    if result.errors:
        return result
    for line, row in table.rows:
        month, kind, value = _month(row["month"]), _kind(row["kind"]), _value(row["value"])
        if month is None:
            result.errors.append(_("Line %(line)d: the month must look like 2026-11.", line=line))
        elif kind is None:
            result.errors.append(_("Line %(line)d: the kind must be one of %(kinds)s.", line=line,
                                   kinds=", ".join(KINDS)))  # fmt: skip
        elif value is None:
            result.errors.append(_("Line %(line)d: the value must be a number of 0 or more.", line=line))
        else:
            save(month, kind, value)
            result.saved += 1
    return result


def import_summary(result: ImportResult) -> str:
    return ngettext("%(num)d figure imported.", "%(num)d figures imported.", result.saved)
