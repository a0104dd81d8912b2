"""Audit trail of administrative actions (who changed what, when)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow


class AuditEntry(db.Model):
    """One administrative action."""

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None]
    detail: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def record(action: str, actor=None, target=None, **detail) -> AuditEntry:
    """Add an audit entry to the session (the caller's transaction commits it)."""
    entry = AuditEntry(
        action=action,
        actor_id=getattr(actor, "id", None),
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=getattr(target, "id", None),
        detail=detail or None,
    )
    db.session.add(entry)
    return entry
