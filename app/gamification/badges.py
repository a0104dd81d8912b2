"""Badges: declarative achievements, awarded once each, with the date.

Built-in badges are defined here (their names translate); admins add more from
the same small set of condition types without code.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.gamification.models import BadgeDefinition, PointBalance, Streak, UserBadge, UserStats

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


def _value(user_id: int, condition: str) -> int:
    if condition == "streak":
        streak = db.session.get(Streak, user_id)
        return max(streak.current, streak.longest) if streak else 0
    if condition == "lifetime_points":
        balance = db.session.get(PointBalance, user_id)
        return balance.lifetime if balance else 0
    stats = db.session.get(UserStats, user_id)
    return getattr(stats, condition, 0) if stats else 0


_thresholds: dict[str, tuple[float, dict[str, set[int]]]] = {}


def could_earn(condition: str, value: int) -> bool:
    """Cheap pre-check: does ``value`` hit an active threshold of ``condition``? (thresholds cached 30 s)

    Counters grow one at a time, so most actions cross no threshold and skip the badge queries.
    """
    import time

    key = str(db.session.get_bind().url)
    hit = _thresholds.get(key)
    if hit is None or hit[0] < time.monotonic():
        table: dict[str, set[int]] = {}
        for cond, threshold in db.session.execute(
            select(BadgeDefinition.condition, BadgeDefinition.threshold).where(BadgeDefinition.active.is_(True))
        ):
            table.setdefault(cond, set()).add(threshold)
        hit = (time.monotonic() + 30, table)
        _thresholds[key] = hit
    # Exactly at a threshold, or now and then (a badge an admin added below someone's count).
    return value in hit[1].get(condition, ()) or value % 25 == 0


def evaluate(user_id: int, conditions: tuple[str, ...]) -> list[BadgeDefinition]:
    """Award every active badge of these condition types whose threshold the user now meets; returns new ones."""
    ensure_builtin()
    candidates = db.session.scalars(
        select(BadgeDefinition).where(BadgeDefinition.active.is_(True), BadgeDefinition.condition.in_(conditions))
    ).all()
    if not candidates:
        return []
    owned = set(db.session.scalars(select(UserBadge.badge_id).where(UserBadge.user_id == user_id)))
    values: dict[str, int] = {}
    earned = []
    for badge in candidates:
        if badge.id in owned:
            continue
        if badge.condition not in values:
            values[badge.condition] = _value(user_id, badge.condition)
        if values[badge.condition] >= badge.threshold and grant(user_id, badge):
            earned.append(badge)
    return earned


def grant(user_id: int, badge: BadgeDefinition) -> bool:
    """Give a badge once; False when the user already has it (the primary key decides)."""
    try:
        with db.session.begin_nested():
            db.session.add(UserBadge(user_id=user_id, badge_id=badge.id))
    except IntegrityError:
        return False
    return True


def profile(user_id: int) -> list[dict]:
    """Every active badge with whether and when the user earned it (locked ones greyed on the profile)."""
    ensure_builtin()
    owned = {
        ub.badge_id: ub.awarded_at for ub in db.session.scalars(select(UserBadge).where(UserBadge.user_id == user_id))
    }
    badges = db.session.scalars(
        select(BadgeDefinition)
        .where(BadgeDefinition.active.is_(True))
        .order_by(BadgeDefinition.sort, BadgeDefinition.id)
    ).all()
    return [
        {"badge": b, "name": display_name(b), "description": display_description(b), "earned_at": owned.get(b.id)}
        for b in badges
    ]


def create_custom(name: str, description: str, condition: str, threshold: int) -> BadgeDefinition:
    """An admin's badge from a condition type and a threshold."""
    import re

    name = (name or "").strip()
    if not name:
        raise ValueError(_("Give the badge a name."))
    if condition not in CONDITIONS:
        raise ValueError(_("Choose a condition."))
    if threshold < 1:
        raise ValueError(_("The threshold must be at least 1."))
    code = "custom-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30] or "badge")
    while db.session.scalar(select(BadgeDefinition.id).where(BadgeDefinition.code == code)):
        code += "-x"
    _thresholds.clear()
    badge = BadgeDefinition(
        code=code, name=name[:80], description=(description or "").strip()[:500], condition=condition,
        threshold=threshold, icon="star", builtin=False, sort=1000,
    )  # fmt: skip
    db.session.add(badge)
    db.session.flush()
    return badge
