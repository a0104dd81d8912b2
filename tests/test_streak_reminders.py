"""Streak reminders: who is at risk (one query, the same people as before), once per period, in Polish too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app import caches
from app.accounts.models import User
from app.database import write_intent
from app.extensions import db
from app.gamification import periods, rules, streaks
from app.gamification.models import Streak
from app.notifications import reminders
from app.notifications.models import Notification

# Week 47 of 2026 runs from Monday 16 to Sunday 22 November.
TUESDAY = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # 39 hours before the end of the week in UTC


@pytest.fixture(autouse=True)
def fresh_rules(app):
    caches.clear(app)
    yield
    caches.clear(app)


def old_users_at_risk(now: datetime) -> list[int]:
    """``users_at_risk`` as it was: every streak loaded, then each person and the profile's verdict, one by one.

    The verdict is the old ``view`` written out here, so the new code is checked against the old
    rule rather than against itself.
    """
    period = rules.get_rules()["streak"]["period"]
    out = []
    for streak in db.session.scalars(select(Streak).where(Streak.current > 0).order_by(Streak.user_id)):
        user = db.session.get(User, streak.user_id)
        if user is None or not user.is_active:
            continue
        key = periods.streak_key(now, user.timezone, period)
        ends_at = periods.period_end(key, period, user.timezone)
        if streak.last_key is None or streak.period != period:
            continue
        shared_now = streak.last_key >= key
        gap = periods.periods_between(streak.last_key, key, period) - 1 if not shared_now else 0
        alive = shared_now or gap <= streak.freezes
        current = streak.current if alive else 0
        if alive and not shared_now and current > 0 and gap + 1 > streak.freezes \
                and ends_at - now <= streaks.AT_RISK[period]:  # fmt: skip
            out.append(user.id)
    return out


ZONES = ["UTC", "Europe/Warsaw", "America/New_York", "Pacific/Kiritimati", "Asia/Kolkata", "Pacific/Pago_Pago",
         "America/St_Johns", "Australia/Sydney"]  # fmt: skip


def mixed_people(app, factory, period: str) -> list[int]:
    """People in many time zones whose streaks were last extended 0 to 4 periods ago, with 0 to 3 freezes,
    plus a deactivated person, a streak of the other kind and a streak never started."""
    week_key = periods.streak_key(SATURDAY, "UTC", period)
    ids = []
    n = 0
    for zone in ZONES:
        for back in range(5):
            for freezes in (0, 1, 3):
                n += 1
                uid = factory.user(f"p{n}@example.com", f"Person {n}", timezone=zone)
                ids.append(uid)
                last_key = periods.shift(week_key, period, -back)
                with app.app_context():
                    db.session.add(Streak(user_id=uid, period=period, current=1 + n % 7, longest=9,
                                          last_key=last_key, freezes=freezes))  # fmt: skip
                    db.session.commit()
    gone = factory.user("gone@example.com", "Gone Person", status="deactivated", timezone="UTC")
    other = factory.user("other@example.com", "Other Kind", timezone="UTC")
    never = factory.user("never@example.com", "Never Shared", timezone="UTC")
    with app.app_context():
        db.session.add(Streak(user_id=gone, period=period, current=3, last_key=periods.shift(week_key, period, -1)))
        db.session.add(Streak(user_id=other, period="daily" if period == "weekly" else "weekly", current=3,
                              last_key="2026-11-19" if period == "weekly" else "2026-W46"))  # fmt: skip
        db.session.add(Streak(user_id=never, period=period, current=0, last_key=None))
        db.session.commit()
    return ids


@pytest.mark.parametrize("period", ["weekly", "daily"])
def test_users_at_risk_is_one_query_and_finds_exactly_the_people_the_old_loop_found(app, factory, count_queries,
                                                                                     period):  # fmt: skip
    with app.app_context():
        rules.save_rules({"streak": {"period": period}}, None)
        db.session.commit()
    caches.clear(app)
    mixed_people(app, factory, period)
    start = SATURDAY - timedelta(days=2) if period == "weekly" else SATURDAY - timedelta(hours=12)
    step = timedelta(hours=3) if period == "weekly" else timedelta(minutes=45)
    seen_some = 0
    with app.app_context():
        for i in range(40):
            now = start + i * step
            expected = old_users_at_risk(now)
            rules.get_rules()  # cached for a few seconds per process: the count below is the people's query
            with count_queries() as counted:
                got = streaks.users_at_risk(now)
            assert got == expected, now
            assert counted.total <= 1, counted
            seen_some += bool(got)
    assert seen_some >= 5  # the instants cover times when people are at risk, not just quiet ones


def _streak(app, uid, weeks_back_from: datetime, n: int) -> None:
    """``n`` weekly shares ending the week before ``weeks_back_from``."""
    with app.app_context():
        user = db.session.get(User, uid)
        for week in range(n, 0, -1):
            streaks.record_share(user, weeks_back_from - timedelta(weeks=week))
        db.session.commit()


def _reminders(app, uid=None) -> list[Notification]:
    with app.app_context():
        stmt = select(Notification).where(Notification.category == "streak").order_by(Notification.id)
        if uid is not None:
            stmt = stmt.where(Notification.user_id == uid)
        found = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return found


def remind(app, now: datetime) -> int:
    with app.app_context(), write_intent():
        made = reminders.remind_streaks(now)
        db.session.commit()
        return made


def test_a_streak_at_risk_is_reminded_once_per_period(app, factory):
    uid = factory.user("rae@example.com", "Rae Reed", timezone="UTC")
    _streak(app, uid, SATURDAY, 2)
    assert remind(app, TUESDAY) == 0  # days left in the week: not at risk yet
    assert remind(app, SATURDAY) == 1
    assert remind(app, SATURDAY + timedelta(hours=1)) == 0  # the hourly run again: nothing new
    assert remind(app, SATURDAY + timedelta(hours=30)) == 0
    [note] = _reminders(app, uid)
    assert note.title == "Your streak of 2 weeks ends on Sunday"
    assert note.body == "Share a post before midnight on Sunday to keep it going."
    assert (note.topic, note.url, note.urgent) == ("streak", "/feed", False)
    assert note.dedupe_key == f"streak:{uid}:2026-W47"
    with app.app_context():
        assert db.session.get(User, uid).notifications_unread == 1
    # Shared in week 47 after all; next Saturday the streak (3 now, no freeze yet) is at risk again.
    with app.app_context():
        streaks.record_share(db.session.get(User, uid), SATURDAY + timedelta(hours=2))
        db.session.commit()
    assert remind(app, SATURDAY + timedelta(weeks=1)) == 1
    latest = _reminders(app, uid)[-1]
    assert latest.dedupe_key == f"streak:{uid}:2026-W48" and latest.title == "Your streak of 3 weeks ends on Sunday"


def test_no_reminder_for_people_who_already_shared_this_period_or_have_no_streak(app, factory):
    shared = factory.user("sam@example.com", "Sam Shared", timezone="UTC")
    _streak(app, shared, SATURDAY, 2)
    with app.app_context():
        streaks.record_share(db.session.get(User, shared), TUESDAY)  # week 47 already has its share
        db.session.commit()
    factory.user("nora@example.com", "Nora None", timezone="UTC")  # never shared
    lapsed = factory.user("lee@example.com", "Lee Lapsed", timezone="UTC")
    _streak(app, lapsed, SATURDAY - timedelta(weeks=3), 2)  # the streak ended weeks ago
    gone = factory.user("gil@example.com", "Gil Gone", timezone="UTC")
    _streak(app, gone, SATURDAY, 2)
    with app.app_context():
        db.session.get(User, gone).status = "deactivated"
        db.session.commit()
    assert remind(app, SATURDAY) == 0
    assert _reminders(app) == []


def test_the_reminder_follows_each_persons_own_clock(app, factory):
    """The last 48 hours of the week begin at midnight on Saturday on each person's own clock."""
    warsaw = factory.user("wiki@example.com", "Wiktoria", timezone="Europe/Warsaw")
    new_york = factory.user("ned@example.com", "Ned", timezone="America/New_York")
    for uid in (warsaw, new_york):
        _streak(app, uid, SATURDAY, 2)
    friday_evening_utc = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # Saturday 00:30 in Warsaw, Friday in NY
    assert remind(app, friday_evening_utc - timedelta(hours=1)) == 0  # Friday 23:30 in Warsaw
    assert remind(app, friday_evening_utc) == 1
    assert [n.user_id for n in _reminders(app)] == [warsaw]
    assert remind(app, friday_evening_utc + timedelta(hours=5)) == 0  # Friday 23:30 in New York
    assert remind(app, friday_evening_utc + timedelta(hours=6)) == 1  # Saturday 00:30 in New York
    assert {n.user_id for n in _reminders(app)} == {warsaw, new_york}


def test_daily_streak_reminder_says_tonight(app, factory):
    with app.app_context():
        rules.save_rules({"streak": {"period": "daily"}}, None)
        db.session.commit()
    caches.clear(app)
    uid = factory.user("dana@example.com", "Dana", timezone="Europe/Warsaw")
    with app.app_context():
        user = db.session.get(User, uid)
        for day in range(3, 0, -1):  # three days: no freeze earned yet (one comes every fourth)
            streaks.record_share(user, datetime(2026, 11, 17, 10, 0, tzinfo=UTC) - timedelta(days=day))
        db.session.commit()
    assert remind(app, datetime(2026, 11, 17, 12, 0, tzinfo=UTC)) == 0  # 13:00 in Warsaw: 11 hours left
    assert remind(app, datetime(2026, 11, 17, 18, 0, tzinfo=UTC)) == 1  # 19:00 in Warsaw
    assert remind(app, datetime(2026, 11, 17, 22, 0, tzinfo=UTC)) == 0  # 23:00: already reminded today
    [note] = _reminders(app, uid)
    assert note.title == "Your streak of 3 days ends tonight"
    assert note.dedupe_key == f"streak:{uid}:2026-11-17"


@pytest.mark.parametrize(
    ("count", "weekly", "daily"),
    [
        (1, "Twoja seria (1 tydzień) kończy się w niedzielę", "Twoja seria (1 dzień) kończy się dziś o północy"),
        (2, "Twoja seria (2 tygodnie) kończy się w niedzielę", "Twoja seria (2 dni) kończy się dziś o północy"),
        (4, "Twoja seria (4 tygodnie) kończy się w niedzielę", "Twoja seria (4 dni) kończy się dziś o północy"),
        (5, "Twoja seria (5 tygodni) kończy się w niedzielę", "Twoja seria (5 dni) kończy się dziś o północy"),
        (12, "Twoja seria (12 tygodni) kończy się w niedzielę", "Twoja seria (12 dni) kończy się dziś o północy"),
        (22, "Twoja seria (22 tygodnie) kończy się w niedzielę", "Twoja seria (22 dni) kończy się dziś o północy"),
        (25, "Twoja seria (25 tygodni) kończy się w niedzielę", "Twoja seria (25 dni) kończy się dziś o północy"),
    ],
)
def test_polish_reminders_use_the_three_plural_forms(app, count, weekly, daily):
    with app.app_context(), force_locale("pl"):
        assert reminders.reminder_text(count, "weekly").title == weekly
        assert reminders.reminder_text(count, "daily").title == daily
        body = reminders.reminder_text(count, "weekly").body
        assert body == "Udostępnij coś przed niedzielną północą, żeby jej nie przerwać."


def test_a_polish_speaker_gets_the_reminder_in_polish(app, factory):
    uid = factory.user("ola@example.com", "Ola Nowak", timezone="Europe/Warsaw", locale="pl")
    english = factory.user("eve@example.com", "Eve", timezone="Europe/Warsaw")
    _streak(app, uid, SATURDAY, 5)
    _streak(app, english, SATURDAY, 5)
    with app.app_context():  # the fourth week earned each a freeze: spent, so the streak is at risk
        for streak in db.session.scalars(select(Streak)):
            streak.freezes = 0
        db.session.commit()
    assert remind(app, SATURDAY) == 2
    titles = {n.user_id: n.title for n in _reminders(app)}
    assert titles == {
        uid: "Twoja seria (5 tygodni) kończy się w niedzielę",
        english: "Your streak of 5 weeks ends on Sunday",
    }


def test_the_hourly_tasks_are_registered(app):
    from app.tasks import huey

    names = {task.name for task in huey._registry.periodic_tasks}
    assert {"streak_reminders", "weekly_digest"} <= names
