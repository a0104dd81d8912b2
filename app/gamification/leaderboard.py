"""Leaderboards: one function computes standings, with one documented ordering.

Ordering: points descending, then whoever reached that score first
(``reached_at`` ascending), then user id. Ranks follow points only, so equal
points share a rank (1, 2, 2, 4); the order inside a tie is the one above.
Hidden people are counted and ranked but shown as "Hidden". Scores are kept
incrementally per period (``period_score``), so a board is an index range scan,
never a sum over the ledger.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, func, select

from app.accounts.models import User, initials_of
from app.extensions import db
from app.gamification.models import DepartmentScore, PeriodScore
from app.gamification.periods import BOARD_PERIODS, board_keys
from app.org.models import Department
from app.timeutil import utcnow

SCOPES = ("company", "department", "location", "teams")
TOP = 50
# How long a board's distribution of points (see ``_distribution``) may be reused by one process.
DISTRIBUTION_SECONDS = 10.0
_members_cache: dict[str, tuple[float, dict[int, int]]] = {}
_distribution_cache: dict[tuple, tuple[float, list[int], list[int]]] = {}


@dataclass
class Standing:
    """One row of a board."""

    rank: int
    user_id: int
    name: str
    points: int
    hidden: bool
    is_me: bool
    department: str = ""
    avatar_path: str | None = None

    @property
    def initials(self) -> str:
        """One or two letters for the avatar of someone without a photo (never asked of a hidden row)."""
        return initials_of(self.name) or "?"


@dataclass
class Board:
    """A board: the top rows and the viewer's own row (always present)."""

    period: str
    scope: str
    rows: list[Standing]
    me: Standing | None
    me_in_top: bool
    total: int


def _conditions(scope: str) -> list:
    """WHERE conditions of a board (bound: ``period``, ``key``, ``scope_id``): the period, active people, the scope."""
    conditions = [
        PeriodScore.period == bindparam("period"),
        PeriodScore.period_key == bindparam("key"),
        PeriodScore.active.is_(True),
        PeriodScore.points > 0,
    ]
    if scope == "department":
        conditions.append(PeriodScore.department_id == bindparam("scope_id"))
    elif scope == "location":
        conditions.append(PeriodScore.location_id == bindparam("scope_id"))
    return conditions


@lru_cache(maxsize=8)
def _statements(scope: str) -> dict:
    """A board's queries, built once per scope: only bound parameters change between page views.

    Building a statement and its cache key anew cost more than running it on SQLite,
    and they run on the connection (Core rows, no ORM result machinery).
    """
    where = _conditions(scope)
    return {
        "top": select(
            PeriodScore.user_id, PeriodScore.points, User.display_name, User.hide_from_leaderboards, User.avatar_path
        )
        .join(User, User.id == PeriodScore.user_id)
        .where(*where)
        .order_by(PeriodScore.points.desc(), PeriodScore.reached_at, PeriodScore.user_id)
        .limit(bindparam("limit")),
        "distribution": select(PeriodScore.points, func.count())
        .where(*where)
        .group_by(PeriodScore.points)
        .order_by(PeriodScore.points),
        "mine": select(PeriodScore.points).where(
            PeriodScore.user_id == bindparam("user_id"),
            PeriodScore.period == bindparam("period"),
            PeriodScore.period_key == bindparam("key"),
        ),
    }


def standings(period: str, scope: str, viewer: User, now: datetime | None = None, limit: int = TOP) -> Board:
    """The top ``limit`` for a period and scope (company, department, location), plus the viewer's row."""
    if period not in BOARD_PERIODS:
        period = "week"
    if scope not in ("company", "department", "location"):
        scope = "company"
    key = board_keys(now or utcnow())[period]
    scope_id = viewer.department_id if scope == "department" else viewer.location_id if scope == "location" else None
    statements = _statements(scope)
    connection = db.session.connection()
    params = {"period": period, "key": key, "scope_id": scope_id, "limit": limit}
    top = connection.execute(statements["top"], params).all()
    rows: list[Standing] = []
    previous_points, rank = None, 0
    for position, (user_id, points, name, hidden, avatar_path) in enumerate(top, start=1):
        if points != previous_points:
            rank, previous_points = position, points
        is_me = user_id == viewer.id
        hidden = bool(hidden) and not is_me
        # A hidden person's photo would name them as surely as their name: the row carries neither.
        rows.append(Standing(rank, user_id, name, points, hidden, is_me, avatar_path=None if hidden else avatar_path))
    me = next((r for r in rows if r.is_me), None)
    me_in_top = me is not None
    values, at_most = _distribution(connection, statements["distribution"], params, scope)
    total = at_most[-1] if at_most else 0
    if me is None:
        mine = connection.execute(statements["mine"], {"user_id": viewer.id, "period": period, "key": key}).scalar()
        mine = mine or 0
        below = bisect_right(values, mine)  # distinct scores <= mine
        ahead = total - (at_most[below - 1] if below else 0)
        me = Standing(ahead + 1, viewer.id, viewer.display_name, mine, False, True, avatar_path=viewer.avatar_path)
    return Board(period, scope, rows, me, me_in_top, total)


def _distribution(connection, statement, params: dict, scope: str) -> tuple[list[int], list[int]]:
    """The board's distinct scores (ascending) and how many people score at most each: ranks by bisection.

    Counting everyone ahead of a viewer is a scan of the board (tens of thousands of
    index entries on a big company, per page view); the distribution is one grouped
    scan, reused for ``DISTRIBUTION_SECONDS`` per process. It is keyed by every
    parameter of the board (database, period, key, scope and the scope's id), never by
    viewer; the viewer's own score and the top list are always read live.
    """
    cache_key = (str(connection.engine.url), params["period"], params["key"], scope, params["scope_id"])
    hit = _distribution_cache.get(cache_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    values: list[int] = []
    at_most: list[int] = []
    running = 0
    for points, count in connection.execute(statement, params):
        running += count
        values.append(points)
        at_most.append(running)
    _distribution_cache[cache_key] = (time.monotonic() + DISTRIBUTION_SECONDS, values, at_most)
    return values, at_most


def active_members() -> dict[int, int]:
    """Active people per department (cached for a minute per process: it changes slowly)."""
    cache_key = str(db.session.get_bind().url)
    hit = _members_cache.get(cache_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    counts = dict(
        db.session.execute(
            select(User.department_id, func.count())
            .where(User.status == "active", User.department_id.is_not(None))
            .group_by(User.department_id)
        ).all()
    )
    _members_cache[cache_key] = (time.monotonic() + 60, counts)
    return counts


def forget_members_cache() -> None:
    """Drop the cached member counts and score distributions (tests, imports)."""
    _members_cache.clear()
    _distribution_cache.clear()


@dataclass
class TeamStanding:
    """A department on the team board: points per active member, so small teams can win."""

    rank: int
    department_id: int
    name: str
    points: int
    members: int
    average: float
    is_mine: bool


def teams(period: str, viewer: User, now: datetime | None = None) -> list[TeamStanding]:
    """Departments ranked by average points per active member (ties: who got there first, then id)."""
    if period not in BOARD_PERIODS:
        period = "week"
    key = board_keys(now or utcnow())[period]
    members = active_members()
    scores = {
        dept_id: (points, reached)
        for dept_id, points, reached in db.session.execute(
            select(DepartmentScore.department_id, DepartmentScore.points, DepartmentScore.reached_at).where(
                DepartmentScore.period == period, DepartmentScore.period_key == key
            )
        )
    }
    depts = db.session.execute(select(Department.id, Department.name)).all()
    far_future = datetime.max.replace(tzinfo=utcnow().tzinfo)
    entries = []
    for dept_id, name in depts:
        count = members.get(dept_id, 0)
        if not count:
            continue
        points, reached = scores.get(dept_id, (0, far_future))
        entries.append((round(points / count, 1), reached, dept_id, name, points, count))
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    out, previous, rank = [], None, 0
    for position, (average, _reached, dept_id, name, points, count) in enumerate(entries, start=1):
        if average != previous:
            rank, previous = position, average
        out.append(TeamStanding(rank, dept_id, name, points, count, average, dept_id == viewer.department_id))
    return out
