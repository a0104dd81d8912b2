"""Notifications: create them (the centre), decide when each may be pushed, and record deliveries.

One path for everything that notifies: ``notify`` (one person) and ``notify_many`` (an audience)
insert notification rows (idempotent by ``dedupe_key``), bump each person's unread count (the bell
reads it from the user row, no extra statement per page) and queue the push fan-out after the
transaction commits. ``app.notifications.tasks`` does the pushing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from sqlalchemy import Integer, Text, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from app import rawsql
from app.accounts.models import User
from app.extensions import db
from app.notifications.models import (
    CATEGORIES,
    Notification,
    NotificationSettings,
    PushDay,
    PushSubscription,
)
from app.timeutil import utcnow

KEEP_DAYS = 90
MAX_SUBSCRIPTIONS = 20  # devices per person; the oldest goes when a 21st subscribes


class NotificationError(ValueError):
    """A user-facing problem (translated)."""


# --- preferences ---------------------------------------------------------------------------------


def settings_of(user_id: int) -> NotificationSettings:
    """A person's settings (defaults, not stored, until they change one)."""
    found = db.session.get(NotificationSettings, user_id)
    if found is not None:
        return found
    return NotificationSettings(
        user_id=user_id,
        cta=True,
        streak=True,
        rewards=True,
        surveys=True,
        badges=True,
        kudos=True,
        posts=True,
        digest=True,
        quiet_start=22,
        quiet_end=7,
    )


def save_settings(user_id: int, values: dict) -> NotificationSettings:
    found = db.session.get(NotificationSettings, user_id)
    if found is None:
        found = settings_of(user_id)
        db.session.add(found)
    for name in CATEGORIES:
        if name in values:
            setattr(found, name, bool(values[name]))
    for name in ("quiet_start", "quiet_end"):
        if name in values:
            value = values[name]
            setattr(found, name, None if value is None else int(value) % 24)
    db.session.flush()
    return found


def quiet_until(settings: NotificationSettings, timezone: str, now: datetime) -> datetime | None:
    """When the person's quiet hours end, if ``now`` falls inside them (else None)."""
    start, end = settings.quiet_start, settings.quiet_end
    if start is None or end is None or start == end:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    hour = local.hour
    inside = (start <= hour < end) if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    end_day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, time(end), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def take_daily_slot(user: User, now: datetime) -> bool:
    """Count one non-urgent push against the person's daily cap; False when the cap is reached."""
    cap = current_app.config["PUSH_DAILY_CAP"]
    if cap <= 0:
        return True
    try:
        day = now.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    except (KeyError, ValueError):
        day = now.date()
    dialect = db.session.get_bind().dialect.name
    table = PushDay.__table__
    stmt = rawsql.dialect_insert(dialect)(table).values(user_id=user.id, day=day, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "day"], set_={"count": table.c.count + 1}, where=table.c.count < cap
    ).returning(table.c.count)
    return db.session.execute(stmt).scalar() is not None


# --- subscriptions -------------------------------------------------------------------------------


def subscribe(user: User, endpoint: str, p256dh: str, auth: str, device: str = "") -> PushSubscription:
    """Store (or refresh) this device's subscription; an endpoint moves to whoever subscribed last."""
    now = utcnow()
    found = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if found is None:
        found = PushSubscription(user_id=user.id, endpoint=endpoint, created_at=now)
        db.session.add(found)
    found.user_id, found.p256dh, found.auth = user.id, p256dh, auth
    found.device, found.last_seen_at = device[:120], now
    db.session.flush()
    extra = db.session.scalars(
        select(PushSubscription.id)
        .where(PushSubscription.user_id == user.id)
        .order_by(PushSubscription.last_seen_at.desc(), PushSubscription.id.desc())
        .offset(MAX_SUBSCRIPTIONS)
    ).all()
    if extra:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(extra)))
    return found


def refresh(user: User, endpoint: str, p256dh: str, auth: str, device: str = "", previous: str = ""):
    """The quiet re-send of a subscription on app start; None when the device is no longer the person's.

    Push services change subscriptions silently, so a browser sends its own again: a known endpoint
    is refreshed, and a new one replaces the endpoint this browser sent before (``previous``). An
    endpoint the person removed ("this device", "all devices", the list) or someone else's is not
    brought back: the browser then unsubscribes too.
    """
    found = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if found is not None:
        if found.user_id != user.id:  # the phone changed hands: the other person's pushes stop here too
            db.session.delete(found)
            db.session.flush()
            return None
        return subscribe(user, endpoint, p256dh, auth, device)
    if not previous or previous == endpoint:
        return None
    old = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == previous, PushSubscription.user_id == user.id)
    )
    if old is not None:
        old.endpoint = endpoint
        db.session.flush()
    return subscribe(user, endpoint, p256dh, auth, device)


def devices(user_id: int) -> list[PushSubscription]:
    return list(
        db.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.last_seen_at.desc())
        )
    )


def remove_device(user_id: int, subscription_id: int | None = None, endpoint: str | None = None) -> int:
    """Remove one device (by id or endpoint) or, with neither, all of the person's devices."""
    stmt = delete(PushSubscription).where(PushSubscription.user_id == user_id)
    if subscription_id is not None:
        stmt = stmt.where(PushSubscription.id == subscription_id)
    elif endpoint is not None:
        stmt = stmt.where(PushSubscription.endpoint == endpoint)
    return db.session.execute(stmt).rowcount


# --- creating notifications ----------------------------------------------------------------------


@dataclass
class Message:
    """What a notification says, built in the recipient's language."""

    title: str
    body: str = ""


def absolute(path: str) -> str:
    """A notification's link on ``BASE_URL`` (pushes leave the browser; the centre uses the same)."""
    if path.startswith(("http://", "https://")):
        return path
    return current_app.config["BASE_URL"].rstrip("/") + path


def link(endpoint: str, **values) -> str:
    """``url_for`` that works in requests, tasks and commands alike (a path)."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context():
        return url_for(endpoint, **values)


def _enqueue(ids: list[int]) -> None:
    from app.notifications import tasks
    from app.tasks import enqueue_after_commit

    if current_app.config.get("TASKS_IMMEDIATE"):
        # Immediate mode (tests) would fan out inside the commit hook of the transaction that made the
        # notifications, while a caller further up may still hold SQLite's write lock: a deadlock. There
        # the pushes wait for ``tasks.fan_out`` (tests call it) or the sweeper.
        return
    for start in range(0, len(ids), tasks.BATCH):
        enqueue_after_commit(tasks.push_batch, ids[start : start + tasks.BATCH])


def notify(
    user: User,
    category: str,
    message: Callable[[], Message],
    url: str,
    *,
    urgent: bool = False,
    topic: str | None = None,
    dedupe: str | None = None,
    cta_id: int | None = None,
) -> int | None:
    """One notification for one person (``message`` is called in their language); its id, or None if a repeat."""
    if category not in CATEGORIES:
        raise ValueError(category)
    with force_locale(user.locale or "en"):
        text = message()
    dialect = db.session.get_bind().dialect.name
    table = Notification.__table__
    stmt = rawsql.dialect_insert(dialect)(table).values(
        user_id=user.id,
        category=category,
        title=str(text.title)[:200],
        body=str(text.body)[:1000],
        url=url,
        urgent=urgent,
        topic=topic,
        dedupe_key=dedupe,
        cta_id=cta_id,
        created_at=utcnow(),
    )
    if dedupe is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    new_id = db.session.execute(stmt.returning(table.c.id)).scalar()
    if new_id is None:
        return None
    db.session.execute(
        update(User).where(User.id == user.id).values(notifications_unread=User.notifications_unread + 1)
    )
    _enqueue([new_id])
    return new_id


def notify_many(
    people: Iterable[User],
    category: str,
    message: Callable[[], Message],
    url: str,
    *,
    urgent: bool = False,
    topic: str | None = None,
    dedupe: Callable[[User], str] | None = None,
    cta_id: int | None = None,
) -> list[int]:
    """The same notification for many people (texts built once per language); the new ids.

    ``people`` are users or rows with their ``id`` and ``locale`` (all a notification needs).
    """
    by_locale: dict[str, tuple[str, str]] = {}
    groups: dict[tuple[str, str], tuple[list[int], list[str | None]]] = {}
    for person in people:
        locale = person.locale or "en"
        if locale not in by_locale:
            with force_locale(locale):
                text = message()
            by_locale[locale] = (str(text.title)[:200], str(text.body)[:1000])
        users, keys = groups.setdefault(by_locale[locale], ([], []))
        users.append(person.id)
        keys.append(dedupe(person) if dedupe else None)
    if not groups:
        return []
    common = {"category": category, "url": url, "urgent": urgent, "topic": topic, "cta_id": cta_id,
              "created_at": utcnow()}  # fmt: skip
    made = _insert_notifications(groups, common, deduped=dedupe is not None)
    ids = sorted(row[0] for row in made)
    users = [row[1] for row in made]
    for start in range(0, len(users), 1000):
        db.session.execute(
            update(User)
            .where(User.id.in_(users[start : start + 1000]))
            .values(notifications_unread=User.notifications_unread + 1)
            .execution_options(synchronize_session=False)
        )
    _enqueue(ids)
    return ids


def _insert_notifications(groups, common: dict, deduped: bool) -> list[tuple[int, int]]:
    """Insert one notification per person of each (title, body) group; (id, user id) of the rows made.

    A repeat (same ``dedupe_key``) inserts nothing. SQLite: the rows apart from the statement, which
    is compiled once and batched by the driver (written into one VALUES clause, 10,000 people cost
    2 s of compiling). PostgreSQL: one statement per text with the people as two arrays, since psycopg
    converts the placeholders of a many-row VALUES in Python (0.9 s for 10,000 people).
    """
    dialect = db.session.get_bind().dialect.name
    table = Notification.__table__
    insert = rawsql.dialect_insert(dialect)
    made: list[tuple[int, int]] = []
    if dialect == "postgresql":
        for (title, body), (users, keys) in groups.items():
            people = (
                func.unnest(bindparam("users", users, type_=ARRAY(Integer)), bindparam("keys", keys, type_=ARRAY(Text)))
                .table_valued("user_id", "dedupe_key")
                .render_derived()
            )
            same = {"title": title, "body": body, **common}
            source = select(
                people.c.user_id, people.c.dedupe_key,
                *(bindparam(f"same_{name}", value, type_=table.c[name].type) for name, value in same.items()),
            )  # fmt: skip
            stmt = insert(table).from_select(["user_id", "dedupe_key", *same], source)
            if deduped:
                stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
            made += db.session.execute(stmt.returning(table.c.id, table.c.user_id)).all()
        return made
    stmt = insert(table)
    if deduped:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    stmt = stmt.returning(table.c.id, table.c.user_id)
    rows = [
        {"user_id": user, "dedupe_key": key, "title": title, "body": body, **common}
        for (title, body), (users, keys) in groups.items()
        for user, key in zip(users, keys, strict=True)
    ]
    for start in range(0, len(rows), 1000):
        made += db.session.execute(stmt, rows[start : start + 1000]).all()
    return made


# --- the centre ----------------------------------------------------------------------------------


def recent(user_id: int, limit: int = 30, before_id: int | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return list(db.session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(user_id: int, notification_id: int | None = None, opened: bool = False) -> int:
    """Mark one (or, without an id, every) unread notification read; the bell's count follows."""
    now = utcnow()
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    changed = db.session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False)).rowcount
    if opened and notification_id is not None:
        db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id, Notification.user_id == user_id, Notification.opened_at.is_(None)
            )
            .values(opened_at=now)
            .execution_options(synchronize_session=False)
        )
    if changed:
        _recount(user_id)
    return changed


def _recount(user_id: int) -> None:
    unread = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(notifications_unread=unread)
        .execution_options(synchronize_session=False)
    )


def purge(now: datetime | None = None) -> int:
    """Forget notifications older than ``KEEP_DAYS`` (the unread counts of their people follow)."""
    cutoff = (now or utcnow()) - timedelta(days=KEEP_DAYS)
    users = db.session.scalars(
        select(Notification.user_id).where(Notification.created_at < cutoff, Notification.read_at.is_(None)).distinct()
    ).all()
    gone = db.session.execute(delete(Notification).where(Notification.created_at < cutoff)).rowcount
    for user_id in users:
        _recount(user_id)
    return gone


def unread_count(user_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


# --- calls to action -----------------------------------------------------------------------------


@dataclass
class CtaData:
    department_ids: list[int]
    location_ids: list[int]
    deadline: datetime | None
    urgent: bool
    message: str
    multiplier: int  # percent, 100 = normal points


def send_cta(post, actor: User | None, data: CtaData, now: datetime | None = None):
    """Make ``post`` a call to action and push it to the chosen audience (who can also see the post)."""
    from flask_babel import gettext as _

    from app.audience import Audience
    from app.content.services import POST_AUDIENCE
    from app.notifications.models import CallToAction, CtaDepartment, CtaLocation

    now = now or utcnow()
    if post.status != "published":
        raise NotificationError(_("Only a published post can be a call to action."))
    if data.deadline is not None and data.deadline <= now:
        raise NotificationError(_("Choose a deadline in the future."))
    if not 100 <= data.multiplier <= 1000:
        raise NotificationError(_("The points multiplier is from 100% to 1000%."))
    cta = CallToAction(
        post_id=post.id,
        urgent=data.urgent,
        deadline=data.deadline,
        message=data.message.strip()[:300],
        audience_all=not (data.department_ids or data.location_ids),
        created_by_id=getattr(actor, "id", None),
        created_at=now,
    )
    cta.departments = [CtaDepartment(department_id=i) for i in sorted(set(data.department_ids))]
    cta.locations = [CtaLocation(location_id=i) for i in sorted(set(data.location_ids))]
    db.session.add(cta)
    post.is_cta, post.cta_deadline, post.points_multiplier = True, data.deadline, data.multiplier
    db.session.flush()
    audience = Audience(
        CallToAction.audience_all,
        CallToAction.id,
        CtaDepartment.cta_id,
        CtaDepartment.department_id,
        CtaLocation.cta_id,
        CtaLocation.location_id,
    )
    from app.content.models import Post

    # Only what a notification needs (id, language), not whole users.
    people = db.session.execute(
        select(User.id, User.locale)
        .join(CallToAction, CallToAction.id == cta.id)
        .join(Post, Post.id == post.id)
        .where(
            User.status == "active",
            audience.condition(User.department_id, User.location_id),
            POST_AUDIENCE.condition(User.department_id, User.location_id),
        )
    ).all()
    title, text = post.title, cta.message

    def message():
        return Message(_("Call to action: %(title)s", title=title), text or _("Share it before the deadline."))

    notify_many(
        people,
        "cta",
        message,
        link("content.post", post_id=post.id, share=1),
        urgent=data.urgent,
        dedupe=lambda u: f"cta:{cta.id}:{u.id}",
        cta_id=cta.id,
    )
    from app import audit

    audit.record("notifications.cta", actor, post, cta=cta.id, people=len(people), urgent=data.urgent)
    return cta


@dataclass
class CtaStats:
    sent: int
    delivered: int
    opened: int
    acted: int


def cta_stats(cta) -> CtaStats:
    """The live panel's figures: notified, delivered to a device, opened, shared before the deadline."""
    from sqlalchemy import and_, distinct, exists

    from app.content.models import Share
    from app.notifications.models import Delivery

    sent = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.cta_id == cta.id)) or 0
    delivered = (
        db.session.scalar(
            select(func.count(distinct(Delivery.notification_id)))
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Notification.cta_id == cta.id, Delivery.status == "sent")
        )
        or 0
    )
    opened = (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.cta_id == cta.id, Notification.opened_at.is_not(None))
        )
        or 0
    )
    in_time = [Share.post_id == cta.post_id, Share.user_id == Notification.user_id, Share.created_at >= cta.created_at]
    if cta.deadline is not None:
        in_time.append(Share.created_at <= cta.deadline)
    acted = (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.cta_id == cta.id, exists().where(and_(*in_time)))
        )
        or 0
    )
    return CtaStats(sent, delivered, opened, acted)
