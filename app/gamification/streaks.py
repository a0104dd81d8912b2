"""Sharing streaks: consecutive days or weeks with a share, in the employee's own time zone.

A missed period is covered by a streak freeze when one is left (freezes are
earned at milestones). A share dated in the same or an earlier period than the
last one (a second share this week, or a flight west) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, or_, select

from app import rawsql
from app.accounts.models import User
from app.extensions import db
from app.gamification import periods
from app.gamification.models import Streak, StreakPeriod
from app.gamification.rules import get_rules
from app.rawsql import Prepared, RawCursor
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
    longest: int = 0


_STATEMENTS: dict[str, dict[str, Prepared]] = {}


def _statements(dialect) -> dict[str, Prepared]:
    """Read and write one streak with prebuilt statements (every first share of a period runs them)."""
    found = _STATEMENTS.get(dialect.name)
    if found is not None:
        return found
    dialect_insert = rawsql.dialect_insert(dialect.name)
    streak, days = Streak.__table__, StreakPeriod.__table__
    query = select(streak.c.period, streak.c.current, streak.c.longest, streak.c.last_key, streak.c.freezes,
                   streak.c.freezes_used).where(streak.c.user_id == bindparam("p_user"))  # fmt: skip
    if dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite writers already hold the database lock (BEGIN IMMEDIATE)
    columns = ("period", "current", "longest", "last_key", "freezes", "freezes_used", "updated_at")
    ins = dialect_insert(streak).values(user_id=bindparam("p_user"), **{c: bindparam("p_" + c) for c in columns})
    day = dialect_insert(days).values(user_id=bindparam("p_user"), period_key=bindparam("p_key"),
                                      frozen=bindparam("p_frozen"))  # fmt: skip
    found = {
        "read": Prepared(query),
        "write": Prepared(
            ins.on_conflict_do_update(index_elements=["user_id"], set_={c: ins.excluded[c] for c in columns})
        ),
        "period": Prepared(
            day.on_conflict_do_update(index_elements=["user_id", "period_key"], set_={"frozen": day.excluded.frozen})
        ),
    }
    _STATEMENTS[dialect.name] = found
    return found


def record_share(user: User, when: datetime | None = None, raw: RawCursor | None = None) -> StreakChange:
    """Extend the user's streak for a share at ``when``."""
    rules = get_rules()["streak"]
    period = rules["period"]
    when = when or utcnow()
    key = periods.streak_key(when, user.timezone, period)
    with rawsql.cursor(db.session, raw) as raw:
        return _record(raw, user, when, key, period, rules)


def _record(raw: RawCursor, user: User, when: datetime, key: str, period: str, rules: dict) -> StreakChange:
    stmts = _statements(raw.dialect)
    row = stmts["read"].execute(raw, {"p_user": user.id}).fetchone()
    current, longest, last_key, freezes, freezes_used = (row[1], row[2], row[3], row[4], row[5]) if row else \
        (0, 0, None, 0, 0)  # fmt: skip
    if row is not None and row[0] != period:
        # The program switched between daily and weekly: start counting in the new unit.
        current, last_key = 0, None
    if last_key is not None and key <= last_key:
        return StreakChange(current, False, 0, None, False, longest)
    frozen = 0
    days = [{"p_user": user.id, "p_key": key, "p_frozen": False}]
    if last_key is None:
        current = 1
    else:
        missed = periods.periods_between(last_key, key, period) - 1
        if missed == 0:
            current += 1
        elif 0 < missed <= freezes:
            frozen = missed
            freezes -= missed
            freezes_used += missed
            days += [{"p_user": user.id, "p_key": periods.shift(last_key, period, n), "p_frozen": True}
                     for n in range(1, missed + 1)]  # fmt: skip
            current += 1
        else:
            current = 1
    longest = max(longest, current)
    milestone = current if current in rules["milestones"] else None
    freeze_earned = False
    if rules["freeze_every"] and current % rules["freeze_every"] == 0 and freezes < rules["max_freezes"]:
        freezes += 1
        freeze_earned = True
    stmts["write"].execute(raw, {
        "p_user": user.id, "p_period": period, "p_current": current, "p_longest": longest, "p_last_key": key,
        "p_freezes": freezes, "p_freezes_used": freezes_used, "p_updated_at": when,
    })  # fmt: skip
    stmts["period"].executemany(raw, days)
    loaded = db.session.identity_map.get(db.session.identity_key(Streak, user.id))
    if loaded is not None:
        db.session.expire(loaded)  # written around the ORM: a copy loaded earlier in this request is stale
    return StreakChange(current, True, frozen, milestone, freeze_earned, longest)


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
    current, shared_now, at_risk = _judge(streak.current, streak.last_key, streak.freezes, key, ends_at, period, now)
    return StreakView(current, streak.longest, streak.freezes, period, shared_now, at_risk, ends_at)


def _judge(current: int, last_key: str, freezes: int, key: str, ends_at: datetime, period: str, now: datetime):
    """(current, shared this period, at risk) of a streak last extended in ``last_key``, now in period ``key``."""
    shared_now = last_key >= key
    gap = periods.periods_between(last_key, key, period) - 1 if not shared_now else 0
    alive = shared_now or gap <= freezes
    current = current if alive else 0
    # At risk: nothing shared yet this period, and missing it would use up more than the freezes left.
    at_risk = alive and not shared_now and current > 0 and gap + 1 > freezes and ends_at - now <= AT_RISK[period]
    return current, shared_now, at_risk


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


@dataclass(frozen=True)
class AtRisk:
    """A streak that ends soon unless its owner shares: whose, how long, and which period it is."""

    user_id: int
    current: int
    period: str
    key: str  # the period (in the person's time zone) that still lacks a share
    ends_at: datetime


def at_risk(now: datetime | None = None) -> list[AtRisk]:
    """Every streak at risk right now (what ``view(user, now).at_risk`` says), read with one query.

    The query keeps only rows that can be at risk: active people with a live streak of the
    current kind, nothing shared in the period the world's earliest clock is in, a last share
    at most ``freezes + 1`` periods back (where freezes are within the rules' maximum), in a
    time zone whose period ends within ``AT_RISK``. The exact test, per row, is ``view``'s own.
    """
    now = now or utcnow()
    rules = get_rules()["streak"]
    period = rules["period"]
    zones = _zones_ending_soon(now, period)
    if not zones:
        return []
    latest = periods.streak_key(now, _AHEAD_ZONE, period)  # no one is in a later period than this
    earliest = periods.streak_key(now, _BEHIND_ZONE, period)  # nor in an earlier one
    max_freezes = max(int(rules.get("max_freezes") or 0), 0)
    oldest_alive = periods.shift(earliest, period, -(max_freezes + 1))
    rows = db.session.execute(
        select(Streak.user_id, User.timezone, Streak.current, Streak.last_key, Streak.freezes)
        .join(User, User.id == Streak.user_id)
        .where(
            User.status == "active",
            Streak.current > 0,
            Streak.period == period,
            Streak.last_key < latest,
            or_(Streak.last_key >= oldest_alive, Streak.freezes > max_freezes),
            User.timezone.in_(sorted(zones)),
        )
        .order_by(Streak.user_id)
    ).all()
    out = []
    for user_id, tz, current, last_key, freezes in rows:
        key = periods.streak_key(now, tz, period)
        ends_at = zones[tz]
        current, _shared, risky = _judge(current, last_key, freezes, key, ends_at, period, now)
        if risky:
            out.append(AtRisk(user_id, current, period, key, ends_at))
    return out


def users_at_risk(now: datetime | None = None) -> list[int]:
    """Ids of people whose streak ends soon unless they share (one query; see ``at_risk``)."""
    return [found.user_id for found in at_risk(now)]


# The zones whose clocks are furthest ahead of and behind UTC (+14 and -12 hours).
_AHEAD_ZONE, _BEHIND_ZONE = "Pacific/Kiritimati", "Etc/GMT+12"


def _zones_ending_soon(now: datetime, period: str) -> dict[str, datetime]:
    """Time zones (by name) whose current streak period ends within ``AT_RISK``, and when it ends there."""
    window = AT_RISK[period]
    out = {}
    for name in _zone_names():
        ends_at = periods.period_end(periods.streak_key(now, name, period), period, name)
        if ends_at - now <= window:
            out[name] = ends_at
    return out


@lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    """Every time zone a person can have (``accounts.services.valid_timezone`` accepts these)."""
    from zoneinfo import available_timezones

    return tuple(sorted(available_timezones()))
