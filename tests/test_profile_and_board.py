"""The Me page's badge progress and plural forms, and what the leaderboard's podium may show of a person."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from app.accounts.models import User
from app.database import write_intent
from app.extensions import db
from app.gamification import badges, leaderboard, periods
from app.gamification.models import Streak, UserStats
from app.timeutil import utcnow
from tests.helpers import give_points


def set_streak(app, user_id: int, current: int, longest: int | None = None) -> None:
    """A weekly streak of ``current`` weeks whose last share is this week."""
    with app.app_context(), write_intent():
        user = db.session.get(User, user_id)
        week = periods.streak_key(utcnow(), user.timezone, "weekly")
        streak = db.session.get(Streak, user_id) or Streak(user_id=user_id)
        streak.period, streak.current, streak.longest, streak.last_key = "weekly", current, longest or current, week
        db.session.add(streak)
        db.session.commit()


def by_code(entries: list[dict]) -> dict[str, dict]:
    return {entry["badge"].code: entry for entry in entries}


def test_locked_badges_show_progress_from_the_counters_the_awards_read(app, factory):
    uid = factory.user("p@example.com", "Pat Progress")
    give_points(app, uid, 40)
    set_streak(app, uid, current=2, longest=5)
    with app.app_context(), write_intent():
        db.session.add(UserStats(user_id=uid, shares=7, unique_clicks=250, surveys_completed=1))
        db.session.flush()
        badges.evaluate(uid, ("shares", "unique_clicks", "streak", "surveys_completed"))
        db.session.commit()
        assert badges.progress_values(uid)["streak"] == 5  # the longer of the current and the longest run
        entries = by_code(badges.profile(uid))
    assert entries["first-share"]["earned_at"] is not None and entries["first-share"]["progress"] is None
    assert entries["shares-10"]["progress"] == {"value": 7, "threshold": 10, "label": "7/10 shares"}
    assert entries["shares-50"]["progress"]["label"] == "7/50 shares"
    assert entries["clicks-100"]["earned_at"] is not None
    assert entries["clicks-1000"]["progress"]["label"] == "250/1000 unique clicks"
    assert entries["streak-4"]["earned_at"] is not None
    assert entries["streak-12"]["progress"]["label"] == "5/12 in a row"
    assert entries["surveys-5"]["progress"]["label"] == "1/5 surveys"
    assert entries["top10-month"]["progress"] is None  # the monthly task grants it: no counter to show
    assert entries["first-suggestion"]["progress"]["label"] == "0/1 approved suggestion"


def test_progress_labels_never_pass_the_threshold_and_count_lifetime_points(app, factory, client, auth):
    uid = factory.user("l@example.com", "Lou Lifetime")
    with app.app_context(), write_intent():
        badges.create_custom("Big earner", "", "lifetime_points", 500)
        badges.create_custom("Talker", "", "comments", 2)
        db.session.add(UserStats(user_id=uid, comments=1))
        db.session.commit()
    give_points(app, uid, 120)
    with app.app_context():
        entries = {e["name"]: e for e in badges.profile(uid)}
        assert badges.progress_label("shares", 12, 10) == "10/10 shares"
    assert entries["Big earner"]["progress"]["label"] == "120/500 points"
    assert entries["Talker"]["progress"]["label"] == "1/2 comments"
    auth.login(uid)
    page = client.get("/me").get_data(as_text=True)
    assert '<progress max="500" value="120" aria-hidden="true"></progress>' in page
    assert "120/500 points" in page and 'href="#badge-star"' in page  # a custom badge's icon


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [(1, "1 tydzień z rzędu"), (2, "2 tygodnie z rzędu"), (5, "5 tygodni z rzędu"), (22, "22 tygodnie z rzędu")],
)
def test_the_streak_on_the_me_page_uses_the_three_polish_plural_forms(app, client, auth, factory, weeks, expected):
    uid = factory.user("ola@example.com", "Ola Nowak", locale="pl")
    set_streak(app, uid, weeks)
    auth.login(uid)
    page = client.get("/me").get_data(as_text=True)
    streak = re.search(r'<section class="stat card streak-card.*?</section>', page, re.S)
    assert streak, "no streak on the Me page"
    assert f"<span>{expected}</span>" in streak.group(0)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "1/1 udostępnienie"), (2, "2/2 udostępnienia"), (5, "5/5 udostępnień"), (22, "7/22 udostępnienia")],
)
def test_badge_progress_uses_the_three_polish_plural_forms(app, count, expected):
    with app.test_request_context(), force_locale("pl"):
        assert badges.progress_label("shares", 7, count) == expected  # seven shares, capped at the threshold


def test_english_plurals_on_the_me_page(app, client, auth, factory):
    uid = factory.user("e@example.com", "Eve English")
    give_points(app, uid, 1)
    set_streak(app, uid, 1)
    auth.login(uid)
    page = client.get("/me").get_data(as_text=True)
    assert "<span>1 week in a row</span>" in page and "1 point earned in all" in page
    set_streak(app, uid, 2)
    give_points(app, uid, 1)
    page = client.get("/me").get_data(as_text=True)
    assert "<span>2 weeks in a row</span>" in page and "2 points earned in all" in page


def test_the_podium_never_shows_a_hidden_persons_photo_or_initials(app, client, auth, factory):
    shy = factory.user("shy@example.com", "Shy Person")
    me = factory.user("me@example.com", "Me Myself")
    with app.app_context(), write_intent():
        user = db.session.get(User, shy)
        user.hide_from_leaderboards, user.avatar_path = True, "avatars/shy.webp"
        db.session.commit()
    give_points(app, shy, 50)
    give_points(app, me, 10)
    with app.app_context():
        board = leaderboard.standings("week", "company", db.session.get(User, me))
    assert [(r.hidden, r.avatar_path) for r in board.rows] == [(True, None), (False, None)]
    auth.login(me)
    page = client.get("/leaderboard").get_data(as_text=True)
    assert "shy.webp" not in page and 'data-initials="SP"' not in page and 'data-initials="?"' in page
    assert 'class="row step1"' in page and 'class="row step2 mine"' in page and 'data-initials="MM"' in page
