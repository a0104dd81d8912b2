"""Web Push end to end: calls to action reach a real receiver, encrypted, signed and recorded once.

Every push here goes through pywebpush and HTTP to ``tests.push_receiver.PushReceiver``, which
checks the VAPID JWT with py_vapid and decrypts the message with http_ece the way a push service
and a browser do; ``webpush`` is never patched. Clocks are fixed where the rule depends on the
hour (quiet hours, the daily cap); ``tasks.utcnow`` is the clock the push tasks read.

In immediate mode (tests) the service queues no fan-out (``services._enqueue``): ``_fan_out``
here does what a consumer does with the queued batches. The tests of the real queue switch
immediate mode off for a moment (``_real_queue``) and run real consumers.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time as clock_time
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from app.notifications import services, tasks, vapid
from app.notifications.models import Delivery, Notification, PushSubscription
from app.tasks import huey
from app.timeutil import utcnow
from tests.helpers import make_post
from tests.push_receiver import Answer, PushReceiver

ROOT = Path(__file__).resolve().parent.parent


# --- fixtures and builders -------------------------------------------------------------------------


@pytest.fixture
def receiver(app):
    """A push service on 127.0.0.1 that Herald's sender may reach (its address is allowed for the test)."""
    with app.app_context():
        key = vapid.public_key()
    with PushReceiver(key) as found:
        app.config["FETCH_ALLOW_HOSTS"] = [*app.config["FETCH_ALLOW_HOSTS"], found.host]
        yield found


@pytest.fixture
def queue():
    """The in-memory task queue of immediate mode, empty before and after (retries land in its schedule)."""
    huey.flush()
    yield huey
    huey.flush()


@pytest.fixture
def clock(monkeypatch):
    """A fixed clock for the push tasks: set ``clock.now``; fan-out, quiet hours and release read it."""

    class Clock:
        # Weeks ahead of the real clock: devices subscribed "now" exist at that time (a push goes
        # only to devices subscribed before it started).
        day = (datetime.now(UTC) + timedelta(days=40)).date()

        @classmethod
        def at(cls, hour: int, minute: int = 0, days: int = 0) -> datetime:
            return datetime(cls.day.year, cls.day.month, cls.day.day, hour, minute, tzinfo=UTC) + timedelta(days=days)

    Clock.now = Clock.at(12)

    monkeypatch.setattr(tasks, "utcnow", lambda: Clock.now)
    return Clock


def _subscribe(app, user_id: int, receiver: PushReceiver, devices: int = 1) -> list[dict]:
    """Subscribe ``devices`` test browsers of the receiver for this person (as the page does, through the service)."""
    subs = [receiver.subscription() for _ in range(devices)]
    with app.app_context():
        user = db.session.get(User, user_id)
        for n, sub in enumerate(subs, 1):
            services.subscribe(user, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"], f"Phone {n}")
        db.session.commit()
    return subs


def _person(app, factory, receiver, devices=1, quiet_hours=False, settings=None, **kw) -> tuple[int, list[dict]]:
    """An employee with ``devices`` subscribed browsers; quiet hours off unless asked for."""
    user_id = factory.user(**kw)
    values = dict(settings or {})
    if not quiet_hours:
        values |= {"quiet_start": None, "quiet_end": None}
    if values:
        with app.app_context():
            services.save_settings(user_id, values)
            db.session.commit()
    return user_id, _subscribe(app, user_id, receiver, devices)


def _fan_out(app) -> int:
    """What a consumer does with the queued batches: push every pending notification (the deliveries claimed)."""
    with app.app_context():
        ids = db.session.scalars(
            select(Notification.id).where(Notification.push_state == "pending").order_by(Notification.id)
        ).all()
        return sum(tasks.fan_out(list(ids[n : n + tasks.BATCH])) for n in range(0, len(ids), tasks.BATCH))


@contextlib.contextmanager
def _real_queue(app):
    """Queue fan-outs in the real (SQLite) task queue a consumer reads, as production does, for the block."""
    app.config["TASKS_IMMEDIATE"] = False
    huey.immediate = False
    try:
        yield huey
    finally:
        app.config["TASKS_IMMEDIATE"] = True
        huey.immediate = True


def _cta(app, post_id, urgent=False, deadline=None, now=None, message="Share the launch today", push=True):
    """Send a call to action through the service (as the admin route does), then push it; its id."""
    from app.content.models import Post

    with app.test_request_context():
        cta = services.send_cta(
            db.session.get(Post, post_id),
            None,
            services.CtaData([], [], deadline, urgent, message, 100),
            now=now,
        )
        db.session.commit()
        cta_id = cta.id
    if push:
        _fan_out(app)
    return cta_id


def _notify(app, user_id, title, category="kudos", urgent=False, push=True):
    """One notification for one person (the path every listener takes), then pushed; its id."""
    with app.app_context():
        user = db.session.get(User, user_id)
        note_id = services.notify(user, category, lambda: services.Message(title, "body"), "/kudos", urgent=urgent)
        db.session.commit()
    if push:
        _fan_out(app)
    return note_id


def _run(app, task, *args):
    """Run a task's function now, in the test app (a consumer would run it in its own)."""
    with app.app_context():
        return task.call_local(*args)


def _state(app, note_id) -> str:
    with app.app_context():
        return db.session.get(Notification, note_id).push_state


def _deliveries(app) -> dict[str, str]:
    """Delivery status by subscription endpoint."""
    with app.app_context():
        rows = db.session.execute(
            select(PushSubscription.endpoint, Delivery.status).join(
                PushSubscription, PushSubscription.id == Delivery.subscription_id
            )
        ).all()
        return dict(rows)


def _stats(html: str) -> dict[str, int]:
    """The live panel's figures (Sent, Delivered, Opened, Acted)."""
    return {k: int(v) for k, v in re.findall(r"<dt[^>]*>(\w+)</dt><dd><strong>(\d+)</strong>", html)}


# --- a call to action, end to end ------------------------------------------------------------------


def test_a_call_to_action_arrives_decrypted_with_title_link_language_urgency_and_ttl(
    app, client, auth, factory, receiver
):
    post_id = make_post(app, title="Launch day")
    admin = factory.user("boss@example.com", "Boss", roles=("employee", "admin"))
    erin, erin_subs = _person(app, factory, receiver, devices=2)
    ola, ola_subs = _person(app, factory, receiver, locale="pl")
    deadline = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)

    auth.login(admin)
    response = client.post(
        f"/admin/posts/{post_id}/cta",
        data={"message": "", "deadline": deadline.strftime("%Y-%m-%dT%H:%M"), "multiplier": "200"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    sent_at = utcnow()
    assert _fan_out(app) == 3
    pushes = receiver.wait_for(3)
    assert len(pushes) == 3 and receiver.rejected == []

    with app.app_context():
        notes = {n.user_id: n for n in db.session.scalars(select(Notification).where(Notification.cta_id.is_not(None)))}
    for user_id, subs, lang, title, body in (
        (erin, erin_subs, "en", "Call to action: Launch day", "Share it before the deadline."),
        (ola, ola_subs, "pl", "Wezwanie do działania: Launch day", "Udostępnij przed terminem."),
    ):
        for sub in subs:
            (push,) = receiver.pushes_for(sub)
            shown = push.data["notification"]
            assert push.data["web_push"] == 8030
            assert shown["title"] == title and shown["body"] == body
            assert shown["lang"] == lang and shown["dir"] == "ltr"
            assert shown["navigate"] == f"http://localhost/notifications/{notes[user_id].id}/open"
            assert shown["app_badge"] == "1"  # the unread count for the app icon
            assert push.urgency == "high"
            # The push service keeps it until the deadline, no longer.
            assert abs(push.ttl - (deadline - sent_at).total_seconds()) < 5
            assert push.claims["sub"].startswith("mailto:") and push.claims["aud"] == receiver.origin

    # The admin's live panel counts people notified and people reached (the admin has no device).
    panel = client.get(response.headers["Location"])
    assert panel.status_code == 200
    assert _stats(panel.get_data(as_text=True)) == {"Sent": 3, "Delivered": 2, "Opened": 0, "Acted": 0}
    partial = client.get(response.headers["Location"], headers={"HX-Request": "true"})
    assert partial.get_data(as_text=True).lstrip().startswith('<dl class="stats cta-stats"')

    # The push's link opens the post's share sheet and counts as opened on the panel.
    auth.login(erin)
    opened = client.get(path_of(receiver.pushes_for(erin_subs[0])[0].data["notification"]["navigate"]))
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/posts/{post_id}?share=1")
    auth.login(admin)
    assert _stats(client.get(response.headers["Location"]).get_data(as_text=True))["Opened"] == 1


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_call_to_action_reaches_its_audience_only(app, factory, receiver):
    from app.org.services import get_or_create_department

    with app.app_context():
        sales = get_or_create_department("Sales").id
        ops = get_or_create_department("Ops").id
        db.session.commit()
    post_id = make_post(app)
    seller, seller_subs = _person(app, factory, receiver, department_id=sales)
    _other, other_subs = _person(app, factory, receiver, department_id=ops)
    from app.content.models import Post

    with app.test_request_context():
        services.send_cta(db.session.get(Post, post_id), None, services.CtaData([sales], [], None, True, "", 100))
        db.session.commit()
    _fan_out(app)
    assert len(receiver.pushes_for(seller_subs[0])) == 1
    assert receiver.pushes_for(other_subs[0]) == []


# --- what the push service answers -----------------------------------------------------------------


@pytest.mark.parametrize("status", [410, 404])
def test_a_gone_subscription_is_removed_and_the_others_still_get_the_push(app, factory, receiver, status):
    post_id = make_post(app)
    user_id, (old, new) = _person(app, factory, receiver, devices=2)
    if status == 410:
        receiver.expire(old)
    else:
        receiver.script(old, 404)
    _cta(app, post_id, urgent=True)
    assert receiver.attempts_for(old) == [status]
    assert len(receiver.pushes_for(new)) == 1
    with app.app_context():
        left = db.session.scalars(select(PushSubscription.endpoint).where(PushSubscription.user_id == user_id)).all()
    assert left == [new["endpoint"]]  # the dead device is forgotten (and its delivery row with it)
    assert _deliveries(app) == {new["endpoint"]: "sent"}


def test_a_429_then_201_is_retried_once_after_retry_after_and_delivered_once(app, factory, receiver, queue):
    post_id = make_post(app)
    _user, (sub,) = _person(app, factory, receiver)
    receiver.script(sub, Answer(429, retry_after="1"), 201)
    _cta(app, post_id, urgent=True)
    assert receiver.attempts_for(sub) == [429] and receiver.pushes_for(sub) == []
    assert _deliveries(app) == {sub["endpoint"]: "retry"}

    # The retry waits in the task schedule: backoff (2-3 s for a second attempt), never less than Retry-After.
    (retry,) = queue.scheduled()
    assert retry.name.endswith("retry_delivery")
    note_id, sub_id, attempt = retry.args
    assert attempt == 2
    wait = (retry.eta.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 0.9 <= wait <= 3.5
    queue.flush()  # taken off the schedule, as the consumer does when it runs it
    assert _run(app, tasks.retry_delivery, *retry.args) == "sent"
    assert receiver.attempts_for(sub) == [429, 201] and len(receiver.pushes_for(sub)) == 1

    # Run again (a duplicated task): the delivery is no longer waiting for a retry, nothing is sent.
    assert _run(app, tasks.retry_delivery, *retry.args) == "taken"
    assert len(receiver.pushes_for(sub)) == 1 and queue.scheduled() == []
    with app.app_context():
        row = db.session.get(Delivery, (note_id, sub_id))
        assert (row.status, row.attempts, row.http_status) == ("sent", 2, 201)


def test_a_long_retry_after_is_honoured(app, factory, receiver, queue):
    post_id = make_post(app)
    _user, (sub,) = _person(app, factory, receiver)
    receiver.script(sub, Answer(503, retry_after="120"))
    _cta(app, post_id, urgent=True)
    (retry,) = queue.scheduled()
    wait = (retry.eta.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 118 <= wait <= 121


def test_server_errors_are_retried_until_the_last_attempt_and_other_4xx_are_dropped(app, factory, receiver, queue):
    post_id = make_post(app)
    _a, (flaky,) = _person(app, factory, receiver)
    _b, (refusing,) = _person(app, factory, receiver)
    receiver.script(flaky, *([500] * tasks.MAX_ATTEMPTS))
    receiver.script(refusing, Answer(400))
    _cta(app, post_id, urgent=True)
    assert receiver.attempts_for(refusing) == [400]
    for _ in range(tasks.MAX_ATTEMPTS - 1):
        (retry,) = queue.scheduled()
        queue.flush()
        _run(app, tasks.retry_delivery, *retry.args)
    assert receiver.attempts_for(flaky) == [500] * tasks.MAX_ATTEMPTS
    assert queue.scheduled() == []  # given up after the fifth attempt
    assert _deliveries(app) == {flaky["endpoint"]: "failed", refusing["endpoint"]: "failed"}
    with app.app_context():  # a refusal is not a dead subscription: both devices stay
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 2


def test_an_unreachable_push_service_is_retried_later(app, factory, receiver, queue):
    from tests.helpers import free_port

    post_id = make_post(app)
    user_id, (sub,) = _person(app, factory, receiver)
    port = free_port()  # nothing listens there
    app.config["FETCH_ALLOW_HOSTS"] = [*app.config["FETCH_ALLOW_HOSTS"], f"127.0.0.1:{port}"]
    with app.app_context():
        user = db.session.get(User, user_id)
        services.subscribe(user, f"http://127.0.0.1:{port}/push/x", sub["keys"]["p256dh"], sub["keys"]["auth"])
        db.session.commit()
    _cta(app, post_id, urgent=True)
    with app.app_context():
        row = db.session.scalar(
            select(Delivery).join(PushSubscription).where(PushSubscription.endpoint.contains(str(port)))
        )
        assert (row.status, row.http_status) == ("retry", None) and "Connection" in row.error
    (retry,) = queue.scheduled()
    assert retry.args[2] == 2


def test_a_subscription_to_a_private_address_is_never_posted_to(app, factory, receiver):
    """The sender's address guard: a forged endpoint on the internal network is refused, not retried."""
    post_id = make_post(app)
    user_id, (sub,) = _person(app, factory, receiver)
    with app.app_context():
        user = db.session.get(User, user_id)
        services.subscribe(user, "http://10.0.0.5:8080/push/x", sub["keys"]["p256dh"], sub["keys"]["auth"])
        db.session.commit()
    _cta(app, post_id, urgent=True)
    assert len(receiver.pushes_for(sub)) == 1
    with app.app_context():
        row = db.session.scalar(
            select(Delivery).join(PushSubscription).where(PushSubscription.endpoint.startswith("http://10."))
        )
        assert row.status == "failed" and row.error.startswith("refused")


def test_a_push_whose_task_was_lost_before_it_began_is_sent_by_the_sweep(app, factory, receiver):
    user_id, (sub,) = _person(app, factory, receiver)
    with _real_queue(app) as queue:  # queue the task, then lose it (a consumer killed holding it)
        queue.flush()
        note = _notify(app, user_id, "Lost in the queue", push=False)
        assert queue.pending_count() == 1
        queue.flush()
    assert _state(app, note) == "pending" and receiver.attempts == []
    with app.app_context():
        assert tasks.sweep(now=utcnow() + timedelta(minutes=1)) == 0  # its task may still be waiting in the queue
        assert tasks.sweep(now=utcnow() + tasks.RESUME_AFTER + timedelta(seconds=1)) == 1
        assert tasks.sweep(now=utcnow() + tasks.RESUME_AFTER + timedelta(seconds=2)) == 0
    assert _state(app, note) == "done"
    assert [p.data["notification"]["title"] for p in receiver.pushes_for(sub)] == ["Lost in the queue"]


def test_a_push_is_queued_when_the_transaction_commits_not_when_a_savepoint_inside_it_is_released(app, factory):
    """A released savepoint (``begin_nested``: links, points, badges) is no commit: it may still roll back."""
    user_id = factory.user()
    with _real_queue(app) as queue, app.app_context():
        queue.flush()
        services.notify(db.session.get(User, user_id), "kudos", lambda: services.Message("Rolled back"), "/kudos")
        with db.session.begin_nested():
            pass
        assert queue.pending_count() == 0
        db.session.rollback()
        assert queue.pending_count() == 0
        services.notify(db.session.get(User, user_id), "kudos", lambda: services.Message("Kept"), "/kudos")
        with db.session.begin_nested():
            pass
        assert queue.pending_count() == 0
        db.session.commit()
        assert queue.pending_count() == 1
        queue.flush()


# --- when a push may go: quiet hours, the daily cap, categories ---------------------------------------


def test_quiet_hours_hold_a_non_urgent_push_until_they_end_and_an_urgent_one_goes_through(
    app, factory, receiver, clock
):
    post_id = make_post(app)
    _user, (sub,) = _person(app, factory, receiver, quiet_hours=True, timezone="Europe/Warsaw")  # 22:00-07:00
    warsaw = ZoneInfo("Europe/Warsaw")
    seven_in_warsaw = datetime.combine(clock.day + timedelta(days=1), time(7), tzinfo=warsaw).astimezone(UTC)
    clock.now = clock.at(22, 30)  # 23:30 in Warsaw (UTC+1 in winter, UTC+2 in summer: see below)
    held = _cta(app, post_id, now=clock.now, message="Tomorrow")
    with app.app_context():
        note = db.session.scalar(select(Notification).where(Notification.cta_id == held))
        assert note.push_state == "held"
        assert note.push_after == seven_in_warsaw
    assert receiver.attempts == []

    _cta(app, post_id, urgent=True, now=clock.now, message="Now")
    assert [p.data["notification"]["body"] for p in receiver.pushes_for(sub)] == ["Now"]

    clock.now = seven_in_warsaw - timedelta(minutes=1)
    assert _run(app, tasks.release_held) == 0
    assert len(receiver.pushes_for(sub)) == 1
    clock.now = seven_in_warsaw
    assert _run(app, tasks.release_held) == 1
    assert [p.data["notification"]["body"] for p in receiver.pushes_for(sub)] == ["Now", "Tomorrow"]
    assert _state(app, note.id) == "done"
    assert _run(app, tasks.release_held) == 0  # released once


@pytest.mark.parametrize(
    ("start", "end", "local", "until"),
    [
        (22, 7, "2026-01-15 23:30", "2026-01-16 07:00"),  # across midnight, before it
        (22, 7, "2026-01-16 06:59", "2026-01-16 07:00"),  # across midnight, after it
        (22, 7, "2026-01-16 07:00", None),
        (22, 7, "2026-01-15 21:59", None),
        (13, 15, "2026-01-15 14:10", "2026-01-15 15:00"),  # within one day
        (13, 15, "2026-01-15 15:00", None),
        (None, None, "2026-01-15 23:30", None),  # off
        (22, 7, "2026-03-29 01:30", "2026-03-29 07:00"),  # the night the clocks go forward
    ],
)
def test_quiet_hours_end_at_the_local_hour(app_ctx, start, end, local, until):
    warsaw = ZoneInfo("Europe/Warsaw")
    settings = services.settings_of(1)
    settings.quiet_start, settings.quiet_end = start, end
    now = datetime.fromisoformat(local).replace(tzinfo=warsaw)
    expected = datetime.fromisoformat(until).replace(tzinfo=warsaw) if until else None
    assert services.quiet_until(settings, "Europe/Warsaw", now) == expected


def test_the_daily_cap_stops_the_next_non_urgent_push_but_not_an_urgent_one(app, factory, receiver, clock):
    app.config["PUSH_DAILY_CAP"] = 2
    post_id = make_post(app)
    user_id, (sub,) = _person(app, factory, receiver)
    ids = [_notify(app, user_id, f"Kudos {n}") for n in range(1, 4)]
    assert [_state(app, i) for i in ids] == ["done", "done", "skipped"]
    assert [p.data["notification"]["title"] for p in receiver.pushes_for(sub)] == ["Kudos 1", "Kudos 2"]
    _cta(app, post_id, urgent=True, now=clock.now)
    assert len(receiver.pushes_for(sub)) == 3  # urgent calls to action are not capped
    with app.app_context():  # every notification is in the centre, pushed or not
        assert len(services.recent(user_id)) == 4

    clock.now += timedelta(days=1)  # a new day in the person's time zone
    _notify(app, user_id, "Kudos 4")
    assert receiver.pushes_for(sub)[-1].data["notification"]["title"] == "Kudos 4"


def test_the_daily_cap_holds_when_one_batch_has_several_notifications_for_one_person(app, factory, receiver, clock):
    """The batch takes everyone's slot in one statement, but a person twice in it is counted one by one."""
    app.config["PUSH_DAILY_CAP"] = 2
    twice, (twice_sub,) = _person(app, factory, receiver)
    once, (once_sub,) = _person(app, factory, receiver)
    _notify(app, twice, "Earlier today")
    with app.app_context():
        people = [db.session.get(User, i) for i in (twice, twice, once)]
        ids = services.notify_many(people, "kudos", lambda: services.Message("Kudos"), "/kudos")
        db.session.commit()
    _fan_out(app)  # one batch for all three
    assert [_state(app, i) for i in ids] == ["done", "skipped", "done"]
    assert len(receiver.pushes_for(twice_sub)) == 2 and len(receiver.pushes_for(once_sub)) == 1


def test_a_category_turned_off_lands_in_the_centre_without_a_push(app, client, auth, factory, receiver):
    post_id = make_post(app)
    user_id, (sub,) = _person(app, factory, receiver, settings={"kudos": False})
    note_id = _notify(app, user_id, "Kudos from Ada")
    assert _state(app, note_id) == "skipped" and receiver.attempts == []
    auth.login(user_id)
    page = client.get("/notifications").get_data(as_text=True)
    assert "Kudos from Ada" in page
    _cta(app, post_id, urgent=True)  # calls to action are still on
    assert len(receiver.pushes_for(sub)) == 1


def test_a_person_without_a_device_or_no_longer_active_gets_no_push(app, factory, receiver):
    post_id = make_post(app)
    nobody = factory.user()
    gone, (sub,) = _person(app, factory, receiver)
    with app.app_context():
        db.session.get(User, gone).status = "deactivated"
        db.session.commit()
    note = _notify(app, nobody, "Hello")
    assert _state(app, note) == "skipped"
    assert _state(app, _notify(app, gone, "Hello")) == "skipped"
    _cta(app, post_id, urgent=True)  # only active people are in a call to action's audience
    assert receiver.attempts == []


# --- the notification centre ----------------------------------------------------------------------


def test_the_bell_counts_unread_and_marking_read_one_or_all_clears_it(app, client, auth, factory, receiver):
    user_id, _subs = _person(app, factory, receiver)
    other, _ = _person(app, factory, receiver)
    first = _notify(app, user_id, "First")
    second = _notify(app, user_id, "Second")
    third = _notify(app, user_id, "Third")
    mine_not = _notify(app, other, "Not yours")
    auth.login(user_id)

    page = client.get("/notifications").get_data(as_text=True)
    assert page.index("Third") < page.index("Second") < page.index("First")  # newest first
    assert "Not yours" not in page
    assert "Notifications: 3 unread" in page
    with app.app_context():
        assert db.session.get(User, user_id).notifications_unread == 3

    bell = client.post(f"/notifications/{second}/read", headers={"HX-Request": "true"})
    assert "Notifications: 2 unread" in bell.get_data(as_text=True)
    assert client.post(f"/notifications/{mine_not}/read").status_code == 302  # someone else's: nothing changes
    with app.app_context():
        assert db.session.get(User, other).notifications_unread == 1
        assert db.session.get(User, user_id).notifications_unread == 2

    opened = client.get(f"/notifications/{first}/open")
    assert opened.status_code == 302 and opened.headers["Location"] == "/kudos"
    assert client.get(f"/notifications/{mine_not}/open").status_code == 404

    done = client.post("/notifications/read-all", follow_redirects=True).get_data(as_text=True)
    assert "All caught up." in done and "unread" not in done.split("<main", 1)[-1].split("</header>")[0]
    with app.app_context():
        assert db.session.get(User, user_id).notifications_unread == services.unread_count(user_id) == 0
        assert db.session.get(Notification, third).read_at is not None
    again = client.post("/notifications/read-all", follow_redirects=True).get_data(as_text=True)
    assert "Nothing unread." in again


# --- subscribing and unsubscribing ----------------------------------------------------------------


def test_subscribe_lists_the_device_and_unsubscribe_removes_this_one_or_all(app, client, auth, factory, receiver):
    user_id = factory.user()
    auth.login(user_id)
    phone, tablet, laptop = (receiver.subscription() for _ in range(3))

    def subscribe(sub, device):
        return client.post("/push/subscribe", data={**sub["keys"], "endpoint": sub["endpoint"], "device": device})

    for sub, name in ((phone, "Pixel"), (tablet, "iPad"), (laptop, "Laptop")):
        assert subscribe(sub, name).get_json() == {"ok": True}
    assert subscribe(phone, "Pixel").status_code == 200  # sent again at every app start: refreshed, not doubled
    page = client.get("/me/notifications").get_data(as_text=True)
    assert all(name in page for name in ("Pixel", "iPad", "Laptop"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 3
        assert f'data-vapid-key="{vapid.public_key()}"' in page

    gone = client.post(
        "/push/unsubscribe", data={"endpoint": phone["endpoint"]}, headers={"Accept": "application/json"}
    )
    assert gone.get_json() == {"ok": True, "removed": 1}
    with app.app_context():
        tablet_id = db.session.scalar(
            select(PushSubscription.id).where(PushSubscription.endpoint == tablet["endpoint"])
        )
    assert client.post(f"/push/devices/{tablet_id}/delete").status_code == 302
    assert client.post(f"/push/devices/{tablet_id}/delete").status_code == 404

    stranger = factory.user()
    auth.login(stranger)
    assert client.post("/push/unsubscribe", data={}).status_code == 302  # all of *my* devices: none
    with app.app_context():
        assert db.session.scalars(select(PushSubscription.endpoint)).all() == [laptop["endpoint"]]
    auth.login(user_id)
    everything = client.post("/push/unsubscribe", data={}, follow_redirects=True)
    assert "Notifications are off on every device." in everything.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example.com/send/1",  # not https
        "https://10.0.0.1/send/1",  # the internal network
        "https://127.0.0.1/send/1",
        "https://[::1]/send/1",
        "https://localhost/send/1",
        "https://user:pw@push.example.com/send/1",
        "ftp://push.example.com/send/1",
        "not a url",
    ],
)
def test_a_subscription_that_is_not_a_public_https_push_service_is_refused(app, client, auth, factory, endpoint):
    auth.login(factory.user())
    response = client.post("/push/subscribe", data={"endpoint": endpoint, "p256dh": "B" * 87, "auth": "A" * 22})
    assert response.status_code == 400
    assert response.get_json()["errors"]["endpoint"] == ["That is not a push subscription."]


def test_a_private_push_service_is_accepted_only_when_listed(app, client, auth, factory, receiver):
    auth.login(factory.user())
    sub = receiver.subscription()
    data = {"endpoint": sub["endpoint"], **sub["keys"]}
    assert client.post("/push/subscribe", data=data).status_code == 200  # the receiver's host:port is listed
    app.config["FETCH_ALLOW_HOSTS"] = []
    assert client.post("/push/subscribe", data=data).status_code == 400


# --- the VAPID key ---------------------------------------------------------------------------------


def test_the_vapid_key_is_created_once_with_mode_0600_and_reused(tmp_path):
    cfg = {"INSTANCE_PATH": str(tmp_path / "instance"), "VAPID_PRIVATE_KEY": None}
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(vapid.pem_of(cfg))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = vapid.key_path(cfg["INSTANCE_PATH"])
    assert len(set(seen)) == 1 and seen[0] == path.read_bytes()  # eight processes starting at once agree
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert vapid.pem_of(cfg) == seen[0]  # reused, never rotated

    given = {"INSTANCE_PATH": str(tmp_path / "other"), "VAPID_PRIVATE_KEY": seen[0].decode().replace("\n", "\\n")}
    assert vapid.pem_of(given) == seen[0]
    assert not vapid.key_path(given["INSTANCE_PATH"]).exists()  # a key from the environment writes no file


def test_a_vanished_key_file_with_subscriptions_is_a_production_problem(tmp_path):
    cfg = {"INSTANCE_PATH": str(tmp_path), "VAPID_PRIVATE_KEY": None}
    assert vapid.production_problem(cfg, 0) is None  # nobody subscribed: a new key harms no one
    problem = vapid.production_problem(cfg, 3)
    assert "vapid_private.pem is missing but 3 push subscriptions exist" in problem
    vapid.pem_of(cfg)
    assert vapid.production_problem(cfg, 3) is None
    assert vapid.production_problem({"INSTANCE_PATH": str(tmp_path / "x"), "VAPID_PRIVATE_KEY": "pem"}, 3) is None


def test_production_refuses_to_start_when_the_key_file_vanished_while_devices_are_subscribed(
    app, factory, receiver, database_url, tmp_path
):
    from app import InsecureConfiguration, create_app

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    settings = {
        "HERALD_ENV": "production", "SECRET_KEY": "k" * 48, "BASE_URL": "https://herald.example.com",
        "MAIL_BACKEND": "smtp", "SESSION_COOKIE_SECURE": True, "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_STORAGE_URI": "memory://",
    }  # fmt: skip
    create_app(settings)  # no subscriptions yet: starts (the key file is made on first use)
    _person(app, factory, receiver)
    with pytest.raises(InsecureConfiguration) as refused:
        create_app(settings)
    assert "vapid_private.pem is missing but 1 push subscriptions exist" in str(refused.value)
    assert isinstance(refused.value, RuntimeError)
    vapid.pem_of(settings)  # the key restored from a backup
    create_app(settings)
    create_app(
        {**settings, "INSTANCE_PATH": str(tmp_path / "elsewhere"), "VAPID_PRIVATE_KEY": vapid.pem_of(settings).decode()}
    )


# --- a consumer killed in the middle of a fan-out -------------------------------------------------


def _consumer(env: dict, log: Path) -> subprocess.Popen:
    """A real Huey consumer (one worker thread, no periodic tasks), in its own process group."""
    argv = [sys.executable, "-m", "huey.bin.huey_consumer", "app.worker.huey", "-w", "1", "-k", "thread", "-n"]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(20)


def test_a_consumer_killed_mid_fan_out_and_restarted_delivers_the_rest_and_nothing_twice(
    app, factory, database_url, tmp_path, capsys
):
    """300 devices, two batches; the consumer dies in the first; the restart runs the second; the sweep the rest."""
    from app.accounts import services as accounts

    with app.app_context():
        key = vapid.public_key()
    people = 300
    post_id = make_post(app)
    with app.app_context():
        users = [accounts.create_user(f"p{n}@example.com", f"P {n}", status="active") for n in range(people)]
        db.session.flush()
        ids = [u.id for u in users]
        db.session.commit()
    receiver = PushReceiver(key, delay=0.05)  # slow enough for the kill to land mid-batch
    app.config["FETCH_ALLOW_HOSTS"] = [receiver.host]
    subs = {}
    with app.app_context():
        for user_id in ids:
            sub = subs[user_id] = receiver.subscription()
            user = db.session.get(User, user_id)
            services.subscribe(user, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"])
        db.session.commit()

    # The call to action is queued in the real (SQLite) queue the consumer reads, not run inline.
    with _real_queue(app) as queue:
        queue.flush()
        _cta(app, post_id, urgent=True, push=False)
        assert queue.pending_count() == 2  # 200 + 100 notifications
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env |= {
        "HERALD_INSTANCE_PATH": os.environ["HERALD_INSTANCE_PATH"],  # the same queue and VAPID key
        "HERALD_DATABASE_URL": database_url, "HERALD_TASKS_IMMEDIATE": "0", "HERALD_BASE_URL": app.config["BASE_URL"],
        "HERALD_FETCH_ALLOW_HOSTS": receiver.host, "HERALD_SECRET_KEY": app.config["SECRET_KEY"],
        "HERALD_MAIL_BACKEND": "memory",
    }  # fmt: skip
    log = tmp_path / "consumer.log"
    consumer = _consumer(env, log)
    try:
        receiver.wait_for(40, timeout=60)
        _stop(consumer)  # SIGKILL: no cleanup, the task in hand is lost with its claims
        at_kill = sum(receiver.counts().values())
        assert 40 <= at_kill < 200, log.read_text()[-3000:]
        with app.app_context():
            claimed = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "claimed"))

        consumer = _consumer(env, log)  # runs the second batch, which was still queued
        deadline = clock_time.monotonic() + 60
        while clock_time.monotonic() < deadline:
            with app.app_context():
                second = db.session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.cta_id.is_not(None), Notification.push_state == "done")
                )
            if second >= 100:
                break
            clock_time.sleep(0.2)
        assert second >= 100, log.read_text()[-3000:]
    finally:
        _stop(consumer, signal.SIGINT)
        with _real_queue(app) as queue:
            queue.flush()

    receiver.delay = 0
    with app.app_context():
        resumed = tasks.sweep(now=utcnow() + tasks.RESUME_AFTER + timedelta(seconds=1))
        states = dict(
            db.session.execute(
                select(Notification.push_state, func.count())
                .where(Notification.cta_id.is_not(None))
                .group_by(Notification.push_state)
            ).all()
        )
        statuses = dict(db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    receiver.close()
    counts = receiver.counts()
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = [u for u, sub in subs.items() if counts[sub["endpoint"]] == 0]
    with capsys.disabled():
        print(
            f"\nkilled consumer: {at_kill} delivered before the kill, {claimed} claimed in flight, "
            f"{resumed} resumed by the sweep, lost {len(lost)}, duplicates {duplicates}, deliveries {statuses}"
        )
    assert duplicates == 0
    assert states == {"done": people}
    assert len(lost) <= claimed <= tasks.CHUNK  # at most the chunk in flight at the kill
    assert sum(statuses.values()) == people  # one delivery row per device, never two
    assert statuses.get("sent", 0) == people - claimed
    assert statuses.get("failed", 0) == claimed  # the sweep recorded the interrupted chunk, not sent again
    assert receiver.rejected == []
