"""Badges: declarative achievements, awarded once each, with the date.

Built-in badges are defined here (their names translate); admins add more from
the same small set of condition types without code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from app import rawsql
from app.extensions import db
from app.gamification.models import BadgeDefinition, PointBalance, Streak, UserBadge, UserStats
from app.rawsql import Prepared, RawCursor
from app.timeutil import utcnow

MAX_THRESHOLD = 1_000_000  # far beyond any real count; keeps the INTEGER column and the form honest
CONDITIONS = {
    "shares": _l("Shares made"),
    "unique_clicks": _l("Unique clicks earned"),
    "streak": _l("Streak length"),
    "top_month": _l("Best monthly rank (number of top places)"),
    "suggestions_approved": _l("Suggestions approved"),
    "surveys_completed": _l("Surveys completed"),
    "comments": _l("Comments written"),
    "kudos_received": _l("Kudos received"),
    "lifetime_points": _l("Lifetime points"),
}


@dataclass(frozen=True)
class BuiltinBadge:
    code: str
    name: object
    description: object
    condition: str
    threshold: int
    icon: str


BUILTIN = [
    BuiltinBadge("first-share", _l("First share"), _l("Shared your first post."), "shares", 1, "spark"),
    BuiltinBadge("shares-10", _l("Regular"), _l("Shared 10 posts."), "shares", 10, "megaphone"),
    BuiltinBadge("shares-50", _l("Amplifier"), _l("Shared 50 posts."), "shares", 50, "megaphone"),
    BuiltinBadge("shares-100", _l("Herald"), _l("Shared 100 posts."), "shares", 100, "crown"),
    BuiltinBadge("clicks-10", _l("First reach"), _l("Your links earned 10 unique clicks."), "unique_clicks", 10,
                 "target"),
    BuiltinBadge("clicks-100", _l("Crowd puller"), _l("Your links earned 100 unique clicks."), "unique_clicks", 100,
                 "target"),
    BuiltinBadge("clicks-1000", _l("Influencer"), _l("Your links earned 1,000 unique clicks."), "unique_clicks",
                 1000, "rocket"),
    BuiltinBadge("streak-4", _l("On a roll"), _l("Shared 4 weeks (or days) in a row."), "streak", 4, "flame"),
    BuiltinBadge("streak-12", _l("Unstoppable"), _l("Shared 12 weeks (or days) in a row."), "streak", 12, "flame"),
    BuiltinBadge("streak-26", _l("Half-year hero"), _l("Shared 26 weeks (or days) in a row."), "streak", 26, "flame"),
    BuiltinBadge("top10-month", _l("Top 10"), _l("Finished a month in the company's top 10."), "top_month", 10,
                 "trophy"),
    BuiltinBadge("first-suggestion", _l("Scout"), _l("Your first suggestion was approved."), "suggestions_approved",
                 1, "compass"),
    BuiltinBadge("surveys-5", _l("Survey regular"), _l("Answered 5 surveys."), "surveys_completed", 5, "chat"),
]  # fmt: skip
BUILTIN_BY_CODE = {b.code: b for b in BUILTIN}
_ensured: set[str] = set()


def ensure_builtin() -> None:
    """Insert built-in badge rows that are missing (once per process and database)."""
    bind_key = str(db.session.get_bind().url)
    if bind_key in _ensured:
        return
    existing = set(db.session.scalars(select(BadgeDefinition.code)))
    for sort, badge in enumerate(BUILTIN):
        if badge.code in existing:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(BadgeDefinition(
                    code=badge.code, name=str(badge.code), condition=badge.condition, threshold=badge.threshold,
                    icon=badge.icon, builtin=True, sort=sort,
                ))  # fmt: skip
        except IntegrityError:
            pass  # another process inserted it
    _ensured.add(bind_key)


def display_name(badge: BadgeDefinition) -> str:
    """The badge's name in the viewer's language (built-ins translate; custom ones are as typed)."""
    builtin = BUILTIN_BY_CODE.get(badge.code) if badge.builtin else None
    return str(builtin.name) if builtin else badge.name


def display_description(badge: BadgeDefinition) -> str:
    """The badge's description in the viewer's language."""
    builtin = BUILTIN_BY_CODE.get(badge.code) if badge.builtin else None
    if builtin:
        return str(builtin.description)
    return badge.description or _("%(what)s: %(n)d or more.", n=badge.threshold, what=CONDITIONS[badge.condition])


@dataclass(frozen=True, slots=True)
class ActiveBadge:
    """An active badge definition as the award path needs it (cached per process)."""

    id: int
    code: str
    name: str
    condition: str
    threshold: int
    builtin: bool


_CACHE_SECONDS = 30.0
_active: dict[str, tuple[float, tuple[ActiveBadge, ...]]] = {}


def active_badges() -> tuple[ActiveBadge, ...]:
    """Every active badge, cached for 30 s per process (a new badge reaches other workers within that)."""
    key = str(db.session.get_bind().url)
    hit = _active.get(key)
    if hit is None or hit[0] < time.monotonic():
        ensure_builtin()
        rows = db.session.execute(
            select(BadgeDefinition.id, BadgeDefinition.code, BadgeDefinition.name, BadgeDefinition.condition,
                   BadgeDefinition.threshold, BadgeDefinition.builtin)
            .where(BadgeDefinition.active.is_(True))
            .order_by(BadgeDefinition.sort, BadgeDefinition.id)
        )  # fmt: skip
        hit = (time.monotonic() + _CACHE_SECONDS, tuple(ActiveBadge(*row) for row in rows))
        _active[key] = hit
    return hit[1]


def forget_cache() -> None:
    """Drop the cached definitions (after an admin adds or changes a badge, and between tests).

    The note of which databases already hold the built-in badges goes too, so they are
    made again if the tables were emptied.
    """
    _active.clear()
    _ensured.clear()


_STATEMENTS: dict[tuple[str, str], Prepared] = {}


def _statement(dialect, name: str) -> Prepared:
    """Prebuilt reads of a badge condition's value, the owned badges, and the grant (once per dialect)."""
    found = _STATEMENTS.get((dialect.name, name))
    if found is not None:
        return found
    user = bindparam("p_user")
    if name == "owned":
        stmt = select(UserBadge.badge_id).where(UserBadge.user_id == user)
    elif name == "grant":
        dialect_insert = rawsql.dialect_insert(dialect.name)
        stmt = (
            dialect_insert(UserBadge)
            .values(user_id=user, badge_id=bindparam("p_badge"), awarded_at=bindparam("p_now"))
            .on_conflict_do_nothing(index_elements=["user_id", "badge_id"])
        )
    elif name == "streak":
        stmt = select(Streak.current, Streak.longest).where(Streak.user_id == user)
    elif name == "lifetime_points":
        stmt = select(PointBalance.lifetime).where(PointBalance.user_id == user)
    else:
        stmt = select(getattr(UserStats, name)).where(UserStats.user_id == user)
    found = Prepared(stmt)
    _STATEMENTS[(dialect.name, name)] = found
    return found


def _value(raw: RawCursor, user_id: int, condition: str) -> int:
    if condition == "top_month":
        return 0  # granted by the monthly task, not by a counter
    row = _statement(raw.dialect, condition).execute(raw, {"p_user": user_id}).fetchone()
    if row is None:
        return 0
    return max(row) if condition == "streak" else row[0]


def evaluate(user_id: int, conditions: tuple[str, ...], values: dict[str, int] | None = None,
             raw: RawCursor | None = None) -> list[ActiveBadge]:  # fmt: skip
    """Award every active badge of these condition types whose threshold the user now meets; returns new ones.

    ``values`` are condition values the caller already knows (a counter's new
    value from its RETURNING); the rest are read. A badge an admin added below
    someone's count is granted with their next action of that kind.
    """
    wanted = [badge for badge in active_badges() if badge.condition in conditions]
    if not wanted:
        return []
    with rawsql.cursor(db.session, raw) as raw:
        known = dict(values or {})
        met = []
        for badge in wanted:
            if badge.condition not in known:
                known[badge.condition] = _value(raw, user_id, badge.condition)
            if known[badge.condition] >= badge.threshold:
                met.append(badge)
        if not met:
            return []
        owned = {row[0] for row in _statement(raw.dialect, "owned").execute(raw, {"p_user": user_id}).fetchall()}
        return [badge for badge in met if badge.id not in owned and _grant(raw, user_id, badge.id)]


def _grant(raw: RawCursor, user_id: int, badge_id: int) -> bool:
    params = {"p_user": user_id, "p_badge": badge_id, "p_now": utcnow()}
    granted = _statement(raw.dialect, "grant").execute(raw, params).rowcount == 1
    if granted:
        from flask import current_app

        from app import events

        events.badge_earned.send(current_app._get_current_object(), user_id=user_id, badge_id=badge_id)
    return granted


def grant(user_id: int, badge) -> bool:
    """Give a badge once; False when the user already has it (the primary key decides)."""
    with rawsql.cursor(db.session) as raw:
        return _grant(raw, user_id, badge.id)


COUNTERS = ("shares", "unique_clicks", "comments", "suggestions_approved", "surveys_completed", "kudos_received")


def progress_values(user_id: int, lifetime: int | None = None) -> dict[str, int]:
    """Where a person stands on each condition a counter measures (``top_month`` has none: a task grants it).

    The same values ``evaluate`` compares with thresholds: the running counters, the
    longer of the current and the longest streak, lifetime points (pass ``lifetime``
    when it is already known, to save the read).
    """
    stats = db.session.get(UserStats, user_id)
    values = {name: (getattr(stats, name) or 0) if stats else 0 for name in COUNTERS}
    streak = db.session.get(Streak, user_id)
    values["streak"] = max(streak.current or 0, streak.longest or 0) if streak else 0
    if lifetime is None:
        balance = db.session.get(PointBalance, user_id)
        lifetime = balance.lifetime if balance else 0
    values["lifetime_points"] = lifetime
    return values


def progress_label(condition: str, value: int, threshold: int) -> str:
    """The "7/10 shares" line: how far a locked badge is, in the viewer's language (plural by the threshold)."""
    value = min(value, threshold)
    if condition == "shares":
        return ngettext("%(value)d/%(num)d share", "%(value)d/%(num)d shares", threshold, value=value)
    if condition == "unique_clicks":
        return ngettext("%(value)d/%(num)d unique click", "%(value)d/%(num)d unique clicks", threshold, value=value)
    if condition == "streak":
        return _("%(value)d/%(num)d in a row", value=value, num=threshold)
    if condition == "comments":
        return ngettext("%(value)d/%(num)d comment", "%(value)d/%(num)d comments", threshold, value=value)
    if condition == "suggestions_approved":
        return ngettext("%(value)d/%(num)d approved suggestion", "%(value)d/%(num)d approved suggestions", threshold,
                        value=value)  # fmt: skip
    if condition == "surveys_completed":
        return ngettext("%(value)d/%(num)d survey", "%(value)d/%(num)d surveys", threshold, value=value)
    if condition == "kudos_received":
        return ngettext("%(value)d/%(num)d kudos", "%(value)d/%(num)d kudos", threshold, value=value)
    if condition == "lifetime_points":
        return ngettext("%(value)d/%(num)d point", "%(value)d/%(num)d points", threshold, value=value)
    return ""


def profile(user_id: int, lifetime: int | None = None) -> list[dict]:
    """Every active badge with whether and when the user earned it, and progress toward the locked ones.

    ``progress`` is None for an earned badge and for one no counter measures (top of the month).
    """
    ensure_builtin()
    owned = {
        ub.badge_id: ub.awarded_at for ub in db.session.scalars(select(UserBadge).where(UserBadge.user_id == user_id))
    }
    badges = db.session.scalars(
        select(BadgeDefinition)
        .where(BadgeDefinition.active.is_(True))
        .order_by(BadgeDefinition.sort, BadgeDefinition.id)
    ).all()
    values = progress_values(user_id, lifetime)
    out = []
    for b in badges:
        earned_at = owned.get(b.id)
        progress = None
        if earned_at is None and b.condition in values:
            value = min(values[b.condition], b.threshold)
            progress = {"value": value, "threshold": b.threshold,
                        "label": progress_label(b.condition, value, b.threshold)}  # fmt: skip
        out.append({"badge": b, "name": display_name(b), "description": display_description(b),
                    "earned_at": earned_at, "progress": progress})  # fmt: skip
    return out


def create_custom(name: str, description: str, condition: str, threshold: int) -> BadgeDefinition:
    """An admin's badge from a condition type and a threshold."""
    import re

    name = (name or "").strip()
    if not name:
        raise ValueError(_("Give the badge a name."))
    if condition not in CONDITIONS:
        raise ValueError(_("Choose a condition."))
    if not 1 <= threshold <= MAX_THRESHOLD:
        raise ValueError(_("The threshold must be at least 1 and at most 1,000,000."))
    code = "custom-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30] or "badge")
    while db.session.scalar(select(BadgeDefinition.id).where(BadgeDefinition.code == code)):
        code += "-x"
    badge = BadgeDefinition(
        code=code, name=name[:80], description=(description or "").strip()[:500], condition=condition,
        threshold=threshold, icon="star", builtin=False, sort=1000,
    )  # fmt: skip
    db.session.add(badge)
    db.session.flush()
    forget_cache()
    return badge
