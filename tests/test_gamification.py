"""Points ledger, caps, multipliers, streaks, badges, leaderboards and the profile."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import caches
from app.accounts.models import User
from app.audit import AuditEntry
from app.content import services
from app.extensions import db
from app.gamification import leaderboard, ledger, rules, streaks
from app.gamification.models import PointEntry, UserBadge
from app.timeutil import utcnow
from tests.helpers import balance, code_of, flush, ledger_sum, make_post, share, visit


@pytest.fixture(autouse=True)
def fresh_rules(app):
    caches.clear(app)
    yield
    caches.clear(app)


def award(app, user_id, key, points=10, reason="share", when=None, **kw):
    from app.database import write_intent

    with app.app_context(), write_intent():
        result = ledger.award(db.session.get(User, user_id), reason, points, key, when=when, **kw)
        db.session.commit()
        return result


# --- ledger -------------------------------------------------------------------------------------------------


def test_share_earns_points_once_and_the_balance_equals_the_ledger(app, client, auth, users):
    post_id = make_post(app, "Q3 results")
    uid = auth.login(users["employee"])
    response = client.post(
        f"/posts/{post_id}/share", data={"network": "linkedin"}, headers={"Accept": "application/json"}
    )
    trigger = json.loads(response.headers["HX-Trigger"])["herald:points"]
    assert trigger["points"] == 5 and trigger["balance"] == 5 and "First share" in trigger["badges"]
    again = client.post(f"/posts/{post_id}/share", data={"network": "linkedin"}, headers={"Accept": "application/json"})
    assert "HX-Trigger" not in again.headers
    assert balance(app, uid) == ledger_sum(app, uid) == 5
    page = client.get("/me").get_data(as_text=True)
    assert "shared “Q3 results” on LinkedIn" in page and "<strong data-balance>5</strong>" in page


def test_a_retried_event_awards_nothing_twice(app, users):
    assert award(app, users["employee"], "event:1").points == 10
    assert award(app, users["employee"], "event:1").duplicate
    assert balance(app, users["employee"]) == ledger_sum(app, users["employee"]) == 10


@pytest.mark.parametrize("same_event", [True, False])
def test_twenty_threads_at_once(app, users, same_event):
    """20 threads deliver the same event (one entry) or different events (balance = ledger sum)."""
    from app.database import write_intent

    uid = users["employee"]
    barrier = threading.Barrier(20)
    errors = []

    def deliver(n):
        try:
            with app.app_context(), write_intent():
                barrier.wait()
                ledger.award(db.session.get(User, uid), "click", 3, "same" if same_event else f"ev:{n}")
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.user_id == uid))
    assert entries == (1 if same_event else 20)
    assert balance(app, uid) == ledger_sum(app, uid) == (3 if same_event else 60)


def test_balance_never_goes_negative(app, users):
    uid = users["employee"]
    award(app, uid, "e1", 10)
    with app.app_context():
        user = db.session.get(User, uid)
        with pytest.raises(ledger.LedgerError, match="Not enough points"):
            ledger.spend(user, 11, "redemption", "spend:1")
        db.session.rollback()
        assert ledger.spend(user, 10, "redemption", "spend:2") is not None
        assert ledger.spend(user, 10, "redemption", "spend:2") is None  # same key: no second debit
        db.session.commit()
    assert balance(app, uid) == ledger_sum(app, uid) == 0


def test_admin_adjustment_needs_a_reason_and_is_audited(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/points/adjust", data={"email": "employee@example.com", "delta": "25", "note": ""})
    assert response.status_code == 400 and "Give a reason" in response.get_data(as_text=True)
    client.post("/admin/points/adjust", data={"email": "employee@example.com", "delta": "25", "note": "Event help",
                                              "key": "k1"})  # fmt: skip
    client.post("/admin/points/adjust", data={"email": "employee@example.com", "delta": "25", "note": "Event help",
                                              "key": "k1"})  # a double submit  # fmt: skip
    assert balance(app, users["employee"]) == 25
    too_much = client.post(
        "/admin/points/adjust", data={"email": "employee@example.com", "delta": "-26", "note": "Oops", "key": "k2"}
    )
    assert "Not enough points" in too_much.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "points.adjust"))
        assert entry.detail == {"delta": 25, "note": "Event help"} and entry.actor_id == users["admin"]
    auth.login(users["employee"])
    assert "adjusted by an admin: Event help" in client.get("/me").get_data(as_text=True)


# --- rules, caps, multipliers -------------------------------------------------------------------------------


def test_daily_share_cap(app, client, auth, users):
    posts = [make_post(app, f"P{i}") for i in range(12)]
    uid = auth.login(users["employee"])
    for post_id in posts:
        share(client, post_id, "linkedin")
    assert balance(app, uid) == 10 * 5


def test_click_points_cap_and_total_cap(app, users):
    uid = users["employee"]
    with app.app_context():
        rules.save_rules({"caps": {"click": {"points": 30}, "total": {"points": 45}}}, None)
        db.session.commit()
    results = [award(app, uid, f"click:{n}", 10, "click", cap_action="click") for n in range(5)]
    assert [r.points for r in results] == [10, 10, 10, 0, 0] and results[3].capped
    assert award(app, uid, "like:1", 10, "like").points == 10
    assert award(app, uid, "like:2", 10, "like").capped  # 40 + 10 > 45
    assert balance(app, uid) == ledger_sum(app, uid) == 40


def test_caps_follow_the_employees_own_day(app, factory):
    uid = factory.user("nyc@example.com", "Nia York", timezone="America/New_York")
    with app.app_context():
        rules.save_rules({"caps": {"share": {"count": 1}}}, None)
        db.session.commit()
    late_evening = datetime(2026, 11, 10, 23, 30, tzinfo=UTC)  # 18:30 in New York
    after_midnight_utc = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 21:00 the same New York day
    next_morning = datetime(2026, 11, 11, 14, 0, tzinfo=UTC)
    assert award(app, uid, "s1", 5, cap_action="share", when=late_evening).points == 5
    assert award(app, uid, "s2", 5, cap_action="share", when=after_midnight_utc).capped
    assert award(app, uid, "s3", 5, cap_action="share", when=next_morning).points == 5


def test_campaign_multiplier_and_cta_bonus_before_deadline(app, client, auth, users):
    with app.test_request_context(method="POST"):
        campaign = services.create_campaign("Double", "cta", "shares", 10, None)
        campaign.points_multiplier = 200
        db.session.commit()
        campaign_id = campaign.id
    cta = make_post(app, "Act", is_cta=True, cta_deadline=utcnow() + timedelta(days=1), campaign_id=campaign_id)
    late = make_post(app, "Too late", is_cta=True, cta_deadline=utcnow() + timedelta(days=1))
    with app.app_context():
        from app.content.models import Post

        db.session.get(Post, late).cta_deadline = utcnow() - timedelta(minutes=1)
        db.session.commit()
    uid = auth.login(users["employee"])
    share(client, cta, "linkedin")
    share(client, cta, "x")  # a second network: share points again, but no second bonus
    assert balance(app, uid) == 2 * 10 + 30
    share(client, late, "linkedin")
    assert balance(app, uid) == 2 * 10 + 30 + 5


def test_rule_changes_apply_from_now_on(app, client, auth, users):
    first, second = make_post(app, "One"), make_post(app, "Two")
    uid = auth.login(users["employee"])
    share(client, first, "linkedin")
    auth.login(users["admin"])
    page = client.get("/admin/points").get_data(as_text=True)
    assert "apply to points earned from now on" in page
    form = {f"points-{a}": v for a, v in rules.DEFAULT_RULES["points"].items()}
    form.update({"points-share": "50", "cap-share-count": "10", "cap-click-points": "300", "cap-like-count": "10",
                 "cap-comment-count": "10", "cap-total-points": "600", "streak-period": "weekly",
                 "boards-individual": "1", "boards-teams": "1"})  # fmt: skip
    assert client.post("/admin/points", data=form).status_code == 302
    auth.login(uid)
    share(client, second, "linkedin")
    with app.app_context():
        deltas = db.session.scalars(
            select(PointEntry.delta)
            .where(PointEntry.user_id == uid, PointEntry.reason == "share")
            .order_by(PointEntry.id)
        ).all()
    assert deltas == [5, 50]


def test_bad_rule_values_change_nothing(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/points", data={"points-share": "-5", "streak-period": "weekly"})
    assert response.status_code == 400 and "whole numbers" in response.get_data(as_text=True)
    rules.forget_cache()
    with app.app_context():
        assert rules.get_rules()["points"]["share"] == 5


def test_unique_clicks_earn_more_than_the_share(app, client, auth, users):
    post_id = make_post(app)
    uid = auth.login(users["employee"])
    code = code_of(share(client, post_id, "linkedin")["link"])
    visit(app, code, ip="198.51.100.1")
    visit(app, code, ip="198.51.100.1")
    visit(app, code, ip="198.51.100.2", ua="Twitterbot/1.0")
    flush(app)
    assert balance(app, uid) == 5 + 10


# --- streaks ------------------------------------------------------------------------------------------------


def streak_share(app, user_id, when):
    with app.app_context():
        change = streaks.record_share(db.session.get(User, user_id), when)
        db.session.commit()
        return change


def test_weekly_streak_counts_consecutive_weeks_and_a_freeze_bridges_a_gap(app, factory):
    uid = factory.user("w@example.com", "Wei", timezone="Europe/Warsaw")
    monday = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
    for week in range(4):
        change = streak_share(app, uid, monday + timedelta(weeks=week))
    assert change.current == 4 and change.milestone == 4 and change.freeze_earned
    streak_share(app, uid, monday + timedelta(weeks=3, days=2))  # same week again: nothing changes
    change = streak_share(app, uid, monday + timedelta(weeks=5))  # week 5 missed, one freeze left
    assert (change.current, change.frozen) == (5, 1)
    change = streak_share(app, uid, monday + timedelta(weeks=8))  # two weeks missed, no freeze left
    assert change.current == 1
    with app.app_context():
        view = streaks.view(db.session.get(User, uid), monday + timedelta(weeks=8, days=1))
        assert (view.current, view.longest, view.freezes) == (1, 5, 0)
        cal = streaks.calendar(db.session.get(User, uid), 10, monday + timedelta(weeks=8))
    assert [c["state"] for c in cal][-4:] == ["shared", "missed", "missed", "shared"]
    assert [c["state"] for c in cal][-5] == "frozen"


def test_daily_streak_across_a_dst_change(app, factory):
    uid = factory.user("d@example.com", "Dana", timezone="Europe/Warsaw")
    with app.app_context():
        rules.save_rules({"streak": {"period": "daily"}}, None)
        db.session.commit()
    # Clocks go back on 25 October 2026 in Warsaw: that local day is 25 hours long.
    saturday_late = datetime(2026, 10, 24, 21, 59, tzinfo=UTC)  # 23:59 CEST
    sunday_late = datetime(2026, 10, 25, 22, 59, tzinfo=UTC)  # 23:59 CET (after the change)
    monday_early = datetime(2026, 10, 25, 23, 1, tzinfo=UTC)  # 00:01 CET Monday
    assert streak_share(app, uid, saturday_late).current == 1
    assert streak_share(app, uid, sunday_late).current == 2
    assert streak_share(app, uid, monday_early).current == 3
    # Spring forward (29 March 2026): a 23-hour day still counts as one.
    uid2 = factory.user("e@example.com", "Eve", timezone="Europe/Warsaw")
    assert streak_share(app, uid2, datetime(2026, 3, 28, 22, 30, tzinfo=UTC)).current == 1  # 23:30 CET Sat
    assert streak_share(app, uid2, datetime(2026, 3, 29, 21, 30, tzinfo=UTC)).current == 2  # 23:30 CEST Sun


def test_a_timezone_move_never_breaks_or_double_counts(app, factory):
    uid = factory.user("t@example.com", "Tom", timezone="Europe/Warsaw")
    monday_warsaw = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)  # Monday 00:30 in Warsaw, Sunday in New York
    assert streak_share(app, uid, monday_warsaw - timedelta(days=7)).current == 1
    assert streak_share(app, uid, monday_warsaw).current == 2  # a new Warsaw week
    with app.app_context():
        db.session.get(User, uid).timezone = "America/New_York"
        db.session.commit()
    # An hour later it is still Sunday of the previous week in New York: nothing changes.
    change = streak_share(app, uid, monday_warsaw + timedelta(hours=1))
    assert (change.current, change.extended) == (2, False)
    # Next Sunday evening in New York is still the week already counted; Monday is the next one.
    assert streak_share(app, uid, monday_warsaw + timedelta(days=7)).current == 2
    assert streak_share(app, uid, monday_warsaw + timedelta(days=8)).current == 3


def test_streak_at_risk_near_the_end_of_the_period(app, factory):
    uid = factory.user("r@example.com", "Rae", timezone="UTC")
    streak_share(app, uid, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # week 45
    with app.app_context():
        user = db.session.get(User, uid)
        assert not streaks.view(user, datetime(2026, 11, 10, 9, 0, tzinfo=UTC)).at_risk  # Tuesday of week 46
        assert streaks.view(user, datetime(2026, 11, 14, 9, 0, tzinfo=UTC)).at_risk  # Saturday: 39 h left
        assert uid in streaks.users_at_risk(datetime(2026, 11, 14, 9, 0, tzinfo=UTC))
        gone = streaks.view(user, datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
        assert gone.current == 0 and not gone.at_risk  # a whole week missed, no freeze: the streak is over


# --- badges -------------------------------------------------------------------------------------------------


def test_badges_are_awarded_once_and_shown_locked_or_earned(app, client, auth, users):
    posts = [make_post(app, f"P{i}") for i in range(3)]
    uid = auth.login(users["employee"])
    for post_id in posts:
        share(client, post_id, "linkedin")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserBadge).where(UserBadge.user_id == uid)) == 1
    page = client.get("/me").get_data(as_text=True)
    assert '<li class="badge">\n        <strong>First share</strong>' in page
    assert '<li class="badge locked">\n        <strong>Regular</strong>' in page


def test_admin_adds_a_badge_without_code(app, client, auth, users):
    auth.login(users["admin"])
    bad = client.post("/admin/badges", data={"name": "Talker", "condition": "comments", "threshold": "0"})
    assert bad.status_code == 400 and "at least 1" in bad.get_data(as_text=True)
    client.post("/admin/badges", data={"name": "Talker", "description": "Two comments", "condition": "comments",
                                       "threshold": "2"})  # fmt: skip
    post_id = make_post(app)
    auth.login(users["employee"])
    for text in ("One", "Two"):
        response = client.post(f"/posts/{post_id}/comments", data={"body": text}, headers={"HX-Request": "true"})
    assert "Talker" in json.loads(response.headers["HX-Trigger"])["herald:points"]["badges"]


def test_top_ten_of_the_month_badge(app, factory):
    from app.gamification.tasks import award_top_of_month

    ids = [factory.user(f"t{i}@example.com", f"T {i}") for i in range(12)]
    when = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
    for n, uid in enumerate(ids):
        award(app, uid, f"e{n}", 100 - n, when=when)
    with app.app_context():
        assert award_top_of_month(when) == 10
        assert award_top_of_month(when) == 0
        db.session.commit()
        winners = set(db.session.scalars(select(UserBadge.user_id)))
    assert winners == set(ids[:10])


# --- leaderboards -------------------------------------------------------------------------------------------


def test_ties_share_a_rank_and_the_first_to_reach_a_score_leads(app, factory):
    when = utcnow()
    a, b, c, d = (factory.user(f"{n}@example.com", n.upper()) for n in "abcd")
    award(app, a, "a", 30, when=when)
    award(app, c, "c", 20, when=when + timedelta(seconds=1))
    award(app, b, "b", 20, when=when + timedelta(seconds=2))
    award(app, d, "d", 10, when=when + timedelta(seconds=3))
    with app.app_context():
        board = leaderboard.standings("week", "company", db.session.get(User, d), now=when)
    assert [(r.rank, r.name) for r in board.rows] == [(1, "A"), (2, "C"), (2, "B"), (4, "D")]


def test_hidden_people_are_counted_but_not_named(app, client, auth, factory):
    shy = factory.user("shy@example.com", "Shy Person")
    me = factory.user("me@example.com", "Me Myself")
    award(app, shy, "s", 50)
    award(app, me, "m", 10)
    auth.login(shy)
    client.post("/me/privacy", data={"hide": "1"})
    auth.login(me)
    page = client.get("/leaderboard").get_data(as_text=True)
    assert "Shy Person" not in page and "<em>Hidden</em>" in page
    assert '<span class="rank" aria-label="Rank 2">2</span>' in page  # I am still second
    auth.login(shy)
    assert "Shy Person" in client.get("/leaderboard").get_data(as_text=True)  # you always see yourself


def test_my_row_is_shown_when_i_am_outside_the_top_list(app, factory):
    ids = [factory.user(f"u{i}@example.com", f"U {i}") for i in range(6)]
    for n, uid in enumerate(ids):
        award(app, uid, f"k{n}", 60 - n * 10)
    with app.app_context():
        board = leaderboard.standings("all", "company", db.session.get(User, ids[-1]), limit=3)
    assert [r.rank for r in board.rows] == [1, 2, 3]
    assert (board.me_in_top, board.me.rank, board.me.points, board.total) == (False, 6, 10, 6)


def test_department_board_and_team_averages_let_small_teams_win(app, client, auth, factory):
    big, small = factory.department("Big"), factory.department("Small")
    big_people = [factory.user(f"b{i}@example.com", f"B {i}", department_id=big) for i in range(4)]
    small_person = factory.user("s@example.com", "Solo", department_id=small)
    for n, uid in enumerate(big_people):
        award(app, uid, f"b{n}", 10)  # 40 points over 4 people: 10 each
    award(app, small_person, "s", 25)  # 25 points for 1 person
    with app.app_context():
        viewer = db.session.get(User, big_people[0])
        team_rows = leaderboard.teams("week", viewer)
        dept_board = leaderboard.standings("week", "department", viewer)
    assert [(t.rank, t.name, t.average) for t in team_rows] == [(1, "Small", 25.0), (2, "Big", 10.0)]
    assert {r.name for r in dept_board.rows} == {f"B {i}" for i in range(4)}
    auth.login(big_people[0])
    page = client.get("/leaderboard?scope=teams", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in page and "25.0" in page and "My team" in page


def test_without_a_department_my_department_board_is_the_company_board(app, client, auth, factory):
    dept = factory.department("Sales")
    colleague = factory.user("c@example.com", "Colleague Inside", department_id=dept)
    loner = factory.user("l@example.com", "Loner Outside")
    award(app, colleague, "c", 30)
    auth.login(loner)
    page = client.get("/leaderboard?scope=department").get_data(as_text=True)
    assert "Colleague Inside" in page and 'value="company" selected' in page


def test_deactivated_people_leave_the_boards(app, client, auth, users, factory):
    gone = factory.user("gone@example.com", "Gone Person")
    award(app, gone, "g", 99)
    auth.login(users["admin"])
    client.post(f"/admin/users/{gone}/deactivate")
    board = client.get("/leaderboard", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Gone Person" not in board
    client.post(f"/admin/users/{gone}/reactivate")
    board = client.get("/leaderboard", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Gone Person" in board


def test_admins_can_turn_individual_boards_off_and_keep_teams(app, client, auth, users):
    with app.app_context():
        rules.save_rules({"boards": {"individual": False, "teams": True}}, None)
        db.session.commit()
    auth.login(users["employee"])
    page = client.get("/leaderboard?scope=company").get_data(as_text=True)
    assert 'value="company"' not in page and '<option value="teams" selected>' in page


def test_profile_shows_ranks_streak_and_recent_points(app, client, auth, users):
    post_id = make_post(app, "Q3 results")
    auth.login(users["employee"])
    share(client, post_id, "x")
    page = client.get("/me").get_data(as_text=True)
    assert "My rank this month" in page and "<strong>#1</strong> Company" in page
    assert "Current: 1 · longest: 1" in page
    assert "shared “Q3 results” on X" in page
