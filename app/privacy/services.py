"""Everything Herald holds about one person, as a download; and erasing it (GDPR articles 15, 17 and 20).

A feature that starts storing personal data adds it to ``personal_data`` (the export)
and, when people type it or it names them, to ``erase``.

Erasure keeps the account row and every number: the ledger, balances, period and
department scores, post and campaign counters, redemptions and kudos (their points)
all stay, so balances still equal the sum of ledger entries and boards and campaigns
keep their totals. What identifies the person or is text they wrote goes: name and
e-mail (replaced by "Former employee" and a unique address that cannot receive mail),
avatar, password, sign-in links, sessions, shipping addresses, comments, kudos
messages, suggestion texts and kept captions. Services flush; the request commits.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, delete, func, or_, select, update

from app import audit, events, exports
from app.accounts.models import AuthToken, User
from app.analytics.models import Conversion
from app.audit import AuditEntry
from app.content.models import CaptionDraft, Comment, Post, PostLike, Share, Suggestion
from app.extensions import db
from app.gamification.models import (
    PeriodScore,
    PointBalance,
    PointEntry,
    Streak,
    StreakPeriod,
    UserBadge,
    UserStats,
)
from app.media import delete_media, media_root
from app.notifications.models import Notification, PushSubscription
from app.timeutil import utcnow
from app.tracking.models import Click, TrackedLink
from rewards.models import Kudos, Redemption, RedemptionEvent, SavedAddress
from surveys.models import Answer, Participation, Question, Survey, Wave

# Stored in the database, so one language: the name every page shows for an erased person.
FORMER_EMPLOYEE = "Former employee"
# RFC 2606 reserves .invalid: mail to it can never be delivered, and sign-up forms refuse it.
ERASED_EMAIL_DOMAIN = "erased.invalid"
ADDRESS_FIELDS = ("name", "line1", "line2", "postcode", "city", "country", "phone")


class PrivacyError(ValueError):
    """A user-facing reason an export or erasure cannot happen (the message is translated)."""


@dataclass
class Table:
    """One kind of record about the person: a CSV in the archive and a list in the JSON."""

    name: str
    columns: Sequence[str]
    rows: list[dict]


def erased_email(user: User) -> str:
    """The placeholder address of an erased account: unique (by id) and undeliverable."""
    return f"former-employee-{user.id}@{ERASED_EMAIL_DOMAIN}"


def _iso(value):
    return value.isoformat() if value is not None else None


def _rows(columns: Sequence[str], records: Iterable[Sequence]) -> list[dict]:
    return [dict(zip(columns, record, strict=True)) for record in records]


def profile(user: User) -> dict:
    """The person's account, organisation, points, streak, counters and saved address."""
    balance = db.session.get(PointBalance, user.id)
    streak = db.session.get(Streak, user.id)
    stats = db.session.get(UserStats, user.id)
    saved = db.session.get(SavedAddress, user.id)
    return {
        "id": user.id,
        "email": user.email,
        "name": user.display_name,
        "roles": sorted(user.roles),
        "status": user.status,
        "department": user.department.name if user.department else None,
        "location": user.location.name if user.location else None,
        "timezone": user.timezone,
        "language": user.locale,
        "avatar": user.avatar_path,
        "has_password": bool(user.password_hash),
        "hidden_from_leaderboards": user.hide_from_leaderboards,
        "created_at": _iso(user.created_at),
        "activated_at": _iso(user.activated_at),
        "deactivated_at": _iso(user.deactivated_at),
        "last_sign_in_at": _iso(user.last_login_at),
        "erased_at": _iso(user.erased_at),
        "points": {"balance": balance.balance if balance else 0, "lifetime": balance.lifetime if balance else 0},
        "streak": None
        if streak is None
        else {
            "period": streak.period,
            "current": streak.current,
            "longest": streak.longest,
            "freezes": streak.freezes,
            "freezes_used": streak.freezes_used,
        },
        "counters": None
        if stats is None
        else {
            "shares": stats.shares,
            "unique_clicks": stats.unique_clicks,
            "comments": stats.comments,
            "suggestions_approved": stats.suggestions_approved,
            "surveys_completed": stats.surveys_completed,
            "kudos_received": stats.kudos_received,
        },
        "saved_address": None
        if saved is None
        else {
            "address": saved.address,
            "pickup_office": saved.pickup_location_id and _location_name(saved.pickup_location_id),
            "updated_at": _iso(saved.updated_at),
        },
    }


def _location_name(location_id: int | None) -> str:
    from app.org.models import Location

    loc = db.session.get(Location, location_id) if location_id else None
    return loc.name if loc else ""


def personal_data(user: User) -> list[Table]:
    """Every record Herald keeps about ``user``, one table per kind, oldest first.

    Clicks are counted per link and day: a click row's visitor hash is about the
    visitor, not about the person who shared.
    """
    uid = user.id
    tables = []

    def add(name: str, columns: Sequence[str], records: Iterable[Sequence]) -> None:
        tables.append(Table(name, columns, _rows(columns, records)))

    add("shares", ("created_at", "post_id", "post_title", "network", "variant", "times", "last_shared_at", "link"),
        db.session.execute(
            select(Share.created_at, Share.post_id, Post.title, Share.network, Share.variant, Share.times,
                   Share.last_shared_at, TrackedLink.code)
            .join(Post, Post.id == Share.post_id).join(TrackedLink, TrackedLink.id == Share.link_id)
            .where(Share.user_id == uid).order_by(Share.created_at, Share.id)
        ))  # fmt: skip
    unique = func.coalesce(func.sum(case((Click.is_unique, 1), else_=0)), 0)
    add("tracked_links", ("created_at", "code", "post_id", "post_title", "network", "variant", "enabled", "clicks",
                          "unique_clicks"),
        db.session.execute(
            select(TrackedLink.created_at, TrackedLink.code, TrackedLink.post_id, Post.title, TrackedLink.network,
                   TrackedLink.variant, TrackedLink.enabled, TrackedLink.click_count,
                   select(unique).where(Click.link_id == TrackedLink.id).scalar_subquery())
            .join(Post, Post.id == TrackedLink.post_id)
            .where(TrackedLink.user_id == uid).order_by(TrackedLink.created_at, TrackedLink.id)
        ))  # fmt: skip
    add("clicks_by_day", ("day", "link", "network", "clicks", "unique_clicks", "bot_clicks", "own_clicks"),
        db.session.execute(
            select(Click.day, TrackedLink.code, Click.network, func.count(), unique,
                   func.sum(case((Click.is_bot, 1), else_=0)), func.sum(case((Click.is_self, 1), else_=0)))
            .join(TrackedLink, TrackedLink.id == Click.link_id)
            .where(Click.sharer_id == uid)
            .group_by(Click.day, TrackedLink.code, Click.network).order_by(Click.day, TrackedLink.code)
        ))  # fmt: skip
    add("conversions", ("occurred_at", "post_id", "post_title", "network", "kind", "value", "source"),
        db.session.execute(
            select(Conversion.occurred_at, Conversion.post_id, Post.title, Conversion.network, Conversion.kind,
                   Conversion.value, Conversion.source)
            .join(Post, Post.id == Conversion.post_id)
            .where(Conversion.sharer_id == uid).order_by(Conversion.occurred_at, Conversion.id)
        ))  # fmt: skip
    add("points", ("created_at", "points", "reason", "details", "source_type", "source_id", "given_by"),
        db.session.execute(
            select(PointEntry.created_at, PointEntry.delta, PointEntry.reason, PointEntry.params,
                   PointEntry.source_type, PointEntry.source_id, PointEntry.actor_id)
            .where(PointEntry.user_id == uid).order_by(PointEntry.created_at, PointEntry.id)
        ))  # fmt: skip
    add("points_by_period", ("period", "period_key", "points", "reached_at"),
        db.session.execute(
            select(PeriodScore.period, PeriodScore.period_key, PeriodScore.points, PeriodScore.reached_at)
            .where(PeriodScore.user_id == uid).order_by(PeriodScore.period, PeriodScore.period_key)
        ))  # fmt: skip
    tables.append(_redemptions(uid))
    add("kudos_sent", ("created_at", "to", "message", "points", "shout_out"),
        ((k.created_at, k.recipient.display_name, k.message, k.points, k.shoutout) for k in db.session.scalars(
            select(Kudos).where(Kudos.sender_id == uid).order_by(Kudos.created_at, Kudos.id))))  # fmt: skip
    add("kudos_received", ("created_at", "from", "message", "points", "shout_out"),
        ((k.created_at, k.sender.display_name if k.sender else "", k.message, k.points, k.shoutout)
         for k in db.session.scalars(
            select(Kudos).where(Kudos.recipient_id == uid).order_by(Kudos.created_at, Kudos.id))))  # fmt: skip
    add("comments", ("created_at", "post_id", "post_title", "comment", "edited_at", "removed_at"),
        db.session.execute(
            select(Comment.created_at, Comment.post_id, Post.title, Comment.body, Comment.edited_at,
                   Comment.removed_at)
            .join(Post, Post.id == Comment.post_id).where(Comment.user_id == uid)
            .order_by(Comment.created_at, Comment.id)
        ))  # fmt: skip
    add("suggestions", ("created_at", "url", "comment", "status", "reason", "post_id", "reviewed_at"),
        db.session.execute(
            select(Suggestion.created_at, Suggestion.url, Suggestion.comment, Suggestion.status, Suggestion.reason,
                   Suggestion.post_id, Suggestion.reviewed_at)
            .where(Suggestion.user_id == uid).order_by(Suggestion.created_at, Suggestion.id)
        ))  # fmt: skip
    add("caption_drafts", ("updated_at", "post_id", "post_title", "caption"),
        db.session.execute(
            select(CaptionDraft.updated_at, CaptionDraft.post_id, Post.title, CaptionDraft.text)
            .join(Post, Post.id == CaptionDraft.post_id)
            .where(CaptionDraft.user_id == uid).order_by(CaptionDraft.updated_at, CaptionDraft.post_id)
        ))  # fmt: skip
    add("likes", ("created_at", "post_id", "post_title"),
        db.session.execute(
            select(PostLike.created_at, PostLike.post_id, Post.title).join(Post, Post.id == PostLike.post_id)
            .where(PostLike.user_id == uid).order_by(PostLike.created_at, PostLike.post_id)
        ))  # fmt: skip
    add("badges", ("awarded_at", "code", "name"),
        ((b.awarded_at, b.badge.code, b.badge.name) for b in db.session.scalars(
            select(UserBadge).where(UserBadge.user_id == uid).order_by(UserBadge.awarded_at))))  # fmt: skip
    add("streak_periods", ("period_key", "covered_by_freeze"),
        db.session.execute(
            select(StreakPeriod.period_key, StreakPeriod.frozen)
            .where(StreakPeriod.user_id == uid).order_by(StreakPeriod.period_key)
        ))  # fmt: skip
    add("notifications", ("created_at", "category", "title", "body", "read_at"),
        db.session.execute(
            select(Notification.created_at, Notification.category, Notification.title, Notification.body,
                   Notification.read_at)
            .where(Notification.user_id == uid).order_by(Notification.created_at, Notification.id)
        ))  # fmt: skip
    add("push_devices", ("created_at", "device", "last_seen_at"),
        db.session.execute(
            select(PushSubscription.created_at, PushSubscription.device, PushSubscription.last_seen_at)
            .where(PushSubscription.user_id == uid).order_by(PushSubscription.created_at)
        ))  # fmt: skip
    # Which surveys they took part in; their answers only where the survey was confidential (an
    # anonymous answer is linked to nobody, so it is nobody's personal data and cannot be found).
    add("survey_participation", ("day", "survey", "wave", "confidential"),
        db.session.execute(
            select(Participation.day, Survey.title, Wave.number, Participation.response_key.is_not(None))
            .join(Wave, Wave.id == Participation.wave_id).join(Survey, Survey.id == Wave.survey_id)
            .where(Participation.user_id == uid).order_by(Participation.day, Wave.id)
        ))  # fmt: skip
    add("survey_answers", ("survey", "wave", "question", "value", "text"),
        db.session.execute(
            select(Survey.title, Wave.number, Question.text, Answer.value, Answer.text)
            .join(Participation, Participation.response_key == Answer.response_key)
            .join(Wave, Wave.id == Answer.wave_id).join(Survey, Survey.id == Wave.survey_id)
            .join(Question, Question.id == Answer.question_id)
            .where(Participation.user_id == uid).order_by(Wave.id, Question.position, Answer.choice)
        ))  # fmt: skip
    add("audit", ("created_at", "action", "by", "target_type", "target_id", "details"),
        db.session.execute(
            select(AuditEntry.created_at, AuditEntry.action, AuditEntry.actor_id, AuditEntry.target_type,
                   AuditEntry.target_id, AuditEntry.detail)
            .where(_about(uid)).order_by(AuditEntry.created_at, AuditEntry.id)
        ))  # fmt: skip
    return tables


def _about(uid: int):
    """Audit entries by the person, about them, or about their redemptions, comments and suggestions."""
    targets = {
        "user": [uid],
        "redemption": select(Redemption.id).where(Redemption.user_id == uid),
        "comment": select(Comment.id).where(Comment.user_id == uid),
        "suggestion": select(Suggestion.id).where(Suggestion.user_id == uid),
    }
    return or_(
        AuditEntry.actor_id == uid,
        *((AuditEntry.target_type == kind) & AuditEntry.target_id.in_(ids) for kind, ids in targets.items()),
    )


def _redemptions(uid: int) -> Table:
    columns = ("created_at", "id", "reward", "kind", "variant", "cost", "status", "carrier", "tracking", "reason",
               *(f"address_{f}" for f in ADDRESS_FIELDS), "pickup_office", "updated_at", "timeline")  # fmt: skip
    rows = []
    redemptions = db.session.scalars(
        select(Redemption).where(Redemption.user_id == uid).order_by(Redemption.created_at, Redemption.id)
    ).all()
    events_by_redemption: dict[int, list] = {}
    for event in db.session.scalars(
        select(RedemptionEvent)
        .where(RedemptionEvent.redemption_id.in_([r.id for r in redemptions]))
        .order_by(RedemptionEvent.id)
    ):
        events_by_redemption.setdefault(event.redemption_id, []).append(
            {"status": event.status, "note": event.note, "at": _iso(event.created_at)}
        )
    for r in redemptions:
        address = r.shipping or {}
        rows.append({
            "created_at": r.created_at, "id": r.id, "reward": r.reward.title, "kind": r.reward.kind,
            "variant": r.variant.label if r.variant else "", "cost": r.cost, "status": r.status,
            "carrier": r.carrier, "tracking": r.tracking, "reason": r.reason,
            **{f"address_{f}": address.get(f, "") for f in ADDRESS_FIELDS},
            "pickup_office": _location_name(r.pickup_location_id), "updated_at": r.updated_at,
            "timeline": events_by_redemption.get(r.id, []),
        })  # fmt: skip
    return Table("redemptions", columns, rows)


def _json_default(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def export_archive(user: User, actor: User) -> bytes:
    """A ZIP of everything about ``user``: ``herald-data.json`` (all of it), one CSV per table, the avatar.

    CSVs go through ``app.exports`` (formula cells neutralised). Gift-card codes are not
    included: they are shown only on the redeemer's reveal page. Audited.
    """
    tables = personal_data(user)
    document = {"exported_at": utcnow().isoformat(), "profile": profile(user),
                **{t.name: t.rows for t in tables}}  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("herald-data.json", json.dumps(document, ensure_ascii=False, indent=2, default=_json_default))
        archive.writestr("profile.json", json.dumps(document["profile"], ensure_ascii=False, indent=2))
        for table in tables:
            archive.writestr(f"{table.name}.csv", exports.csv_bytes(table.columns, table.rows))
        if user.avatar_path:
            avatar = media_root() / user.avatar_path
            if avatar.is_file():
                archive.write(avatar, "avatar" + avatar.suffix)
    audit.record("privacy.export", actor, user, by_self=actor.id == user.id)
    return out.getvalue()


@dataclass
class Erased:
    """What an erasure removed (counts, for the audit entry and the admin's confirmation)."""

    comments: int = 0
    kudos_messages: int = 0
    addresses: int = 0
    suggestions: int = 0
    survey_links: int = 0


def erase(user: User, actor: User) -> Erased:
    """Erase ``user``'s personal data for good; the numbers stay (see the module docstring).

    The account is deactivated and cannot sign in or be reactivated. Raises
    PrivacyError for one's own account or an account already erased.
    """
    if user.id == actor.id:
        raise PrivacyError(_("You cannot erase your own account."))
    if user.erased_at is not None:
        raise PrivacyError(_("This person’s data is already erased."))
    now = utcnow()
    uid = user.id
    done = Erased()

    # Comments leave the posts the way an admin's removal does: hidden, and the post's count follows.
    live = db.session.execute(
        select(Comment.post_id, func.count()).where(Comment.user_id == uid, Comment.removed_at.is_(None))
        .group_by(Comment.post_id)
    ).all()  # fmt: skip
    for post_id, n in live:
        db.session.execute(update(Post).where(Post.id == post_id).values(comment_count=Post.comment_count - n))
    db.session.execute(
        update(Comment).where(Comment.user_id == uid, Comment.removed_at.is_(None))
        .values(removed_at=now, removed_by_id=actor.id).execution_options(synchronize_session=False)
    )  # fmt: skip
    done.comments = db.session.execute(
        update(Comment).where(Comment.user_id == uid).values(body="").execution_options(synchronize_session=False)
    ).rowcount

    # Kudos keep their points; the words go, and the sender's name stored in the recipients' ledgers too.
    done.kudos_messages = db.session.execute(
        update(Kudos).where(or_(Kudos.sender_id == uid, Kudos.recipient_id == uid))
        .values(message="").execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    sent = select(Kudos.id).where(Kudos.sender_id == uid)
    for entry in db.session.scalars(
        select(PointEntry).where(PointEntry.source_type == "kudos", PointEntry.source_id.in_(sent))
    ):
        if entry.params and "from" in entry.params:
            entry.params = {**entry.params, "from": FORMER_EMPLOYEE}

    done.addresses = db.session.execute(
        update(Redemption).where(Redemption.user_id == uid, Redemption.shipping.is_not(None))
        .values(shipping=None).execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    done.addresses += db.session.execute(delete(SavedAddress).where(SavedAddress.user_id == uid)).rowcount
    done.suggestions = db.session.execute(
        update(Suggestion).where(Suggestion.user_id == uid, Suggestion.comment != "")
        .values(comment="").execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip

    # Captions they wrote for themselves and never shared: words they typed, with no total behind them.
    db.session.execute(delete(CaptionDraft).where(CaptionDraft.user_id == uid))

    # Their notifications and devices go; kudos they sent no longer name them in colleagues' centres.
    db.session.execute(delete(Notification).where(Notification.user_id == uid))
    db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == uid))
    sent_keys = [f"kudos:{kid}" for kid in db.session.scalars(select(Kudos.id).where(Kudos.sender_id == uid))]
    if sent_keys:
        db.session.execute(
            update(Notification).where(Notification.dedupe_key.in_(sent_keys))
            .values(title=FORMER_EMPLOYEE, body="").execution_options(synchronize_session=False)
        )  # fmt: skip
    user.notifications_unread = 0

    # Confidential survey answers stay in the results but no longer point at the person.
    done.survey_links = db.session.execute(
        update(Participation).where(Participation.user_id == uid, Participation.response_key.is_not(None))
        .values(response_key=None).execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip

    db.session.execute(delete(AuthToken).where(AuthToken.user_id == uid))
    delete_media(user.avatar_path)
    user.avatar_path = None
    user.display_name = FORMER_EMPLOYEE
    user.email = erased_email(user)
    user.password_hash = None
    user.hide_from_leaderboards = True
    user.session_version += 1  # every session and remember-me cookie of theirs stops working
    user.erased_at = now
    if user.status != "deactivated":
        user.status = "deactivated"
        user.deactivated_at = now
        events.user_deactivated.send(current_app._get_current_object(), user=user)
    audit.record("privacy.erase", actor, user, comments=done.comments, kudos_messages=done.kudos_messages,
                 addresses=done.addresses, suggestions=done.suggestions, survey_links=done.survey_links)  # fmt: skip
    db.session.flush()
    return done
