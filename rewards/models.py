"""Rewards catalog, stock, gift-card codes, redemptions with their timeline, addresses, and kudos."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

REWARD_KINDS = ("merch", "gift_card", "experience")
REDEMPTION_STATUSES = ("requested", "approved", "shipped", "delivered", "rejected", "cancelled")


class Reward(db.Model):
    """Something points can buy: merch (variants with stock), a gift card (a pool of codes), or an experience."""

    __table_args__ = (
        CheckConstraint("kind IN ('merch', 'gift_card', 'experience')", name="kind"),
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("quantity IS NULL OR quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    image_path: Mapped[str | None] = mapped_column(String(200))
    preview_path: Mapped[str | None] = mapped_column(String(200))
    cost: Mapped[int]
    brand: Mapped[str] = mapped_column(String(80), default="")
    denomination: Mapped[str] = mapped_column(String(40), default="")
    # Experiences with a limited number of places; None means unlimited.
    quantity: Mapped[int | None]
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audience_all: Mapped[bool] = mapped_column(Boolean, default=True)
    limit_per_month: Mapped[int | None]
    limit_total: Mapped[int | None]
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    low_stock_at: Mapped[int] = mapped_column(default=5)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    variants: Mapped[list[RewardVariant]] = relationship(
        back_populates="reward", cascade="all, delete-orphan", order_by="RewardVariant.id", lazy="selectin"
    )
    departments: Mapped[list[RewardDepartment]] = relationship(cascade="all, delete-orphan")
    locations: Mapped[list[RewardLocation]] = relationship(cascade="all, delete-orphan")


class RewardVariant(db.Model):
    """A size or colour of a merch item, with its own stock."""

    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    stock: Mapped[int] = mapped_column(default=0)

    reward: Mapped[Reward] = relationship(back_populates="variants")


class RewardDepartment(db.Model):
    """A department in a reward's audience."""

    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)


class RewardLocation(db.Model):
    """A location in a reward's audience."""

    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)


class GiftCode(db.Model):
    """One gift-card code, encrypted at rest; ``redemption_id`` is set by a guarded update when it is issued.

    ``code_hash`` (a keyed hash) finds duplicates without decrypting anything.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"))
    code_encrypted: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the redeemer first sees the code: from then on it is spent for good and
    # never goes back to the pool (a rejection after that is refused).
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_gift_code_free", "reward_id", "redemption_id"),)


class Redemption(db.Model):
    """An employee's order of a reward. Status changes are guarded single statements."""

    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'approved', 'shipped', 'delivered', 'rejected', 'cancelled')", name="status"
        ),
        Index("ix_redemption_queue", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("reward_variant.id", ondelete="SET NULL"))
    cost: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="requested")
    # From the form: a double tap or a retried request carries the same key and makes one redemption.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    shipping: Mapped[dict | None] = mapped_column(JSON)
    pickup_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    month: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reward: Mapped[Reward] = relationship(lazy="joined")
    variant: Mapped[RewardVariant | None] = relationship(lazy="joined")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    events: Mapped[list[RedemptionEvent]] = relationship(order_by="RedemptionEvent.id", cascade="all, delete-orphan")


class RedemptionEvent(db.Model):
    """One step of a redemption's timeline."""

    id: Mapped[int] = mapped_column(primary_key=True)
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemption.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RedemptionCounter(db.Model):
    """Redemptions of one reward by one person in a month (``month`` = ``all`` for the total): limit guard."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class SavedAddress(db.Model):
    """The shipping address or pick-up office an employee used last (remembered for next time)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[dict | None] = mapped_column(JSON)
    pickup_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Kudos(db.Model):
    """Peer recognition: a message and optionally points from the sender's monthly giving allowance."""

    __table_args__ = (
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint("sender_id IS NULL OR sender_id != recipient_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text)
    points: Mapped[int] = mapped_column(default=0)
    # An admin's public shout-out (shown highlighted on the wall).
    shoutout: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    month: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    sender = relationship("User", foreign_keys=[sender_id], lazy="joined")
    recipient = relationship("User", foreign_keys=[recipient_id], lazy="joined")


class KudosAllowance(db.Model):
    """Points a person has given from their allowance in a month (guarded: never above the allowance)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    given: Mapped[int] = mapped_column(default=0)


class KudosPair(db.Model):
    """Point-carrying kudos between two people in a month, both directions together (anti-trading guard)."""

    __table_args__ = (UniqueConstraint("low_id", "high_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    low_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    high_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    count: Mapped[int] = mapped_column(default=0)
