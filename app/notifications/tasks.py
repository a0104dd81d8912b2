"""Pushing: fan-out in batches, at most once per (notification, device), retries, held pushes, the sweeper.

A batch decides for each notification whether it may go now (the person's category switch,
quiet hours unless urgent, the daily cap unless urgent), then sends in chunks: each chunk's
deliveries are **claimed** (rows inserted, primary key notification + device) and committed
before anything is sent, so a retried task or a consumer restarted after a kill never sends a
claimed delivery again. A chunk in flight when a consumer dies is lost rather than doubled (at most
once): a chunk is two rounds of the sender threads, so a kill loses at most ``CHUNK`` pushes per
task, most of them already sent. ``sweep``, a few minutes later, records that chunk as failed
("interrupted") and pushes what was never claimed.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from huey import crontab
from sqlalchemy import delete, exists, func, select, tuple_, update
from sqlalchemy.orm import lazyload

from app import rawsql
from app.accounts.models import User
from app.extensions import db
from app.notifications import sender, services
from app.notifications.models import Delivery, Notification, NotificationSettings, PushDay, PushSubscription
from app.tasks import app_periodic_task, app_task
from app.timeutil import utcnow

BATCH = 200  # notifications per task
THREADS = 8  # concurrent sends per task (HTTP waits dominate; encryption is ~4,000/s per core)
# Deliveries claimed and committed together: what a killed consumer can lose per task. Two rounds
# of THREADS (with 64, a kill lost ~20 pushes that were claimed but never attempted); the claim
# and the record are one statement each, so small chunks cost little (bench/push_fanout.py).
CHUNK = 2 * THREADS
MAX_ATTEMPTS = 5
TTL_DEFAULT = 24 * 3600
TTL_MAX = 28 * 24 * 3600
RESUME_AFTER = timedelta(minutes=3)
_pools = threading.local()


def _decide(ids: list[int], now: datetime) -> list[int]:
    """Mark each pending notification held, skipped or sending; the ids that go now."""
    rows = db.session.execute(
        select(Notification, User)
        .join(User, User.id == Notification.user_id)
        .where(Notification.id.in_(ids), Notification.push_state == "pending")
        .options(lazyload("*"))  # not the person's department, location and roles (a join and a query each)
    ).all()
    if not rows:
        return []
    users = {u.id for _n, u in rows}
    settings = {
        s.user_id: s
        for s in db.session.scalars(select(NotificationSettings).where(NotificationSettings.user_id.in_(users)))
    }
    devices = set(db.session.scalars(select(PushSubscription.user_id).where(PushSubscription.user_id.in_(users))))
    go, skip, held, capped = [], [], [], []
    for note, user in rows:
        mine = settings.get(user.id) or services.settings_of(user.id)
        if user.id not in devices or not getattr(mine, note.category, True) or not user.is_active:
            skip.append(note.id)
            continue
        if not note.urgent:
            until = services.quiet_until(mine, user.timezone, now)
            if until is not None:
                held.append((note.id, until))
                continue
            capped.append((note, user))
            continue
        go.append(note.id)
    # The daily cap: one statement for everyone with one notification in this batch (the usual
    # case: a call to action, the day's new posts), one per notification for the others.
    per_person = Counter(user.id for _note, user in capped)
    granted = _take_slots([user for _note, user in capped if per_person[user.id] == 1], now)
    for note, user in capped:
        allowed = user.id in granted if per_person[user.id] == 1 else services.take_daily_slot(user, now)
        (go if allowed else skip).append(note.id)
    pending = Notification.push_state == "pending"
    if skip:
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(skip), pending)
            .values(push_state="skipped")
            .execution_options(synchronize_session=False)
        )
    for note_id, until in held:
        db.session.execute(
            update(Notification)
            .where(Notification.id == note_id, pending)
            .values(push_state="held", push_after=until)
            .execution_options(synchronize_session=False)
        )
    if not go:
        return []
    table = Notification.__table__
    claimed = (
        db.session.execute(
            update(table)
            .where(table.c.id.in_(go), table.c.push_state == "pending")
            .values(push_state="sending", pushed_at=now)
            .returning(table.c.id)
        )
        .scalars()
        .all()
    )
    return sorted(claimed)


def _take_slots(people: list[User], now: datetime) -> set[int]:
    """``services.take_daily_slot`` for many people at once (each at most once): the ids within their cap.

    One guarded upsert for all of them: a person's row for the day (in their time zone) is
    created at 1 or counted up while below the cap; RETURNING names those it counted.
    """
    cap = current_app.config["PUSH_DAILY_CAP"]
    if cap <= 0 or not people:
        return {person.id for person in people}
    rows = []
    for person in people:
        try:
            day = now.astimezone(ZoneInfo(person.timezone or "UTC")).date()
        except (KeyError, ValueError):
            day = now.date()
        rows.append({"user_id": person.id, "day": day, "count": 1})
    table = PushDay.__table__
    stmt = (
        rawsql.dialect_insert(db.session.get_bind().dialect.name)(table)
        .on_conflict_do_update(
            index_elements=["user_id", "day"], set_={"count": table.c.count + 1}, where=table.c.count < cap
        )
        .returning(table.c.user_id)
    )
    return set(db.session.execute(stmt, rows).scalars())


def _pairs(ids: list[int]) -> list[tuple]:
    """(notification, device) pairs of these sending notifications that have no delivery yet."""
    if not ids:
        return []
    return db.session.execute(
        select(
            Notification.id,
            PushSubscription.id,
            PushSubscription.endpoint,
            PushSubscription.p256dh,
            PushSubscription.auth,
            Notification.title,
            Notification.body,
            Notification.url,
            Notification.urgent,
            Notification.topic,
            Notification.cta_id,
            User.locale,
            User.notifications_unread,
        )
        .join(PushSubscription, PushSubscription.user_id == Notification.user_id)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.id.in_(ids),
            Notification.push_state == "sending",
            PushSubscription.created_at <= Notification.pushed_at,
            ~exists().where(
                Delivery.notification_id == Notification.id, Delivery.subscription_id == PushSubscription.id
            ),
        )
        .order_by(Notification.id, PushSubscription.id)
    ).all()


def _claim(chunk: list[tuple], now: datetime) -> list[tuple]:
    """Insert the chunk's deliveries as claimed; the pairs this process won (RETURNING)."""
    dialect = db.session.get_bind().dialect.name
    table = Delivery.__table__
    stmt = (
        rawsql.dialect_insert(dialect)(table)
        .on_conflict_do_nothing(index_elements=["notification_id", "subscription_id"])
        .returning(table.c.notification_id, table.c.subscription_id)
    )
    rows = [{"notification_id": p[0], "subscription_id": p[1], "status": "claimed", "attempts": 1,
             "claimed_at": now, "error": ""} for p in chunk]  # fmt: skip
    # Parameters apart from the statement: one cached compilation, sent as one multi-row INSERT.
    won = set(db.session.execute(stmt, rows).all())
    return [p for p in chunk if (p[0], p[1]) in won]


def _ttl(urgent: bool, deadline: datetime | None, now: datetime) -> int:
    if deadline is not None and deadline > now:
        return int(min(TTL_MAX, (deadline - now).total_seconds()))
    return TTL_DEFAULT if not urgent else 6 * 3600


def _pool() -> ThreadPoolExecutor:
    """This worker thread's sender threads, kept between chunks and tasks.

    Each sender thread holds its HTTP session (``sender.session``), so connections to a push
    service (TCP and TLS) are reused across chunks instead of being opened again by a fresh
    pool per chunk. One pool per Huey worker thread; keyed by process, as a forked worker does
    not inherit the threads.
    """
    found = getattr(_pools, "pool", None)
    if found is None or found[0] != os.getpid():
        found = _pools.pool = (os.getpid(), ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="push"))
    return found[1]


def _send_all(pairs: list[tuple], deadlines: dict[int, datetime | None], now: datetime) -> list[sender.Sent]:
    """Send the claimed pushes concurrently (each sender thread its own HTTP session)."""
    app = current_app._get_current_object()

    def one(pair):
        nid, _sid, endpoint, p256dh, auth, title, body, url, urgent, topic, cta_id, locale, unread = pair
        with app.app_context():  # in the sender thread: the payload's link reads BASE_URL, the send the VAPID key
            data = sender.payload(
                title, body, services.absolute(f"/notifications/{nid}/open"), locale or "en", badge=unread, tag=topic
            )
            return sender.send(
                endpoint,
                p256dh,
                auth,
                data,
                ttl=_ttl(urgent, deadlines.get(cta_id), now),
                urgency="high" if (urgent or cta_id) else "normal",
                topic=topic,
            )

    if len(pairs) == 1:
        return [one(pairs[0])]
    return list(_pool().map(one, pairs))


def _record(pairs: list[tuple], results: list[sender.Sent], attempt: int, now: datetime) -> None:
    """Record what the push service answered for each claimed delivery."""
    gone, retries = [], []
    outcomes: dict[tuple, list[tuple[int, int]]] = {}
    for pair, result in zip(pairs, results, strict=True):
        nid, sid = pair[0], pair[1]
        if result.delivered:
            status = "sent"
        elif result.gone:
            status, _ = "gone", gone.append(sid)
        elif result.retry and attempt < MAX_ATTEMPTS:
            status = "retry"
            retries.append((nid, sid, result.retry_after))
        else:
            status = "failed"
        outcome = (status, result.status or None, result.error[:200], now if status != "retry" else None)
        outcomes.setdefault(outcome, []).append((nid, sid))
    # One UPDATE per outcome (a chunk is usually all "sent 201"): a statement per delivery took
    # PostgreSQL about 40 % more CPU over a 10,000-push fan-out (bench/push_fanout.py).
    for (status, code, error, done_at), keys in outcomes.items():
        db.session.execute(
            update(Delivery)
            .where(tuple_(Delivery.notification_id, Delivery.subscription_id).in_(keys))
            .values(status=status, http_status=code, error=error, attempts=attempt, done_at=done_at)
            .execution_options(synchronize_session=False)
        )
    if gone:  # the push service says these devices are no more
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    for nid, sid, retry_after in retries:
        wait = max(retry_after or 0.0, min(3600.0, 2.0**attempt + random.random()))
        from app.tasks import enqueue_after_commit

        enqueue_after_commit(retry_delivery.schedule, (nid, sid, attempt + 1), delay=wait)


def _deadlines(pairs: list[tuple]) -> dict[int, datetime | None]:
    from app.notifications.models import CallToAction

    ctas = {p[10] for p in pairs if p[10]}
    if not ctas:
        return {}
    # .all(): a Result has keys(), so dict() would read it as a mapping of column names
    return dict(
        db.session.execute(select(CallToAction.id, CallToAction.deadline).where(CallToAction.id.in_(ctas))).all()
    )


def _finish(ids: list[int]) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.push_state == "sending")
        .values(push_state="done")
        .execution_options(synchronize_session=False)
    )


def fan_out(ids: list[int], now: datetime | None = None) -> int:
    """Push these notifications to their people's devices; returns the deliveries claimed here."""
    now = now or utcnow()
    going = _decide(ids, now)
    db.session.commit()
    pairs = _pairs(going)
    claimed = 0
    deadlines = _deadlines(pairs)
    for start in range(0, len(pairs), CHUNK):
        won = _claim(pairs[start : start + CHUNK], now)
        db.session.commit()  # durable claims before any send
        if not won:
            continue
        claimed += len(won)
        _record(won, _send_all(won, deadlines, now), 1, utcnow())
        db.session.commit()
    _finish(going)
    db.session.commit()
    return claimed


def _own_session(fn):
    """Run ``fn`` with a session of its own: in immediate mode (tests) a task runs inside the commit
    hook of the request that queued it, whose session can emit nothing more; a consumer pays nothing."""

    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with current_app.app_context():
            try:
                return fn(*args, **kwargs)
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    return run


@app_task(retries=2, retry_delay=10)
@_own_session
def push_batch(ids: list[int]) -> int:
    """Fan one batch of notifications out (a Huey task)."""
    return fan_out(list(ids))


@app_task()
@_own_session
def retry_delivery(notification_id: int, subscription_id: int, attempt: int) -> str:
    """Send one delivery again after a 429 or 5xx (claimed again by a guarded update: once)."""
    now = utcnow()
    won = db.session.execute(
        update(Delivery)
        .where(
            Delivery.notification_id == notification_id,
            Delivery.subscription_id == subscription_id,
            Delivery.status == "retry",
        )
        .values(status="claimed", attempts=attempt, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not won:
        return "taken"
    pair = db.session.execute(
        select(
            Notification.id,
            PushSubscription.id,
            PushSubscription.endpoint,
            PushSubscription.p256dh,
            PushSubscription.auth,
            Notification.title,
            Notification.body,
            Notification.url,
            Notification.urgent,
            Notification.topic,
            Notification.cta_id,
            User.locale,
            User.notifications_unread,
        )
        .select_from(Notification)
        # Still this person's device: an endpoint moves to whoever subscribed last on it.
        .join(PushSubscription, PushSubscription.user_id == Notification.user_id)
        .join(User, User.id == Notification.user_id)
        .where(Notification.id == notification_id, PushSubscription.id == subscription_id)
    ).first()
    if pair is None:
        return "gone"
    pairs = [tuple(pair)]
    results = _send_all(pairs, _deadlines(pairs), now)
    _record(pairs, results, attempt, utcnow())
    db.session.commit()
    return "sent" if results[0].delivered else "again"


@app_periodic_task(crontab())  # every minute
@_own_session
def release_held() -> int:
    """Push the notifications held for quiet hours whose hours have ended, and resume stalled fan-outs."""
    now = utcnow()
    due = db.session.scalars(
        update(Notification)
        .where(Notification.push_state == "held", Notification.push_after <= now)
        .values(push_state="pending", push_after=now)  # pending since now: the sweep waits RESUME_AFTER from here
        .returning(Notification.id)
    ).all()
    db.session.commit()
    for start in range(0, len(due), BATCH):
        push_batch(sorted(due[start : start + BATCH]))
    return len(due) + sweep(now)


def sweep(now: datetime | None = None) -> int:
    """Finish what a killed consumer or a lost task left, once ``RESUME_AFTER`` has passed; deliveries sent.

    - Deliveries still ``claimed``: their send was in flight when the consumer died. Whether the
      push service got them is unknown, and sending again could show the notification twice, so
      they are recorded as failed ("interrupted"): at most once, and the panel does not count them.
    - Notifications still ``pending``: their task was lost before it began (the consumer died
      holding it, or the queue refused it after the commit). Fanned out now.
    - Notifications still ``sending``: their task died half way. The devices without a delivery
      get the push now.
    """
    now = now or utcnow()
    stale, oldest = now - RESUME_AFTER, now - timedelta(days=1)
    db.session.execute(
        update(Delivery)
        .where(Delivery.status == "claimed", Delivery.claimed_at < stale)
        .values(status="failed", error="interrupted: the sender stopped mid-send; not sent again", done_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    resumed = 0
    since = func.coalesce(Notification.push_after, Notification.created_at)
    lost = db.session.scalars(
        select(Notification.id).where(Notification.push_state == "pending", since < stale, since > oldest)
    ).all()
    for start in range(0, len(lost), BATCH):
        resumed += fan_out(sorted(lost[start : start + BATCH]), now)
    stalled = db.session.scalars(
        select(Notification.id).where(
            Notification.push_state == "sending",
            Notification.pushed_at < stale,
            Notification.pushed_at > oldest,
        )
    ).all()
    for start in range(0, len(stalled), BATCH):
        ids = sorted(stalled[start : start + BATCH])
        pairs = _pairs(ids)
        deadlines = _deadlines(pairs)
        for first in range(0, len(pairs), CHUNK):
            won = _claim(pairs[first : first + CHUNK], now)
            db.session.commit()
            if won:
                resumed += len(won)
                _record(won, _send_all(won, deadlines, now), 1, utcnow())
                db.session.commit()
        _finish(ids)
        db.session.commit()
    return resumed


@app_periodic_task(crontab(minute="30", hour="3"))
def purge_old() -> int:
    """Forget notifications older than 90 days."""
    return services.purge()


@app_task()
@_own_session
def new_post(post_id: int) -> int:
    """Tell the post's audience about new posts: one notification per person and day (``posts:<user>:<day>``)."""
    from flask_babel import gettext as _

    from app.content.models import Post
    from app.content.services import POST_AUDIENCE
    from app.gamification.periods import program_timezone

    post = db.session.get(Post, post_id)
    if post is None or post.status != "published":
        return 0
    people = db.session.scalars(
        select(User)
        .join(Post, Post.id == post_id)
        .where(User.status == "active", POST_AUDIENCE.condition(User.department_id, User.location_id))
    ).all()
    day = utcnow().astimezone(ZoneInfo(program_timezone())).date().isoformat()
    title = post.title
    made = services.notify_many(
        people,
        "posts",
        lambda: services.Message(_("New posts to share"), title),
        services.link("main.feed"),
        topic="posts",
        dedupe=lambda u: f"posts:{u.id}:{day}",
    )
    db.session.commit()
    return len(made)
