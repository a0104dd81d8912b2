"""Accounts: creating people, passwords, and single-use sign-in links.

Services change state and flush; the request, task or command commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from zoneinfo import available_timezones

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit, events
from app.accounts.models import ROLES, AuthToken, User
from app.extensions import db
from app.mail import send_mail
from app.timeutil import utcnow

MIN_PASSWORD_LENGTH = 10
# A hash to compare against when the e-mail is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))
_TIMEZONES: frozenset[str] | None = None


class AccountError(ValueError):
    """A user-facing problem with an account operation (the message is translated)."""


def normalize_email(email: str) -> str:
    """Trim and lower-case an e-mail address (stored that way, so lookups are exact)."""
    return (email or "").strip().lower()


def valid_timezone(name: str) -> bool:
    """True for an IANA time zone name such as ``Europe/Warsaw``."""
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    return name in _TIMEZONES


def get_user_by_email(email: str) -> User | None:
    """The user with this e-mail address, if any."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def set_password(user: User, password: str) -> None:
    """Hash and store a new password (scrypt); old sessions are signed out."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    user.password_hash = generate_password_hash(password)
    user.session_version += 1


def check_password(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same cost either way)."""
    user = get_user_by_email(email)
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    ok = check_password_hash(stored, password or "")
    if user is None or not user.password_hash or not ok or not user.is_active:
        return None
    return user


def create_user(
    email: str,
    display_name: str,
    *,
    roles=("employee",),
    department=None,
    location=None,
    timezone: str | None = None,
    locale: str = "en",
    password: str | None = None,
    status: str = "invited",
    is_demo: bool = False,
) -> User:
    """Create a user; raise AccountError when the e-mail is taken or data is bad."""
    email = normalize_email(email)
    if get_user_by_email(email) is not None:
        raise AccountError(_("An account with this e-mail already exists."))
    bad = set(roles) - set(ROLES)
    if bad or not roles:
        raise AccountError(_("Unknown role."))
    tz = timezone or (location.timezone if location else current_app.config["DEFAULT_TIMEZONE"])
    if not valid_timezone(tz):
        raise AccountError(_("Unknown time zone."))
    user = User(
        email=email,
        display_name=display_name.strip(),
        department=department,
        location=location,
        timezone=tz,
        locale=locale,
        status=status,
        is_demo=is_demo,
        session_version=1,
    )
    user.set_roles(roles)
    if password:
        set_password(user, password)
    if status == "active":
        user.activated_at = utcnow()
    db.session.add(user)
    db.session.flush()
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, purpose: str, *, remember: bool = False) -> str:
    """Create a single-use token for ``user`` and return its plain value."""
    ttl: timedelta = {
        "magic": current_app.config["MAGIC_LINK_TTL"],
        "reset": current_app.config["PASSWORD_RESET_TTL"],
        "invite": current_app.config["INVITE_TTL"],
    }[purpose]
    token = secrets.token_urlsafe(32)
    if purpose == "invite" and user.invited_at is None:
        user.invited_at = utcnow()
    db.session.add(
        AuthToken(
            user=user,
            purpose=purpose,
            token_hash=_hash_token(token),
            remember=remember,
            expires_at=utcnow() + ttl,
        )
    )
    db.session.flush()
    return token


def peek_token(token: str, purpose: str) -> AuthToken | None:
    """The unused, unexpired token of this purpose, without using it up."""
    row = db.session.scalar(
        select(AuthToken).where(AuthToken.token_hash == _hash_token(token), AuthToken.purpose == purpose)
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def consume_token(token: str, purpose: str) -> AuthToken | None:
    """Use a token up; exactly one caller wins, even when two arrive at once.

    The guarded UPDATE (``used_at IS NULL``) decides, not a read in Python.
    """
    now = utcnow()
    result = db.session.execute(
        update(AuthToken)
        .where(
            AuthToken.token_hash == _hash_token(token),
            AuthToken.purpose == purpose,
            AuthToken.used_at.is_(None),
            AuthToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return db.session.scalar(select(AuthToken).where(AuthToken.token_hash == _hash_token(token)))


def _link(endpoint: str, token: str) -> str:
    """An absolute link on ``BASE_URL`` (works in requests, commands and tasks alike)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, token=token)
    with current_app.test_request_context():
        return base + url_for(endpoint, token=token)


def send_magic_link(email: str, *, remember: bool = False) -> None:
    """E-mail a sign-in link to an active user, or the invitation again to an invited one.

    Unknown and deactivated addresses get nothing, and the caller shows the same
    message either way, so the form does not reveal who has an account.
    """
    user = get_user_by_email(email)
    if user is None or user.status == "deactivated":
        return
    if user.status == "invited":
        send_invite(user)
        return
    token = issue_token(user, "magic", remember=remember)
    minutes = int(current_app.config["MAGIC_LINK_TTL"].total_seconds() // 60)
    with force_locale(user.locale):  # the recipient's language, not the requester's
        send_mail(
            user.email,
            _("Your Herald sign-in link"),
            "magic_link",
            user=user,
            link=_link("accounts.magic_landing", token),
            minutes=minutes,
        )


def send_invite(user: User, inviter: User | None = None) -> None:
    """E-mail an invitation link that activates the account."""
    token = issue_token(user, "invite")
    with force_locale(user.locale):
        send_mail(
            user.email,
            _("You are invited to Herald"),
            "invite",
            user=user,
            inviter=inviter,
            link=_link("accounts.accept_invite", token),
            days=current_app.config["INVITE_TTL"].days,
        )
    events.user_invited.send(current_app._get_current_object(), user=user, inviter=inviter)


def send_password_reset(email: str) -> None:
    """E-mail a password-reset link to an active user (nothing for unknown addresses)."""
    user = get_user_by_email(email)
    if user is None or not user.is_active:
        return
    token = issue_token(user, "reset")
    with force_locale(user.locale):
        send_mail(
            user.email,
            _("Reset your Herald password"),
            "password_reset",
            user=user,
            link=_link("accounts.reset_password", token),
        )


def activate(user: User, display_name: str | None = None, password: str | None = None) -> None:
    """Activate an invited account (from its invitation link)."""
    if display_name:
        user.display_name = display_name.strip()
    if password:
        set_password(user, password)
    user.status = "active"
    user.activated_at = utcnow()
    events.user_activated.send(current_app._get_current_object(), user=user)


def record_sign_in(user: User) -> None:
    """Note a successful sign-in."""
    user.last_login_at = utcnow()
    events.user_signed_in.send(current_app._get_current_object(), user=user)


def deactivate(user: User, actor: User) -> None:
    """Deactivate an account: history stays, sign-in and sessions stop."""
    if user.id == actor.id:
        raise AccountError(_("You cannot deactivate your own account."))
    user.status = "deactivated"
    user.deactivated_at = utcnow()
    user.session_version += 1
    audit.record("user.deactivate", actor, user)
    events.user_deactivated.send(current_app._get_current_object(), user=user)


def reactivate(user: User, actor: User) -> None:
    """Let a deactivated account sign in again (invited again if it never activated).

    An erased account (app.privacy) stays deactivated: it belongs to nobody any more.
    """
    if user.erased_at is not None:
        raise AccountError(_("This person’s data is erased; the account cannot be used again."))
    user.status = "active" if user.activated_at else "invited"
    user.deactivated_at = None
    audit.record("user.reactivate", actor, user)
    events.user_reactivated.send(current_app._get_current_object(), user=user)
