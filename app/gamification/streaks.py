"""Sharing streaks: consecutive days or weeks with a share, in the employee's own time zone.

A missed period is covered by a streak freeze when one is left (freezes are
earned at milestones). A share dated in the same or an earlier period than the
last one (a second share this week, or a flight west) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.gamification import periods
from app.gamification.models import Streak, StreakPeriod
from app.gamification.rules import get_rules
from app.timeutil import utcnow

# "At risk" when less than this is left of the current period and nothing is shared yet.
AT_RISK = {"daily": timedelta(hours=6), "weekly": timedelta(hours=48)}


@dataclass
class StreakChange:
    """What a share did to the streak."""

    current: int
    extended: bool
    frozen: int  # freezes used to bridge missed periods
    milestone: int | None  # the milestone reached, if any
    freeze_earned: bool


def _row(user: User, period: str) -> Streak:
    query = select(Streak).where(Streak.user_id == user.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite writers already hold the database lock (BEGIN IMMEDIATE)
    streak = db.session.scalar(query)
    if streak is None:
        streak = Streak(user_id=user.id, period=period, current=0, longest=0, freezes=0, freezes_used=0)
        db.session.add(streak)
        db.session.flush()
    elif streak.period != period:
        # The program switched between daily and weekly: start counting in the new unit.
        streak.period, streak.current, streak.last_key = period, 0, None
    return streak


def record_share(user: User, when: datetime | None = None) -> StreakChange:
    """Extend the user's streak for a share at ``when``."""
    rules = get_rules()["streak"]
    period = rules["period"]
    when = when or utcnow()
    key = periods.streak_key(when, user.timezone, period)
    streak = _row(user, period)
    frozen = 0
    if streak.last_key is not None and key <= streak.last_key:
        return StreakChange(streak.current, False, 0, None, False)
    if streak.last_key is None:
        streak.current = 1
    else:
        missed = periods.periods_between(streak.last_key, key, period) - 1
        if missed == 0:
            streak.current += 1
        elif 0 < missed <= streak.freezes:
            frozen = missed
            streak.freezes -= missed
            streak.freezes_used += missed
            for n in range(1, missed + 1):
                db.session.merge(StreakPeriod(user_id=user.id, period_key=periods.shift(streak.last_key, period, n),
                                              frozen=True))  # fmt: skip
            streak.current += 1
        else:
            streak.current = 1
    streak.last_key = key
    streak.longest = max(streak.longest, streak.current)
    streak.updated_at = when
    db.session.merge(StreakPeriod(user_id=user.id, period_key=key, frozen=False))
    milestone = streak.current if streak.current in rules["milestones"] else None
    freeze_earned = False
    if rules["freeze_every"] and streak.current % rules["freeze_every"] == 0 and streak.freezes < rules["max_freezes"]:
        streak.freezes += 1
        freeze_earned = True
    db.session.flush()
    return StreakChange(streak.current, True, frozen, milestone, freeze_earned)


@dataclass
class StreakView:
    """The streak as the profile shows it now."""

    current: int
    longest: int
    freezes: int
    period: str
    shared_this_period: bool
    at_risk: bool
    ends_at: datetime | None


def view(user: User, now: datetime | None = None) -> StreakView:
    """The streak right now: a streak whose last share is too old (beyond the freezes) shows as 0."""
    now = now or utcnow()
    period = get_rules()["streak"]["period"]
    streak = db.session.get(Streak, user.id)
    key = periods.streak_key(now, user.timezone, period)
    ends_at = periods.period_end(key, period, user.timezone)
    if streak is None or streak.last_key is None or streak.period != period:
        return StreakView(0, streak.longest if streak else 0, streak.freezes if streak else 0, period, False, False,
                          ends_at)  # fmt: skip
    shared_now = streak.last_key >= key
    gap = periods.periods_between(streak.last_key, key, period) - 1 if not shared_now else 0
    alive = shared_now or gap <= streak.freezes
    current = streak.current if alive else 0
    # At risk: nothing shared yet this period, and missing it would use up more than the freezes left.
    at_risk = alive and not shared_now and current > 0 and gap + 1 > streak.freezes and ends_at - now <= AT_RISK[period]
    return StreakView(current, streak.longest, streak.freezes, period, shared_now, at_risk, ends_at)


def calendar(user: User, count: int = 12, now: datetime | None = None) -> list[dict]:
    """The last ``count`` periods, oldest first: shared, frozen or missed (for the small calendar)."""
    now = now or utcnow()
    period = get_rules()["streak"]["period"]
    key = periods.streak_key(now, user.timezone, period)
    keys = [periods.shift(key, period, -n) for n in range(count - 1, -1, -1)]
    rows = {
        r.period_key: r
        for r in db.session.scalars(
            select(StreakPeriod).where(StreakPeriod.user_id == user.id, StreakPeriod.period_key.in_(keys))
        )
    }
    return [
        {"key": k, "state": ("frozen" if rows[k].frozen else "shared") if k in rows else "missed", "current": k == key}
        for k in keys
    ]


def users_at_risk(now: datetime | None = None) -> list[int]:
    """Ids of people whose streak ends soon unless they share (for the push issue)."""
    now = now or utcnow()
    out = []
    for streak in db.session.scalars(select(Streak).where(Streak.current > 0)):
        user = db.session.get(User, streak.user_id)
        if user is not None and user.is_active and view(user, now).at_risk:
            out.append(user.id)
    return out
