"""The points ledger: every change of points is one entry plus guarded updates in the same transaction.

Invariants (tests prove them on SQLite and PostgreSQL):

* each award carries an idempotency key; the UNIQUE constraint, not a read in
  Python, decides that a retried request or a re-delivered event awards nothing twice;
* a balance always equals the sum of its user's entries and never goes negative
  (a CHECK constraint, and spending is ``UPDATE ... WHERE balance >= cost``);
* daily caps are counters changed by guarded single statements, so concurrent
  awards cannot overshoot them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, g, has_request_context
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import audit, rawsql
from app.accounts.models import User
from app.extensions import db
from app.gamification.models import (
    DailyCounter,
    DepartmentScore,
    PeriodScore,
    PointBalance,
    PointEntry,
    UserStats,
)
from app.gamification.periods import board_keys, day_key
from app.gamification.rules import get_rules
from app.rawsql import Prepared, RawCursor
from app.timeutil import utcnow

# One admin adjustment moves at most this many points either way (balances are INTEGER columns).
MAX_ADJUSTMENT = 1_000_000


class LedgerError(ValueError):
    """A user-facing problem with a points change (the message is translated)."""


@dataclass
class AwardResult:
    """What an award did: the points granted (0 when it was a repeat or capped) and why."""

    points: int = 0
    duplicate: bool = False
    capped: bool = False
    entry_id: int | None = None
    lifetime: int = 0  # lifetime points after the award (for badge checks)
    badges: list[str] = field(default_factory=list)


def upsert(model, values: dict, keys: tuple[str, ...], increments: dict, sets: dict | None = None):
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` adding ``increments`` (same SQL on SQLite and PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    dialect_insert = rawsql.dialect_insert(dialect)
    table = model.__table__
    stmt = dialect_insert(table).values(**values)
    changes = {name: table.c[name] + amount for name, amount in increments.items()}
    changes.update(sets or {})
    if not changes:
        return db.session.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))
    return db.session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))


_STATEMENTS: dict[str, dict[str, Prepared]] = {}
_NO_LIMIT = 2**31 - 1


def _statements(dialect) -> dict[str, Prepared]:
    """The ledger's hot statements, built once per dialect with bind parameters, run on the raw cursor.

    An award runs about ten statements; through SQLAlchemy's execution machinery
    they cost more than SQLite needs to run them (see ``app.rawsql``).
    """
    found = _STATEMENTS.get(dialect.name)
    if found is not None:
        return found
    dialect_insert = rawsql.dialect_insert(dialect.name)

    def b(name: str):
        # Not the column names: those are reserved for the VALUES/SET clauses.
        return bindparam("p_" + name)

    counter = DailyCounter.__table__
    balance = PointBalance.__table__
    score = PeriodScore.__table__
    dept = DepartmentScore.__table__
    entry = PointEntry.__table__
    ins = dialect_insert(score).values(
        user_id=b("user_id"), period=b("period"), period_key=b("period_key"), points=b("delta"),
        reached_at=b("now"), department_id=b("department_id"), location_id=b("location_id"), active=True,
    )  # fmt: skip
    dins = dialect_insert(dept).values(
        department_id=b("department_id"), period=b("period"), period_key=b("period_key"), points=b("delta"),
        reached_at=b("now"),
    )  # fmt: skip
    bins = dialect_insert(balance).values(
        user_id=b("user_id"), balance=b("delta"), lifetime=b("delta"), updated_at=b("now")
    )
    cins = dialect_insert(counter).values(
        user_id=b("user_id"), day=b("day"), action=b("action"), count=1, points=b("points")
    )
    eins = dialect_insert(entry).values(
        user_id=b("user_id"), delta=b("delta"), reason=b("reason"), params=b("params"),
        source_type=b("source_type"), source_id=b("source_id"), idempotency_key=b("key"), created_at=b("now"),
    )  # fmt: skip
    found = {
        # The UNIQUE key decides: a repeat inserts nothing and returns no id (no error, on both databases;
        # PostgreSQL waits for a concurrent insert of the same key and then does nothing).
        "entry": Prepared(eins.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(entry.c.id)),
        # A cap is one guarded upsert: the day's first action inserts (1, points), later ones add only while
        # under both limits, and rowcount says whether it counted.
        "cap": Prepared(
            cins.on_conflict_do_update(
                index_elements=["user_id", "day", "action"],
                set_={"count": counter.c.count + 1, "points": counter.c.points + cins.excluded.points},
                where=(counter.c.count < b("max_count")) & (counter.c.points + cins.excluded.points <= b("max_points")),
            )
        ),
        "balance_up": Prepared(
            bins.on_conflict_do_update(
                index_elements=["user_id"],
                set_={
                    "balance": balance.c.balance + bins.excluded.balance,
                    "lifetime": balance.c.lifetime + bins.excluded.lifetime,
                    "updated_at": bins.excluded.updated_at,
                },
            ).returning(balance.c.lifetime)
        ),
        "balance_down": Prepared(
            update(balance)
            .where(balance.c.user_id == b("user_id"), balance.c.balance + b("delta") >= 0)
            .values(balance=balance.c.balance + b("delta"), updated_at=b("now"))
        ),
        "score": Prepared(
            ins.on_conflict_do_update(
                index_elements=["user_id", "period", "period_key"],
                set_={
                    "points": score.c.points + ins.excluded.points,
                    "reached_at": ins.excluded.reached_at,
                    "department_id": ins.excluded.department_id,
                    "location_id": ins.excluded.location_id,
                },
            )
        ),
        "dept_score": Prepared(
            dins.on_conflict_do_update(
                index_elements=["department_id", "period", "period_key"],
                set_={"points": dept.c.points + dins.excluded.points, "reached_at": dins.excluded.reached_at},
            )
        ),
    }
    _STATEMENTS[dialect.name] = found
    return found


def _take_cap(raw: RawCursor, user_id: int, day: str, action: str, points: int, cap: dict) -> bool:
    """Count one action against its daily cap; False when the cap is reached (the caller rolls back)."""
    if not cap:
        return True
    max_count, max_points = cap.get("count", _NO_LIMIT), cap.get("points", _NO_LIMIT)
    if max_count < 1 or points > max_points:
        return False  # even the day's first action would exceed it
    params = {"p_user_id": user_id, "p_day": day, "p_action": action, "p_points": points,
              "p_max_count": max_count, "p_max_points": max_points}  # fmt: skip
    return _statements(raw.dialect)["cap"].execute(raw, params).rowcount == 1


def _apply_scores(raw: RawCursor, user: User, delta: int, now: datetime) -> None:
    """Move the balance-independent scores: the three board periods and the user's department."""
    stmts = _statements(raw.dialect)
    keys = board_keys(now)
    stmts["score"].executemany(raw, [
        {"p_user_id": user.id, "p_period": period, "p_period_key": key, "p_delta": delta, "p_now": now,
         "p_department_id": user.department_id, "p_location_id": user.location_id}
        for period, key in keys.items()
    ])  # fmt: skip
    if user.department_id:
        stmts["dept_score"].executemany(raw, [
            {"p_department_id": user.department_id, "p_period": period, "p_period_key": key, "p_delta": delta,
             "p_now": now}
            for period, key in keys.items()
        ])  # fmt: skip


def _change_balance(raw: RawCursor, user_id: int, delta: int, now: datetime) -> int:
    """Add ``delta`` to the balance (and, when positive, lifetime points); returns lifetime points or -1."""
    stmts = _statements(raw.dialect)
    if delta >= 0:
        return stmts["balance_up"].execute(raw, {"p_user_id": user_id, "p_delta": delta, "p_now": now}).fetchone()[0]
    if stmts["balance_down"].execute(raw, {"p_user_id": user_id, "p_delta": delta, "p_now": now}).rowcount != 1:
        from flask_babel import gettext as _

        raise LedgerError(_("Not enough points."))
    return -1


_STAT_STATEMENTS: dict[tuple[str, str], Prepared] = {}


def bump_stat(user_id: int, name: str, amount: int = 1, raw: RawCursor | None = None) -> int:
    """Add to one of the user's badge counters; returns the new value (prebuilt statement, RETURNING)."""
    with rawsql.cursor(db.session, raw) as raw:
        return _bump_stat(raw, user_id, name, amount)


def _bump_stat(raw: RawCursor, user_id: int, name: str, amount: int) -> int:
    dialect = raw.dialect.name
    stmt = _STAT_STATEMENTS.get((dialect, name))
    if stmt is None:
        dialect_insert = rawsql.dialect_insert(dialect)
        table = UserStats.__table__
        # Every counter spelled out: raw statements get no Python-side column defaults.
        counters = {column: 0 for column in table.c if column.name != "user_id"}
        ins = dialect_insert(table).values({**counters, table.c.user_id: bindparam("p_user"),
                                            table.c[name]: bindparam("p_n")})  # fmt: skip
        stmt = Prepared(
            ins.on_conflict_do_update(
                index_elements=["user_id"], set_={name: table.c[name] + ins.excluded[name]}
            ).returning(table.c[name])
        )
        _STAT_STATEMENTS[(dialect, name)] = stmt
    return stmt.execute(raw, {"p_user": user_id, "p_n": amount}).fetchone()[0]


def award(
    user: User,
    reason: str,
    points: int,
    key: str,
    *,
    cap_action: str | None = None,
    source: tuple[str, int] | None = None,
    params: dict | None = None,
    multiplier: int = 100,
    when: datetime | None = None,
    raw: RawCursor | None = None,
) -> AwardResult:
    """Award points for an action once per ``key``, within the day's caps, and update every score.

    Runs inside a savepoint of the caller's transaction: a repeat (same key) or a
    cap hit changes nothing at all. ``raw`` lets a caller that runs more
    statements for the same event share one cursor.
    """
    now = when or utcnow()
    points = points * multiplier // 100
    if points <= 0:
        return AwardResult()
    caps = get_rules()["caps"]
    try:
        with rawsql.cursor(db.session, raw) as raw, raw.savepoint("herald_award"):
            stmts = _statements(raw.dialect)
            row = stmts["entry"].execute(raw, {
                "p_user_id": user.id, "p_delta": points, "p_reason": reason, "p_params": params,
                "p_source_type": source[0] if source else None, "p_source_id": source[1] if source else None,
                "p_key": key, "p_now": now,
            }).fetchone()  # fmt: skip
            if row is None:
                raise _Duplicate
            if caps:
                day = day_key(now, user.timezone)
                if cap_action and not _take_cap(raw, user.id, day, cap_action, points, caps.get(cap_action, {})):
                    raise _Capped
                if not _take_cap(raw, user.id, day, "_total", points, caps.get("total", {})):
                    raise _Capped
            lifetime = _change_balance(raw, user.id, points, now)
            _apply_scores(raw, user, points, now)
    except _Capped:
        return AwardResult(capped=True)
    except _Duplicate:
        return AwardResult(duplicate=True)
    result = AwardResult(points=points, entry_id=row[0], lifetime=lifetime)
    _announce(user, result)
    return result


class _Duplicate(Exception):
    """Internal: the idempotency key is in the ledger already (nothing was changed)."""


class _Capped(Exception):
    """Internal: roll the savepoint back because the total daily cap is reached."""


def adjust(user: User, delta: int, note: str, actor: User, key: str) -> AwardResult:
    """An admin adds or removes points, with a reason that lands in the ledger and the audit trail."""
    from flask_babel import gettext as _

    note = (note or "").strip()
    if not note:
        raise LedgerError(_("Give a reason: it is shown to the employee and kept in the audit trail."))
    if delta == 0:
        raise LedgerError(_("Enter a number of points other than zero."))
    if not -MAX_ADJUSTMENT <= delta <= MAX_ADJUSTMENT:
        raise LedgerError(_("Enter a whole number of points from -1,000,000 to 1,000,000."))
    now = utcnow()
    try:
        with db.session.begin_nested():
            entry_id = db.session.execute(
                insert(PointEntry)
                .values(user_id=user.id, delta=delta, reason="adjustment", params={"note": note[:300]},
                        idempotency_key=key, actor_id=actor.id, created_at=now)
                .returning(PointEntry.id)
            ).scalar_one()  # fmt: skip
            with rawsql.cursor(db.session) as raw:
                _change_balance(raw, user.id, delta, now)
                _apply_scores(raw, user, delta, now)
    except IntegrityError:
        return AwardResult(duplicate=True)
    audit.record("points.adjust", actor, user, delta=delta, note=note[:300])
    return AwardResult(points=delta, entry_id=entry_id)


def spend(user: User, cost: int, reason: str, key: str, source: tuple[str, int] | None = None,
          params: dict | None = None) -> int | None:  # fmt: skip
    """Take ``cost`` points for a redemption; None when the key was used already. Raises when too poor.

    Spending lowers the balance but not lifetime points or leaderboard scores.
    """
    now = utcnow()
    try:
        with db.session.begin_nested():
            entry_id = db.session.execute(
                insert(PointEntry)
                .values(user_id=user.id, delta=-cost, reason=reason, params=params,
                        source_type=source[0] if source else None, source_id=source[1] if source else None,
                        idempotency_key=key, created_at=now)
                .returning(PointEntry.id)
            ).scalar_one()  # fmt: skip
            with rawsql.cursor(db.session) as raw:
                _change_balance(raw, user.id, -cost, now)
    except IntegrityError:
        return None
    return entry_id


def refund(user: User, amount: int, reason: str, key: str, source: tuple[str, int] | None = None,
           params: dict | None = None) -> bool:  # fmt: skip
    """Give spent points back exactly once per ``key`` (balance only, not lifetime or boards)."""
    now = utcnow()
    try:
        with db.session.begin_nested():
            db.session.execute(
                insert(PointEntry).values(
                    user_id=user.id, delta=amount, reason=reason, params=params,
                    source_type=source[0] if source else None, source_id=source[1] if source else None,
                    idempotency_key=key, created_at=now,
                )
            )  # fmt: skip
            table = PointBalance.__table__
            db.session.execute(update(table).where(table.c.user_id == user.id).values(balance=table.c.balance + amount))
    except IntegrityError:
        return False
    return True


_BALANCE_STATEMENT = select(PointBalance.balance, PointBalance.lifetime).where(
    PointBalance.user_id == bindparam("user_id")
)


def balance_of(user_id: int) -> tuple[int, int]:
    """(current balance, lifetime points), read from the database (every page shows it on the Me tab)."""
    row = db.session.connection().execute(_BALANCE_STATEMENT, {"user_id": user_id}).first()
    return (row[0], row[1]) if row else (0, 0)


def _announce(user: User, result: AwardResult) -> None:
    """Remember points earned in this request so the response can tell the phone (HX-Trigger)."""
    from flask_login import current_user

    # Only the signed-in person's own points: a kudos awarding a colleague must not toast the sender.
    if has_request_context() and current_user and getattr(current_user, "id", None) == user.id:
        earned = g.setdefault("herald_points", {"points": 0, "badges": []})
        earned["points"] += result.points
        current_app.logger.debug("awarded %s points to %s", result.points, user.id)
