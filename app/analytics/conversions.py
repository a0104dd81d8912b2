"""Conversions: leads, applications and sign-ups the company's site reports back through employees' links.

Three ways in, one function (``record``):

* the API (``POST /api/v1/conversions``), server to server with a token an admin created. Only
  the token's SHA-256 is stored: the token is shown once, and a copy of the database holds none;
* an image pixel, for sites that cannot call an API. Anyone who knows a link's code can load it,
  so it only records while attribution is on, and its conversions earn no points;
* a CSV import (e.g. job applications from the ATS): every row is checked first, and one bad
  row imports nothing.

A conversion's idempotency key (``api:<key>``, ``pixel:<key>``, ``import:<id>``) is UNIQUE: the
constraint, not a read in Python, decides that a replayed report stores nothing new. The insert
is ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, and whether a row came back says whether this
call created it (RETURNING, not the rowcount, which PostgreSQL reported unreliably for ON
CONFLICT here). A new conversion emits ``events.conversion``; gamification awards the sharer's
points (a rule with a daily cap). The caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import audit, events, rawsql
from app.accounts.models import User
from app.analytics.models import CONVERSION_KINDS, ApiToken, Conversion
from app.database import write_intent
from app.extensions import db
from app.imports import read_csv
from app.tasks import app_task, enqueue_after_commit
from app.timeutil import utcnow
from app.tracking.models import TrackedLink
from app.tracking.redirect import CODE_RE

KIND_LABELS = {
    "lead": _l("Lead"),
    "application": _l("Application"),
    "signup": _l("Sign-up"),
    "purchase": _l("Purchase"),
    "other": _l("Other"),
}
SOURCE_LABELS = {"api": _l("API"), "pixel": _l("Pixel"), "import": _l("Import")}
TOKEN_START = "herald_"  # noqa: S105  (the start of every token, not a secret)
MAX_VALUE = Decimal("999999999999.99")  # NUMERIC(14, 2)
CENT = Decimal("0.01")
MAX_KEY = 100
KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY}}}")  # visible ASCII: UUIDs, numbers, order ids
_VALUE_RE = re.compile(r"[0-9]{1,12}(?:[.,][0-9]{1,2})?")
# A token's last use is written at most this often: one UPDATE a minute, not one per report.
LAST_USED_EVERY = timedelta(minutes=1)
IMPORT_COLUMNS = ("code", "kind")
IMPORT_OPTIONAL = ("value", "occurred_at", "id")
MAX_IMPORT_ROWS = 5_000


class ConversionError(ValueError):
    """A report Herald refuses (the message is translated and says what to fix)."""


class UnknownCode(ConversionError):
    """No tracked link has this code."""


# --- tokens --------------------------------------------------------------------------------------------------


def token_digest(plain: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(name: str, actor: User | None) -> tuple[ApiToken, str]:
    """A new token named ``name``: the row (hash and prefix only) and the plain token, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ConversionError(_("Give the token a name, such as the site that will use it."))
    plain = TOKEN_START + secrets.token_urlsafe(32)
    token = ApiToken(name=name[:120], token_hash=token_digest(plain), prefix=plain[:12],
                     created_by_id=getattr(actor, "id", None), created_at=utcnow())  # fmt: skip
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.create", actor, token, name=token.name, prefix=token.prefix)
    return token, plain


def revoke_token(token: ApiToken, actor: User | None) -> bool:
    """Revoke ``token`` from now on; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit.record("api_token.revoke", actor, token, name=token.name, prefix=token.prefix)
    return True


def authenticate(plain: str | None) -> ApiToken | None:
    """The live token whose hash matches ``plain`` (None for a missing, unknown or revoked one).

    The lookup is by hash, so how long it takes says nothing about how close a guess came;
    the last-use time is written at most once a minute (in the caller's transaction).
    """
    if not plain or len(plain) > 200:
        return None
    digest = token_digest(plain)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now
    return token


def tokens() -> list[ApiToken]:
    """Every token, live ones first, newest first."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


# --- reading what a report says ------------------------------------------------------------------------------


def parse_kind(raw) -> str:
    """A conversion kind (lead, application, signup, purchase, other), any case."""
    kind = raw.strip().lower() if isinstance(raw, str) else None
    if kind not in CONVERSION_KINDS:
        raise ConversionError(_("The kind must be one of %(kinds)s.", kinds=", ".join(CONVERSION_KINDS)))
    return kind


def parse_value(raw) -> Decimal | None:
    """An optional value from 0 to 999,999,999,999.99, to the cent: a number, or text like 12.50 or 12,50."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    message = _("The value must be a number from 0 to 999,999,999,999.99, such as 12.50.")
    if isinstance(raw, bool):
        raise ConversionError(message)
    if isinstance(raw, int | float):
        try:
            value = Decimal(str(raw)).quantize(CENT, ROUND_HALF_UP)
        except InvalidOperation:  # inf, nan
            raise ConversionError(message) from None
    elif isinstance(raw, str) and _VALUE_RE.fullmatch(raw.strip()):
        value = Decimal(raw.strip().replace(",", "."))
    else:
        raise ConversionError(message)
    if not 0 <= value <= MAX_VALUE:
        raise ConversionError(message)
    return value


def parse_key(raw) -> str:
    """A client's idempotency key: 1 to 100 visible ASCII characters (an order id, a UUID)."""
    if not isinstance(raw, str) or not KEY_RE.fullmatch(raw.strip()):
        raise ConversionError(_("The idempotency key must be 1 to 100 visible ASCII characters without spaces."))
    return raw.strip()


def parse_occurred_at(raw: str) -> datetime | None:
    """When a conversion happened: a date (counted at noon UTC, so it stays on that day) or an ISO date and time.

    A time without an offset is UTC. Nothing before 2000 or later than tomorrow.
    """
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        raise ConversionError(
            _("“%(value)s” is not a date (2026-11-03) or a date and time (2026-11-03T14:05).", value=text[:40])
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= when <= utcnow() + timedelta(days=1):
        raise ConversionError(_("The date %(value)s is before 2000 or in the future.", value=text[:40]))
    return when


def pixel_key(code: str, kind: str, key: str | None, visitor: str, day: date) -> str:
    """The pixel's idempotency key: the page's own key, or one per visitor, code, kind and day.

    ``visitor`` is the redirect's salted visitor hash (never the address itself), so reloading a
    thank-you page counts once.
    """
    if key:
        return f"pixel:{key}"
    return "pixel:" + hashlib.sha256(f"{code}|{kind}|{visitor}|{day.isoformat()}".encode()).hexdigest()[:40]


# --- recording -----------------------------------------------------------------------------------------------


def record(
    code: str,
    kind: str,
    value: Decimal | None,
    key: str,
    source: str,
    token: ApiToken | None = None,
    occurred_at: datetime | None = None,
) -> tuple[Conversion, bool]:
    """Store one conversion credited to the link ``code`` (its post, network and sharer), once per ``key``.

    Returns the conversion and whether this call created it (False: the key was used before,
    and that conversion is returned). Raises ``UnknownCode`` when no link has ``code``.
    """
    if kind not in CONVERSION_KINDS:
        raise ConversionError(_("The kind must be one of %(kinds)s.", kinds=", ".join(CONVERSION_KINDS)))
    link = None
    if isinstance(code, str) and CODE_RE.fullmatch(code):
        link = db.session.execute(
            select(TrackedLink.id, TrackedLink.post_id, TrackedLink.user_id, TrackedLink.network).where(
                TrackedLink.code == code
            )
        ).first()
    if link is None:
        raise UnknownCode(_("No tracked link has this code."))
    when = occurred_at or utcnow()
    values = {
        "idempotency_key": key, "link_id": link.id, "post_id": link.post_id, "sharer_id": link.user_id,
        "network": link.network, "kind": kind, "value": value, "source": source,
        "token_id": token.id if token is not None else None, "occurred_at": when, "day": when.astimezone(UTC).date(),
        "points_awarded": False,
    }  # fmt: skip
    insert = rawsql.dialect_insert(db.session.get_bind().dialect)
    created = db.session.scalars(
        insert(Conversion)
        .values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Conversion)
    ).first()
    if created is None:
        # PostgreSQL waited for a concurrent insert of the same key to commit: this statement sees it.
        return db.session.scalars(select(Conversion).where(Conversion.idempotency_key == key)).one(), False
    events.conversion.send(current_app._get_current_object(), conversion=created, user_id=created.sharer_id)
    return created, True


# --- CSV import ----------------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One checked row of a conversions CSV."""

    line: int
    code: str
    kind: str
    value: Decimal | None
    occurred_at: datetime | None
    key: str


@dataclass
class ImportReport:
    """What an import did, or every reason it did nothing."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    created: int = 0
    existing: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _row_key(cells: dict[str, str]) -> str:
    """``import:<id>`` from the id column, or a hash of the row (two identical rows without an id are one)."""
    if cells.get("id"):
        return "import:" + parse_key(cells["id"])
    parts = "|".join(cells.get(c, "") for c in ("code", "kind", "value", "occurred_at"))
    return "import:row:" + hashlib.sha256(parts.encode()).hexdigest()[:40]


def parse_import(data: bytes) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """Read and check every row of a conversions CSV; return the good rows and every (line, reason) error."""
    table = read_csv(data, IMPORT_COLUMNS, IMPORT_OPTIONAL, max_rows=MAX_IMPORT_ROWS)
    if table.errors:
        return [], table.errors
    rows, errors = [], []
    for line, cells in table.rows:
        problems = []
        parsed = {}
        for name, parse in (("kind", parse_kind), ("value", parse_value), ("occurred_at", parse_occurred_at)):
            try:
                parsed[name] = parse(cells.get(name, ""))
            except ConversionError as exc:
                problems.append(str(exc))
        try:
            parsed["key"] = _row_key(cells)
        except ConversionError as exc:
            problems.append(str(exc))
        if not CODE_RE.fullmatch(cells["code"]):
            problems.append(_("“%(code)s” is not a tracked link’s code.", code=cells["code"][:40]))
        if problems:
            errors.extend((line, p) for p in problems)
        else:
            rows.append(ImportRow(line, cells["code"], parsed["kind"], parsed["value"], parsed["occurred_at"],
                                  parsed["key"]))  # fmt: skip
    known = _known_codes({row.code for row in rows})
    errors.extend((row.line, _("No tracked link has the code “%(code)s”.", code=row.code))
                  for row in rows if row.code not in known)  # fmt: skip
    return rows, sorted(errors, key=lambda error: error[0])


def _known_codes(codes: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(codes)
    for start in range(0, len(ordered), 500):  # SQLite limits the parameters of one statement
        chunk = ordered[start : start + 500]
        found.update(db.session.scalars(select(TrackedLink.code).where(TrackedLink.code.in_(chunk))))
    return found


def import_csv(data: bytes, actor: User | None) -> ImportReport:
    """Import conversions from CSV bytes: all rows or none (the caller commits when ``report.ok``).

    Columns: code and kind; optionally value, occurred_at and id (the ATS's own id: importing
    the same file again adds nothing). Imported conversions earn points like reported ones.
    Days before today that gain conversions are rolled up again once the import commits.
    """
    rows, errors = parse_import(data)
    if errors:
        return ImportReport(errors=errors)
    report = ImportReport()
    today = utcnow().date()
    past_days: set[date] = set()
    for row in rows:
        conversion, created = record(row.code, row.kind, row.value, row.key, "import", occurred_at=row.occurred_at)
        if created:
            report.created += 1
            if conversion.day < today:
                past_days.add(conversion.day)
        else:
            report.existing += 1
    audit.record("conversions.import", actor, created=report.created, existing=report.existing)
    if past_days:
        enqueue_after_commit(roll_up_again, sorted(d.isoformat() for d in past_days))
    return report


@app_task()
def roll_up_again(days: list[str]) -> int:
    """Rebuild the roll-ups of ``days`` (an import added conversions to them); idempotent, one commit per day."""
    from app.analytics import rollups

    # A session of its own: in immediate mode (tests) this runs inside the commit hook of the
    # request that queued it, whose session can emit nothing more.
    with current_app.app_context(), write_intent():
        try:
            for day in days:
                rollups.rebuild_day(date.fromisoformat(day))
                db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
    return len(days)
