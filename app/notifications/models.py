"""Notifications: devices subscribed to Web Push, preferences, the notification centre, deliveries, calls to action."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

# What a person can turn off, each on its own; "digest" is the weekly e-mail.
CATEGORIES = ("cta", "streak", "rewards", "surveys", "badges", "kudos", "posts", "digest")
DELIVERY_STATES = ("claimed", "sent", "retry", "gone", "failed")


class PushSubscription(db.Model):
    """One browser's Web Push subscription (a person may have several devices)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    device: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationSettings(db.Model):
    """A person's choices: a flag per category, quiet hours (local, whole hours) and the digest."""

    __table_args__ = (
        CheckConstraint("quiet_start IS NULL OR (quiet_start >= 0 AND quiet_start < 24)", name="quiet_start"),
        CheckConstraint("quiet_end IS NULL OR (quiet_end >= 0 AND quiet_end < 24)", name="quiet_end"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    cta: Mapped[bool] = mapped_column(Boolean, default=True)
    streak: Mapped[bool] = mapped_column(Boolean, default=True)
    rewards: Mapped[bool] = mapped_column(Boolean, default=True)
    surveys: Mapped[bool] = mapped_column(Boolean, default=True)
    badges: Mapped[bool] = mapped_column(Boolean, default=True)
    kudos: Mapped[bool] = mapped_column(Boolean, default=True)
    posts: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[int | None] = mapped_column(default=22)
    quiet_end: Mapped[int | None] = mapped_column(default=7)


class CallToAction(db.Model):
    """An admin's push to act on a post before a deadline (the live panel counts from here)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(String(300), default="")
    audience_all: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    departments: Mapped[list[CtaDepartment]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    locations: Mapped[list[CtaLocation]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class CtaDepartment(db.Model):
    """A department in a call to action's audience."""

    cta_id: Mapped[int] = mapped_column(ForeignKey("call_to_action.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)


class CtaLocation(db.Model):
    """A location in a call to action's audience."""

    cta_id: Mapped[int] = mapped_column(ForeignKey("call_to_action.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)


class Notification(db.Model):
    """One notification for one person: shown in the notification centre, pushed to their devices.

    ``dedupe_key`` (unique) makes a notification idempotent: the same streak reminder, the day's
    "new posts" or a badge is created once however often its event arrives. ``push_after`` holds a
    non-urgent push until the person's quiet hours end.
    """

    __table_args__ = (
        Index("ix_notification_user_created", "user_id", "created_at"),
        Index("ix_notification_push", "push_state", "push_after"),
        CheckConstraint("push_state IN ('pending', 'held', 'sending', 'done', 'skipped')", name="push_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(500), default="/")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    topic: Mapped[str | None] = mapped_column(String(32))
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    cta_id: Mapped[int | None] = mapped_column(ForeignKey("call_to_action.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # pending -> (held until push_after ->) sending -> done, or skipped (turned off, over the daily cap,
    # no device). ``pushed_at`` is when sending began: the sweeper resumes a fan-out a killed consumer left.
    push_state: Mapped[str] = mapped_column(String(10), default="pending")
    push_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Delivery(db.Model):
    """One (notification, device) push. Its primary key is the durable claim: inserted before the send,
    so a retried task or a restarted consumer never sends it twice."""

    __table_args__ = (CheckConstraint("status IN ('claimed', 'sent', 'retry', 'gone', 'failed')", name="status"),)

    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id", ondelete="CASCADE"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("push_subscription.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="claimed")
    attempts: Mapped[int] = mapped_column(default=1)
    http_status: Mapped[int | None]
    error: Mapped[str] = mapped_column(String(200), default="")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PushDay(db.Model):
    """Non-urgent pushes a person got on one day (their time zone): the daily cap, by guarded upsert."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class DigestSent(db.Model):
    """That the weekly digest of a week went to a person (once per ISO week)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
