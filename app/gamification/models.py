"""Points ledger, balances, period scores, daily caps, streaks, badges and program settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow


class PointEntry(db.Model):
    """One line of the append-only ledger. A balance always equals the sum of its user's entries."""

    __table_args__ = (Index("ix_point_entry_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    # Words to show ("shared 'Q3 results' on LinkedIn") are built from these at display time, in the viewer's language.
    params: Mapped[dict | None] = mapped_column(JSON)
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[int | None]
    # The same event delivered twice carries the same key; the UNIQUE constraint makes the second a no-op.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointBalance(db.Model):
    """Current and lifetime points of one user, changed only by guarded statements next to a ledger entry."""

    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("lifetime >= 0", name="lifetime_not_negative"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    lifetime: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeriodScore(db.Model):
    """Points a user earned in one period (week, month, or all time), kept incrementally for leaderboards.

    ``reached_at`` is when the score last changed: among equal scores, whoever got there first ranks first.
    ``department_id`` and ``location_id`` are copied from the user when the score changes, so a scoped
    board is one index range scan.
    """

    __table_args__ = (
        Index("ix_period_score_board", "period", "period_key", "active", "points", "reached_at", "user_id"),
        Index("ix_period_score_dept", "period", "period_key", "department_id", "active", "points"),
        Index("ix_period_score_loc", "period", "period_key", "location_id", "active", "points"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    points: Mapped[int] = mapped_column(default=0)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))
    # False while the account is deactivated: off the boards without a join to the user table.
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DepartmentScore(db.Model):
    """Points a department earned in one period (team boards divide by active members)."""

    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    points: Mapped[int] = mapped_column(default=0)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyCounter(db.Model):
    """How many times (and points) a user earned for one action on one local day: the caps' memory."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)


class Streak(db.Model):
    """A user's sharing streak: consecutive periods (days or weeks, in their own time zone) with a share."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), default="weekly")
    current: Mapped[int] = mapped_column(default=0)
    longest: Mapped[int] = mapped_column(default=0)
    last_key: Mapped[str | None] = mapped_column(String(16))
    freezes: Mapped[int] = mapped_column(default=0)
    freezes_used: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StreakPeriod(db.Model):
    """One period of a streak: shared in it, or covered by a freeze (for the calendar)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)


class BadgeDefinition(db.Model):
    """An achievement: a condition type and a threshold, built in or added by an admin."""

    __table_args__ = (
        CheckConstraint(
            "condition IN ('shares', 'unique_clicks', 'streak', 'top_month', 'suggestions_approved',"
            " 'surveys_completed', 'comments', 'kudos_received', 'lifetime_points')",
            name="condition",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    condition: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int] = mapped_column(default=1)
    icon: Mapped[str] = mapped_column(String(16), default="star")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserBadge(db.Model):
    """A badge a user earned, once, with the date."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badge_definition.id", ondelete="CASCADE"), primary_key=True)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    badge: Mapped[BadgeDefinition] = relationship(lazy="joined")


class UserStats(db.Model):
    """Running counters that badge conditions read (one row per user, updated with each award)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    shares: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    comments: Mapped[int] = mapped_column(default=0)
    suggestions_approved: Mapped[int] = mapped_column(default=0)
    surveys_completed: Mapped[int] = mapped_column(default=0)
    kudos_received: Mapped[int] = mapped_column(default=0)


class ProgramSetting(db.Model):
    """A program setting (point rules, caps, streak period, board switches) as JSON."""

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
