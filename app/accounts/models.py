"""People who use Herald, their roles, and single-use sign-in tokens."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.org.models import Department, Location
from app.timeutil import UTCDateTime, utcnow

ROLES = ("employee", "admin", "hr")
# Where the sign-in query leaves the signed-in user's role names (a frozenset, not a mapped column).
SIGNED_IN_ROLES = "_signed_in_roles"
STATUSES = ("invited", "active", "deactivated")
TOKEN_PURPOSES = ("magic", "invite", "reset")


def initials_of(name: str) -> str:
    """The first letters of a name's first and last words ("Ada Lovelace": "AL"); empty without letters."""
    parts = [p for p in name.split() if p[:1].isalpha()]
    if not parts:
        return ""
    return (parts[0][0] + (parts[-1][0] if len(parts) > 1 else "")).upper()


class User(UserMixin, db.Model):
    """An employee account. One person may hold several roles."""

    __table_args__ = (CheckConstraint("status IN ('invited', 'active', 'deactivated')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see accounts.services.normalize_email), so UNIQUE is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id", ondelete="SET NULL"))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    avatar_path: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="invited")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Privacy: still counted on leaderboards, but shown as "Hidden".
    hide_from_leaderboards: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on sign-out-everywhere and password change so old sessions die.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the first invitation went out (the adoption funnel starts here); None for people never invited.
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when an admin erased the person's data (app.privacy): the account stays, as "Former employee".
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept by app.notifications (the bell in the header reads it with the user: no statement per page).
    notifications_unread: Mapped[int] = mapped_column(default=0, server_default="0")

    department: Mapped[Department | None] = relationship(lazy="joined")
    location: Mapped[Location | None] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    # Flask-Login: a deactivated account keeps its history but cannot sign in, and
    # demo accounts (known passwords printed by seed-demo) never work in production.
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        if self.is_demo and has_app_context() and current_app.config["HERALD_ENV"] == "production":
            return False
        return self.status == "active"

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def roles(self) -> set[str]:
        """The set of role names this user holds.

        The signed-in user's come with the query that loads them on every request
        (``SIGNED_IN_ROLES``); anyone else's load from ``role_rows``.
        """
        loaded = self.__dict__.get(SIGNED_IN_ROLES)
        if loaded is not None:
            return set(loaded)
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    def set_roles(self, roles) -> None:
        """Replace the user's roles with ``roles`` (an iterable of role names)."""
        wanted = set(roles)
        self.__dict__.pop(SIGNED_IN_ROLES, None)  # role_rows is the truth from here on
        self.role_rows = [r for r in self.role_rows if r.role in wanted]
        for role in sorted(wanted - self.roles):
            self.role_rows.append(UserRole(role=role))

    @property
    def first_name(self) -> str:
        """The first word of the display name (captions greet people by it)."""
        return self.display_name.split()[0] if self.display_name.strip() else self.email

    @property
    def initials(self) -> str:
        """One or two letters for the avatar fallback."""
        return initials_of(self.display_name) or self.email[:1].upper()

    def __repr__(self) -> str:
        return f"<User {self.email!r}>"


class UserRole(db.Model):
    """One role held by one user."""

    __table_args__ = (CheckConstraint("role IN ('employee', 'admin', 'hr')", name="role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[User] = relationship(back_populates="role_rows")


class AuthToken(db.Model):
    """A single-use token behind a magic link, an invitation or a password reset.

    Only a SHA-256 of the token is stored; the plain token exists in the e-mail.
    """

    __table_args__ = (CheckConstraint("purpose IN ('magic', 'invite', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
