"""Kudos: peer recognition with a message and, optionally, points from a monthly giving allowance.

Rules (tests prove them on SQLite and PostgreSQL):

* allowance points are never self-given, and a person never gives more than the
  month's allowance: ``UPDATE kudos_allowance SET given = given + :p WHERE given + :p <= :allowance``;
* point-carrying kudos between the same two people, both directions counted
  together, are limited per month (``KudosPair``, ``count < :limit``) so points
  cannot be traded back and forth;
* the form's idempotency key (UNIQUE on ``kudos``) makes a double tap one kudos;
* received points go through the ledger, keyed by the kudos, so they are awarded once.

Everything a kudos changes happens in one savepoint: a limit hit or a lost race
changes nothing. "Month" is the sender's local month (their time zone).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, has_request_context
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app import audit, events
from app.accounts.models import User
from app.accounts.services import get_user_by_email
from app.extensions import db
from app.gamification import badges, ledger
from app.gamification.models import ProgramSetting
from app.gamification.periods import local_date
from app.inputs import whole_number
from app.timeutil import utcnow
from rewards.models import Kudos, KudosAllowance, KudosPair

SETTINGS_KEY = "kudos"
DEFAULT_SETTINGS: dict[str, int] = {"monthly_allowance": 50, "max_points_per_kudos": 20, "pair_limit": 3}
# (lowest, highest) an admin may set for each setting.
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "monthly_allowance": (0, 100_000),
    "max_points_per_kudos": (1, 100_000),
    "pair_limit": (1, 1_000),
}
MAX_MESSAGE = 280
MAX_SHOUTOUT_POINTS = 100_000
WALL_PAGE_SIZE = 20
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class KudosError(ValueError):
    """A user-facing reason a kudos was not sent (translated); ``status`` is the HTTP answer, ``field`` the input."""

    def __init__(self, message: str, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass
class KudosResult:
    """What sending did: the kudos, and whether it was a repeat of an earlier submission with the same key."""

    kudos: Kudos
    duplicate: bool = False


# --- settings --------------------------------------------------------------------------------------------------


def get_settings() -> dict[str, int]:
    """The kudos settings: what the admin saved over the defaults (read per call, so a change applies at once)."""
    row = db.session.get(ProgramSetting, SETTINGS_KEY)
    stored = row.value if row and isinstance(row.value, dict) else {}
    return {name: int(stored.get(name, default)) for name, default in DEFAULT_SETTINGS.items()}


def save_settings(values: dict[str, int], actor: User) -> dict[str, int]:
    """Store new settings (validated against ``SETTING_RANGES``) and record the change in the audit trail."""
    new = {}
    for name, (low, high) in SETTING_RANGES.items():
        value = values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise KudosError(
                _(
                    "Use whole numbers: a monthly allowance from 0 to 100,000, from 1 to 100,000 points per kudos, "
                    "and from 1 to 1,000 kudos with points between two people a month."
                )
            )
        new[name] = value
    previous = get_settings()
    row = db.session.get(ProgramSetting, SETTINGS_KEY)
    if row is None:
        row = ProgramSetting(key=SETTINGS_KEY, value=new)
        db.session.add(row)
    row.value = dict(new)  # a new object, so the JSON column is seen as changed
    row.updated_at = utcnow()
    row.updated_by_id = actor.id
    audit.record("kudos.settings", actor, None, before=previous, after=new)
    db.session.flush()
    return new


def settings_changed_at() -> datetime | None:
    """When an admin last changed the kudos settings."""
    row = db.session.get(ProgramSetting, SETTINGS_KEY)
    return row.updated_at if row else None


# --- reading -----------------------------------------------------------------------------------------------------


def month_of(user: User, now: datetime | None = None) -> str:
    """``YYYY-MM`` in the user's own time zone: allowances and pair limits reset on their first of the month."""
    d = local_date(now or utcnow(), user.timezone or "UTC")
    return f"{d.year}-{d.month:02d}"


def given_this_month(user: User, now: datetime | None = None) -> int:
    """Allowance points ``user`` has given in their current month."""
    month = month_of(user, now)
    given = db.session.scalar(
        select(KudosAllowance.given).where(KudosAllowance.user_id == user.id, KudosAllowance.month == month)
    )
    return given or 0


def remaining_allowance(user: User, now: datetime | None = None) -> int:
    """Allowance points ``user`` can still give this month (never negative, even after the admin lowers it)."""
    return max(get_settings()["monthly_allowance"] - given_this_month(user, now), 0)


def search_people(query: str, viewer: User, limit: int = 10) -> list[User]:
    """Up to ``limit`` active colleagues (not ``viewer``) whose name contains, or e-mail starts with, ``query``."""
    text = (query or "").strip()
    if len(text) < 2:
        return []
    lowered = text.lower()
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.status == "active",
                User.id != viewer.id,
                or_(
                    func.lower(User.display_name).contains(lowered, autoescape=True),
                    # SQLite's lower() folds ASCII only: also match the name as typed ("Łukasz").
                    User.display_name.contains(text, autoescape=True),
                    User.email.startswith(lowered, autoescape=True),
                ),
            )
            .order_by(func.lower(User.display_name), User.id)
            .limit(limit)
        )
    )


def find_recipient(text: str) -> User:
    """The active colleague an exact e-mail address (or a name only one active person has) points to."""
    text = (text or "").strip()
    if not text:
        raise KudosError(_("Choose a colleague: type their name or e-mail address."), field="recipient")
    user = get_user_by_email(text) if "@" in text else None
    if user is None and "@" not in text:
        named = db.session.scalars(
            select(User).where(User.status == "active", func.lower(User.display_name) == text.lower()).limit(2)
        ).all()
        if len(named) > 1:
            raise KudosError(
                _("Several colleagues are called %(name)s: type their e-mail address instead.", name=text),
                field="recipient",
            )
        user = named[0] if named else None
    if user is None or user.status != "active":
        raise KudosError(
            _("Nobody active in Herald matches “%(text)s”. Pick a colleague from the list or type their e-mail.",
              text=text[:254]),
            field="recipient",
        )  # fmt: skip
    return user


def parse_points(text: str | None) -> int:
    """Points typed in a form (blank means none)."""
    text = (text or "").strip()
    if not text:
        return 0
    try:
        return whole_number(text)
    except ValueError:
        raise KudosError(_("Points must be a whole number."), field="points")


def new_key() -> str:
    """An idempotency key for one rendering of a kudos form."""
    return secrets.token_urlsafe(18)


def wall(before: int | None = None, per_page: int = WALL_PAGE_SIZE) -> tuple[list[Kudos], int | None]:
    """One page of the company kudos wall, newest first, and the cursor of the next page (None at the end).

    Pages are cut by id rather than by offset, so kudos sent while someone scrolls
    neither repeat nor skip items.
    """
    stmt = select(Kudos).order_by(Kudos.id.desc()).limit(per_page + 1)
    if before:
        stmt = stmt.where(Kudos.id < before)
    rows = list(db.session.scalars(stmt))
    page = rows[:per_page]
    return page, (page[-1].id if len(rows) > per_page else None)


def received_for(user_id: int, limit: int = 5) -> list[Kudos]:
    """The newest kudos ``user_id`` received (for their profile)."""
    return list(
        db.session.scalars(select(Kudos).where(Kudos.recipient_id == user_id).order_by(Kudos.id.desc()).limit(limit))
    )


# --- sending -----------------------------------------------------------------------------------------------------


def _clean_message(message: str) -> str:
    text = (message or "").replace("\r\n", "\n").strip()
    if not text:
        raise KudosError(_("Write a short message: say what they did."), field="message")
    if len(text) > MAX_MESSAGE:
        raise KudosError(
            _("Keep the message to %(n)d characters or fewer (it has %(len)d).", n=MAX_MESSAGE, len=len(text)),
            field="message",
        )
    return text


def _check_recipient(sender: User, recipient: User) -> None:
    if recipient.id == sender.id:
        raise KudosError(_("You can't send kudos to yourself."), field="recipient")
    if recipient.status != "active":
        raise KudosError(
            _("Nobody active in Herald matches “%(text)s”. Pick a colleague from the list or type their e-mail.",
              text=recipient.email),
            field="recipient",
        )  # fmt: skip


def _stored_key(sender: User, key: str) -> str:
    """The form's key, scoped to the sender (a key copied from someone else's form cannot collide)."""
    if not _KEY_RE.match(key or ""):
        key = new_key()  # no usable key: this submission simply cannot be de-duplicated
    return f"{sender.id}:{key}"


def _existing(stored_key: str) -> Kudos | None:
    return db.session.scalar(select(Kudos).where(Kudos.idempotency_key == stored_key))


class _Refused(Exception):
    """Internal: roll the savepoint back, then raise the ``KudosError`` built outside it."""

    def __init__(self, reason: str):
        self.reason = reason


@contextmanager
def _not_announced() -> Iterator[None]:
    """Keep the recipient's points out of this request's "+N points" toast: it belongs to the sender's page."""
    if not has_request_context():
        yield
        return
    saved = g.pop("herald_points", None)
    try:
        yield
    finally:
        g.pop("herald_points", None)
        if saved is not None:
            g.herald_points = saved


def _take_allowance(sender: User, month: str, points: int, allowance: int) -> bool:
    table = KudosAllowance.__table__
    ledger.upsert(KudosAllowance, {"user_id": sender.id, "month": month, "given": 0}, ("user_id", "month"), {})
    result = db.session.execute(
        update(table)
        .where(table.c.user_id == sender.id, table.c.month == month, table.c.given + points <= allowance)
        .values(given=table.c.given + points)
    )
    return result.rowcount == 1


def _take_pair(sender: User, recipient: User, month: str, limit: int) -> bool:
    low, high = sorted((sender.id, recipient.id))
    table = KudosPair.__table__
    ledger.upsert(KudosPair, {"low_id": low, "high_id": high, "month": month, "count": 0},
                  ("low_id", "high_id", "month"), {})  # fmt: skip
    result = db.session.execute(
        update(table)
        .where(table.c.low_id == low, table.c.high_id == high, table.c.month == month, table.c.count < limit)
        .values(count=table.c.count + 1)
    )
    return result.rowcount == 1


def _record(
    sender: User, recipient: User, message: str, points: int, stored_key: str, month: str, *, shoutout: bool,
    settings: dict[str, int] | None = None,
) -> KudosResult:  # fmt: skip
    """Insert the kudos, take the guards (peer kudos only), award the points: all or nothing.

    The caller has looked ``stored_key`` up already; a concurrent twin is caught by the UNIQUE key.
    """
    try:
        with db.session.begin_nested():
            kudos = Kudos(sender_id=sender.id, recipient_id=recipient.id, message=message, points=points,
                          shoutout=shoutout, idempotency_key=stored_key, month=month)  # fmt: skip
            db.session.add(kudos)
            db.session.flush()  # the UNIQUE key decides a concurrent double tap here
            if points and settings is not None:
                if not _take_allowance(sender, month, points, settings["monthly_allowance"]):
                    raise _Refused("allowance")
                if not _take_pair(sender, recipient, month, settings["pair_limit"]):
                    raise _Refused("pair")
            if points:
                with _not_announced():
                    award = ledger.award(recipient, "kudos", points, f"kudos:{kudos.id}",
                                         source=("kudos", kudos.id), params={"from": sender.display_name})  # fmt: skip
                if award.points != points:
                    raise _Refused("capped")  # the recipient's daily points cap: they would get nothing
            ledger.bump_stat(recipient.id, "kudos_received")
    except IntegrityError:
        existing = _existing(stored_key)
        if existing is None:
            raise
        return KudosResult(existing, duplicate=True)  # a concurrent submission with the same key won
    except _Refused as refused:
        raise _refusal(refused.reason, sender, recipient, settings)
    badges.evaluate(recipient.id, ("kudos_received",))  # the recipient's badges: not announced to the sender
    events.kudos_received.send(current_app._get_current_object(), kudos=kudos)
    return KudosResult(kudos)


def _refusal(reason: str, sender: User, recipient: User, settings: dict[str, int] | None) -> KudosError:
    if reason == "allowance":
        left = remaining_allowance(sender)
        return KudosError(
            ngettext(
                "You have %(num)d point left to give this month.",
                "You have %(num)d points left to give this month.",
                left,
            ),
            status=409,
            field="points",
        )
    if reason == "pair":
        limit = settings["pair_limit"] if settings else 0
        return KudosError(
            ngettext(
                "You have already sent %(num)d kudos with points between you and %(name)s this month.",
                "You have already sent %(num)d kudos with points between you and %(name)s this month.",
                limit,
                name=recipient.display_name,
            ),
            status=409,
            field="points",
        )
    return KudosError(
        _("%(name)s has reached today's points limit. Send your kudos without points, or try again tomorrow.",
          name=recipient.display_name),
        status=409,
        field="points",
    )  # fmt: skip


def send(sender: User, recipient: User, message: str, points: int, key: str) -> KudosResult:
    """An employee's kudos to a colleague, with ``points`` (0 for none) from the sender's monthly allowance.

    Raises ``KudosError`` (and changes nothing) for self-kudos, a bad message or
    amount, a spent allowance or the pair limit. The same ``key`` twice returns
    the first kudos.
    """
    stored_key = _stored_key(sender, key)
    existing = _existing(stored_key)
    if existing is not None:
        return KudosResult(existing, duplicate=True)  # a double tap: not refused by limits the first one used
    _check_recipient(sender, recipient)
    text = _clean_message(message)
    settings = get_settings()
    if not 0 <= points <= settings["max_points_per_kudos"]:
        raise KudosError(_("Give from 0 to %(max)d points.", max=settings["max_points_per_kudos"]), field="points")
    return _record(sender, recipient, text, points, stored_key, month_of(sender), shoutout=False, settings=settings)


def shout_out(admin: User, recipient: User, message: str, points: int, key: str) -> KudosResult:
    """An admin's public shout-out: highlighted on the wall; its points come from the company, not an allowance."""
    stored_key = _stored_key(admin, key)
    existing = _existing(stored_key)
    if existing is not None:
        return KudosResult(existing, duplicate=True)
    _check_recipient(admin, recipient)
    text = _clean_message(message)
    if not 0 <= points <= MAX_SHOUTOUT_POINTS:
        raise KudosError(_("Give from 0 to %(max)d points.", max=MAX_SHOUTOUT_POINTS), field="points")
    result = _record(admin, recipient, text, points, stored_key, month_of(admin), shoutout=True)
    if not result.duplicate:
        audit.record("kudos.shoutout", admin, recipient, kudos_id=result.kudos.id, points=points)
    return result
