"""Content: posts and their captions, campaigns, shares, engagement, sources (tracked links: app.tracking)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

NETWORKS = ("linkedin", "x", "facebook", "whatsapp", "email", "copy", "native")
# Networks that have their own suggested captions; the rest use the generic ones.
CAPTION_NETWORKS = ("linkedin", "x", "facebook", "generic")
POST_STATUSES = ("draft", "scheduled", "published", "expired")
CAMPAIGN_KINDS = ("share", "cta", "ab_test")


class Campaign(db.Model):
    """A group of posts with a goal (shares or clicks by a date)."""

    __table_args__ = (
        CheckConstraint("kind IN ('share', 'cta', 'ab_test')", name="kind"),
        CheckConstraint("goal_metric IN ('shares', 'clicks')", name="goal_metric"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="share")
    description: Mapped[str] = mapped_column(Text, default="")
    goal_metric: Mapped[str] = mapped_column(String(16), default="shares")
    goal_target: Mapped[int] = mapped_column(default=0)
    # Points for actions on the campaign's posts, in percent (150 = x1.5).
    points_multiplier: Mapped[int] = mapped_column(default=100)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    posts: Mapped[list[Post]] = relationship(back_populates="campaign")


class Post(db.Model):
    """Something employees can share: a link with a title, image and suggested captions."""

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'scheduled', 'published', 'expired')", name="status"),
        # The feed's order (pinned, newest, id) walked backwards: the first page never sorts the library.
        Index("ix_post_feed_order", "pinned", "publish_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(2000))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    source_name: Mapped[str] = mapped_column(String(120), default="")
    image_path: Mapped[str | None] = mapped_column(String(200))
    preview_path: Mapped[str | None] = mapped_column(String(200))
    hashtags: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str] = mapped_column(String(10), default="en")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    audience_all: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    is_cta: Mapped[bool] = mapped_column(Boolean, default=False)
    cta_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Points for sharing this post, in percent; a call to action may be worth more.
    points_multiplier: Mapped[int] = mapped_column(default=100)
    share_count: Mapped[int] = mapped_column(default=0)
    click_count: Mapped[int] = mapped_column(default=0)
    like_count: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign | None] = relationship(back_populates="posts", lazy="joined")
    captions: Mapped[list[Caption]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="Caption.id", lazy="selectin"
    )
    departments: Mapped[list[PostDepartment]] = relationship(cascade="all, delete-orphan")
    locations: Mapped[list[PostLocation]] = relationship(cascade="all, delete-orphan")


class PostDepartment(db.Model):
    """A department in a post's audience."""

    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)


class PostLocation(db.Model):
    """A location in a post's audience."""

    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)


class Caption(db.Model):
    """A suggested caption for one network; ``variant`` is A or B (A/B tests use both)."""

    __table_args__ = (
        CheckConstraint("network IN ('linkedin', 'x', 'facebook', 'generic')", name="network"),
        CheckConstraint("variant IN ('A', 'B')", name="variant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16), default="generic")
    variant: Mapped[str] = mapped_column(String(1), default="A")
    text: Mapped[str] = mapped_column(Text)

    post: Mapped[Post] = relationship(back_populates="captions")


class Share(db.Model):
    """An employee shared a post to a network (once per post and network; re-shares count up ``times``)."""

    __table_args__ = (UniqueConstraint("post_id", "user_id", "network"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    network: Mapped[str] = mapped_column(String(16))
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_link.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(1), default="A")
    times: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_shared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaptionDraft(db.Model):
    """A person's own wording of a post's caption, kept so the card offers it again next time."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), primary_key=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PostLike(db.Model):
    """An employee likes a post."""

    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(db.Model):
    """A plain-text comment on a post (links are auto-linked when shown)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    author = relationship("User", foreign_keys=[user_id], lazy="joined")


class Suggestion(db.Model):
    """An employee suggests a link for the library; an admin approves it into a post or rejects it."""

    __table_args__ = (CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author = relationship("User", foreign_keys=[user_id], lazy="joined")


class FeedSource(db.Model):
    """An RSS or Atom feed polled into the admins' suggested queue."""

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(200))
    modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedItem(db.Model):
    """An entry found in a feed, waiting for an admin to turn it into a post or dismiss it."""

    __table_args__ = (
        UniqueConstraint("source_id", "guid"),
        CheckConstraint("status IN ('new', 'used', 'dismissed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("feed_source.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(2000), default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="new")
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    extra: Mapped[dict | None] = mapped_column(JSON)

    source: Mapped[FeedSource] = relationship(lazy="joined")
