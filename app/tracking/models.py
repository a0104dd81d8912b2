"""Tracked links and what happens through them: clicks, unique visits, daily salts, per-network counts.

No row here ever holds a visitor's IP address: visitors are keyed hashes with a
random salt per day (see ``app.tracking.clicks``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.content.models import Post
from app.extensions import db
from app.timeutil import UTCDateTime, utcnow


class TrackedLink(db.Model):
    """An employee's own short link for one post and network: ``/r/<code>``."""

    __table_args__ = (UniqueConstraint("post_id", "user_id", "network"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str] = mapped_column(String(1), default="A")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    click_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[Post] = relationship()


class Click(db.Model):
    """One visit through a tracked link. Never holds an IP: ``visitor_hash`` is keyed and salted daily."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # Assigned by the web worker that answered the 302; makes spool ingestion idempotent.
    uid: Mapped[str] = mapped_column(String(40), unique=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_link.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    day: Mapped[date] = mapped_column(Date)
    referrer_host: Mapped[str] = mapped_column(String(255), default="")
    visitor_hash: Mapped[str] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_self: Mapped[bool] = mapped_column(Boolean, default=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=False)


class UniqueVisit(db.Model):
    """First visit of a visitor to a link on a day: the row's existence decides uniqueness (on both databases)."""

    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_link.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(64), primary_key=True)


class NetworkVisit(db.Model):
    """How many point-earning visitors one network address produced for a link on a day.

    ``network_hash`` is a keyed hash of the address (IPv4) or its /64 (IPv6) with the
    day's salt, like the visitor hash: the address itself is never stored. It caps
    click farming by rotating user agents from one address.
    """

    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_link.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    network_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    visitors: Mapped[int] = mapped_column(default=0)


class VisitorSalt(db.Model):
    """The random salt of one day's visitor hashes; deleted after two days, so old hashes link to nobody."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
