"""Analytics: daily roll-ups, conversions, API tokens and the business figures admins enter.

Roll-ups are one row per UTC day and key (``Click.day`` is a UTC date), rebuilt idempotently
by ``app.analytics.rollups`` (delete the day's rows, insert them again). The dashboard reads
them for every day before today and the live tables for today only, so it never scans the
click rows of a quarter. A department or location of 0 means "none" (a primary key cannot
hold NULL).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

CONVERSION_KINDS = ("lead", "application", "signup", "purchase", "other")
CONVERSION_SOURCES = ("api", "pixel", "import")
FIGURE_KINDS = ("sales", "hires", "leads", "applications")


class PostDay(db.Model):
    """Per day, post, network and caption variant, for everyone, one department or one location.

    ``scope`` is ``all`` (``scope_id`` 0), ``department`` or ``location`` (the sharer's; the
    liker's or commenter's for likes and comments). A page for one scope and period reads one
    contiguous range of the key. ``network`` is ``""`` for the rows that hold likes and comments
    (made in Herald, not on a network); ``clicks`` counts every human visit that was not the
    sharer's own, ``unique_clicks`` the first of each visitor per link and day (what earns points).
    """

    __tablename__ = "analytics_post_day"
    __table_args__ = (
        CheckConstraint("scope IN ('all', 'department', 'location')", name="scope"),
        # Clustered by the key on SQLite: a period's rows are read in one sweep, not one lookup each.
        {"sqlite_with_rowid": False},
    )

    scope: Mapped[str] = mapped_column(String(12), primary_key=True)
    scope_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    variant: Mapped[str] = mapped_column(String(1), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column()
    shares: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    comments: Mapped[int] = mapped_column(default=0)
    conversions: Mapped[int] = mapped_column(default=0)
    conversion_value: Mapped[float] = mapped_column(Numeric(14, 2), default=0)


class TotalDay(db.Model):
    """Per day and network, the same sums as ``PostDay`` for everyone, one department or one location.

    ``scope`` is ``all`` (``scope_id`` 0), ``department`` or ``location``: the dashboard's totals,
    daily series and networks read a few hundred rows a quarter here instead of every post's.
    """

    __tablename__ = "analytics_total_day"
    __table_args__ = (
        CheckConstraint("scope IN ('all', 'department', 'location')", name="scope"),
        Index("ix_analytics_total_day_scope", "scope", "scope_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[str] = mapped_column(String(12), primary_key=True)
    scope_id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    shares: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    comments: Mapped[int] = mapped_column(default=0)
    conversions: Mapped[int] = mapped_column(default=0)
    conversion_value: Mapped[float] = mapped_column(Numeric(14, 2), default=0)


class SharerDay(db.Model):
    """Per day and person: shares made and unique clicks and conversions their links brought.

    ``week`` is the Monday of the day's ISO week: "shared in 3 or more weeks" is a count of
    distinct weeks per person.
    """

    __tablename__ = "analytics_sharer_day"
    __table_args__ = (Index("ix_analytics_sharer_day_user", "user_id", "week"), {"sqlite_with_rowid": False})

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[date] = mapped_column(Date)
    department_id: Mapped[int] = mapped_column(default=0)
    location_id: Mapped[int] = mapped_column(default=0)
    shares: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    conversions: Mapped[int] = mapped_column(default=0)


class Adoption(db.Model):
    """Where each person is on the adoption funnel, kept with the roll-ups of ``SharerDay``.

    ``first_day``: the first day they shared; ``third_day``: the first day they shared in a third
    distinct ISO week (``first_week`` and ``second_week`` are the Mondays of the first two). "Shared
    once by day E" is ``first_day <= E`` and "shared in 3 or more weeks by E" is ``third_day <= E``:
    the funnel for any day is two counts, never a scan of everyone's history.
    """

    __tablename__ = "analytics_adoption"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    first_week: Mapped[date] = mapped_column(Date)
    second_week: Mapped[date | None] = mapped_column(Date)
    third_day: Mapped[date | None] = mapped_column(Date)


class ReachDay(db.Model):
    """Distinct visitors of one day through anyone's tracked links, for everyone or one group.

    ``scope`` is ``all`` (``scope_id`` 0), ``department`` or ``location``. Visitor hashes are
    salted per day, so a visitor who comes back the next day counts again: reach over a period
    is the sum of its days' visitors.
    """

    __tablename__ = "analytics_reach_day"
    __table_args__ = (CheckConstraint("scope IN ('all', 'department', 'location')", name="scope"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[str] = mapped_column(String(12), primary_key=True)
    scope_id: Mapped[int] = mapped_column(primary_key=True)
    visitors: Mapped[int] = mapped_column(default=0)


class SlotDay(db.Model):
    """Shares made in one hour of one weekday (company time), and the unique clicks their links got that day."""

    __tablename__ = "analytics_slot_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    weekday: Mapped[int] = mapped_column(primary_key=True)  # 0 Monday .. 6 Sunday
    hour: Mapped[int] = mapped_column(primary_key=True)
    shares: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)


class RollupState(db.Model):
    """When a day was last rolled up (the periodic task rebuilds yesterday and today's missing days)."""

    __tablename__ = "analytics_rollup_state"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(db.Model):
    """A token the company's site uses to report conversions; only its SHA-256 is stored."""

    __tablename__ = "analytics_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to tell tokens apart
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversion(db.Model):
    """A lead, application or sign-up that came through an employee's tracked link.

    Credited to the link's post, campaign, network and sharer. ``idempotency_key`` makes a
    replayed report store nothing new.
    """

    __tablename__ = "analytics_conversion"
    __table_args__ = (
        CheckConstraint("kind IN ('lead', 'application', 'signup', 'purchase', 'other')", name="kind"),
        CheckConstraint("source IN ('api', 'pixel', 'import')", name="source"),
        Index("ix_analytics_conversion_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_link.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Numeric(14, 2))
    source: Mapped[str] = mapped_column(String(8))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("analytics_api_token.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[date] = mapped_column(Date)
    points_awarded: Mapped[bool] = mapped_column(Boolean, default=False)


class BusinessFigure(db.Model):
    """A monthly business figure (sales, new hires...) an admin typed in or imported, charted beside advocacy."""

    __tablename__ = "analytics_business_figure"
    __table_args__ = (CheckConstraint("kind IN ('sales', 'hires', 'leads', 'applications')", name="kind"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float] = mapped_column(Numeric(16, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReportSettings(db.Model):
    """An admin's choice about the weekly analytics e-mail (a row only once they opt out)."""

    __tablename__ = "analytics_report_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    weekly_report: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sent_week: Mapped[str | None] = mapped_column(String(10))
