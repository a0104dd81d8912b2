"""The weekly e-mail digest: Monday 08:xx on each person's clock, once a week, opt-out in one tap.

Every test runs on a fixed clock (``now=``): week 47 of 2026 starts on Monday 16 November, when
08:30 in Warsaw is 07:30 UTC and New York is still at 02:30.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select, update

from app import caches
from app.accounts.models import User
from app.content import services as content
from app.content.models import Post
from app.database import write_intent
from app.extensions import csrf, db
from app.gamification import ledger, streaks
from app.notifications import digest, services
from app.notifications.models import DigestSent
from tests.helpers import mail_text, path_of

MONDAY_WARSAW = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)  # 08:30 in Warsaw, 02:30 in New York
MONDAY_NEW_YORK = datetime(2026, 11, 16, 13, 30, tzinfo=UTC)  # 08:30 in New York, 14:30 in Warsaw
LAST_WEEK = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)  # Wednesday of week 46
CAPTION = "Proud of {first_name}'s team: {title} {link} {hashtags}"


@pytest.fixture(autouse=True)
def fresh_caches(app):
    caches.clear(app)
    yield
    caches.clear(app)


def run(app, now: datetime) -> int:
    """One run of the hourly task at ``now``."""
    with app.app_context(), write_intent():
        return digest.send_due(now)


def post(app, title: str, published: datetime, *, department_id=None, expired=False, captions=True) -> int:
    """A live post published at ``published`` (for everyone, or for one department)."""
    with app.test_request_context(method="POST"):
        data = content.PostData(
            title=title, url=f"https://example.com/{abs(hash(title))}", action="publish", hashtags="#herald",
            captions=[("generic", "A", CAPTION)] if captions else [],
            department_ids=[department_id] if department_id else [],
        )  # fmt: skip
        made = content.create_post(data, None)
        db.session.flush()
        db.session.execute(
            update(Post)
            .where(Post.id == made.id)
            .values(publish_at=published, expire_at=published + timedelta(hours=1) if expired else None)
        )
        db.session.commit()
        return made.id


def award(app, uid: int, points: int, when: datetime, key: str) -> None:
    with app.app_context(), write_intent():
        ledger.award(db.session.get(User, uid), "adjustment", points, key, when=when)
        db.session.commit()


def share_weeks(app, uid: int, *weeks_ago: int) -> None:
    with app.app_context():
        user = db.session.get(User, uid)
        for n in sorted(weeks_ago, reverse=True):
            streaks.record_share(user, MONDAY_WARSAW + timedelta(hours=5) - timedelta(weeks=n))
        db.session.commit()


def to(outbox, email: str) -> list:
    return [m for m in outbox if m["To"] == email]


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def unsubscribe_path(message) -> str:
    match = re.search(r"https?://\S+/digest/unsubscribe/\S+", mail_text(message))
    assert match, mail_text(message)
    return path_of(match.group(0))


def digest_on(app, uid: int) -> bool:
    with app.app_context():
        return services.settings_of(uid).digest


@pytest.fixture
def wanda(factory):
    return factory.user("wanda@example.com", "Wanda Wiśniewska", timezone="Europe/Warsaw")


@pytest.fixture
def ned(factory):
    return factory.user("ned@example.com", "Ned Newman", timezone="America/New_York")


# --- when and to whom ----------------------------------------------------------------------------


def test_the_digest_goes_on_monday_morning_in_warsaw_and_later_in_new_york(app, outbox, wanda, ned):
    assert run(app, MONDAY_WARSAW - timedelta(hours=1)) == 0  # 07:30 in Warsaw: too early
    assert run(app, MONDAY_WARSAW) == 1
    assert [m["To"] for m in outbox] == ["wanda@example.com"]  # New York is at 02:30
    assert run(app, MONDAY_WARSAW + timedelta(hours=1)) == 0  # 09:30 in Warsaw: the hour is over
    assert run(app, MONDAY_NEW_YORK) == 1
    assert [m["To"] for m in outbox] == ["wanda@example.com", "ned@example.com"]
    assert run(app, MONDAY_WARSAW + timedelta(days=1)) == 0  # Tuesday: nobody


def test_the_digest_goes_once_a_week_however_often_the_task_runs(app, outbox, wanda):
    assert run(app, MONDAY_WARSAW) == 1
    assert run(app, MONDAY_WARSAW) == 0
    assert run(app, MONDAY_WARSAW + timedelta(minutes=25)) == 0
    assert len(outbox) == 1
    with app.app_context():
        assert db.session.scalars(select(DigestSent.week).where(DigestSent.user_id == wanda)).all() == ["2026-W47"]
    assert run(app, MONDAY_WARSAW + timedelta(weeks=1)) == 1  # the next Monday: the next week's digest
    assert len(outbox) == 2


def test_a_claim_taken_by_another_run_is_respected(app, outbox, wanda):
    """Two consumers at once: whoever inserts the week's row sends; the other's insert returns nothing."""
    with app.app_context(), write_intent():
        assert digest.claim(wanda, "2026-W47", MONDAY_WARSAW) is True
        assert digest.claim(wanda, "2026-W47", MONDAY_WARSAW) is False
        db.session.commit()
    assert run(app, MONDAY_WARSAW) == 0
    assert outbox == []


def test_opting_out_or_leaving_stops_the_digest(app, outbox, factory, wanda):
    factory.user("gil@example.com", "Gil Gone", timezone="Europe/Warsaw", status="deactivated")
    with app.app_context():
        services.save_settings(wanda, {"digest": False})
        db.session.commit()
    assert run(app, MONDAY_WARSAW) == 0
    assert outbox == []
    with app.app_context():
        services.save_settings(wanda, {"digest": True})
        db.session.commit()
    assert run(app, MONDAY_WARSAW) == 1
    assert [m["To"] for m in outbox] == ["wanda@example.com"]  # not Gil, who has left


# --- what it says --------------------------------------------------------------------------------


def test_the_digest_shows_posts_captions_share_links_points_streak_and_rank(app, outbox, factory, wanda):
    sales = factory.department("Sales")
    rival = factory.user("rita@example.com", "Rita Rival", timezone="UTC")
    recent = [post(app, f"News {n}", MONDAY_WARSAW - timedelta(days=n, hours=1)) for n in range(6)]  # 0..5 days
    post(app, "Old news", MONDAY_WARSAW - timedelta(days=8))
    post(app, "Sales only", MONDAY_WARSAW - timedelta(hours=3), department_id=sales)
    post(app, "Expired", MONDAY_WARSAW - timedelta(days=2), expired=True)
    award(app, wanda, 40, LAST_WEEK, "w1")
    award(app, wanda, 5, LAST_WEEK - timedelta(weeks=1), "w0")
    award(app, rival, 70, LAST_WEEK, "r1")
    share_weeks(app, wanda, 2, 1)
    assert run(app, MONDAY_WARSAW) == 1
    [message] = outbox
    assert message["Subject"] == "Your week on Herald"
    text = mail_text(message)
    page = html.unescape(html_part(message))
    for part in (text, page):
        assert "Hi Wanda," in part
        assert "5 new posts for you this week:" in part
        # The five newest, newest first; not the old, the expired, nor another department's post.
        shown = re.findall(r"News \d", part.split("Your week")[0])
        assert list(dict.fromkeys(shown)) == ["News 0", "News 1", "News 2", "News 3", "News 4"]
        for missing in ("News 5", "Old news", "Sales only", "Expired"):
            assert missing not in part
        assert "Proud of Wanda's team: News 0 #herald" in part  # the suggested caption, filled in for her
        for post_id in recent[:5]:
            assert f"http://localhost/posts/{post_id}?share=1" in part
        assert "Last week you earned 40 points." in part
        assert "Your balance: 45 points." in part
        assert "Your streak: 2 weeks in a row." in part
        assert "Last week’s leaderboard: #2 of 2." in part
        assert "/digest/unsubscribe/" in part
    assert f'href="http://localhost/posts/{recent[0]}?share=1"' in html_part(message)
    url = re.search(r"http://localhost/digest/unsubscribe/\S+", text).group(0)
    assert f'href="{url}"' in html_part(message)
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_quiet_week_still_brings_points_and_streak_and_says_so_kindly(app, outbox, wanda):
    post(app, "Too old", MONDAY_WARSAW - timedelta(days=9))
    award(app, wanda, 1, LAST_WEEK, "w1")
    assert run(app, MONDAY_WARSAW) == 1
    text = mail_text(outbox[0])
    assert "No new posts for you this week. Take a breather" in text
    assert "Last week you earned 1 point." in text and "Your balance: 1 point." in text
    assert "No streak running: share a post to start one." in text
    assert "Last week’s leaderboard: #1 of 1." in text


def test_people_hidden_from_leaderboards_get_no_rank(app, outbox, wanda):
    award(app, wanda, 30, LAST_WEEK, "w1")
    with app.app_context():
        db.session.get(User, wanda).hide_from_leaderboards = True
        db.session.commit()
    assert run(app, MONDAY_WARSAW) == 1
    for part in (mail_text(outbox[0]), html_part(outbox[0])):
        assert "Last week you earned 30 points." in part
        assert "leaderboard" not in part.lower()


def test_a_polish_speaker_gets_the_digest_in_polish(app, outbox, factory):
    ola = factory.user("ola@example.com", "Ola Nowak", timezone="Europe/Warsaw", locale="pl")
    for n in range(3):
        post(app, f"Wieści {n}", MONDAY_WARSAW - timedelta(days=n + 1))
    award(app, ola, 22, LAST_WEEK, "o1")
    award(app, ola, 3, LAST_WEEK - timedelta(weeks=2), "o0")
    share_weeks(app, ola, 3, 2, 1)
    assert run(app, MONDAY_WARSAW) == 1
    [message] = outbox
    assert message["Subject"] == "Twój tydzień w Heraldzie"
    for part in (mail_text(message), html.unescape(html_part(message))):
        assert "Cześć, Ola!" in part
        assert "3 nowe posty dla Ciebie w tym tygodniu:" in part
        assert "Zdobyte w zeszłym tygodniu: 22 punkty." in part
        assert "Twoje saldo: 25 punktów." in part
        assert "Twoja seria: 3 tygodnie z rzędu." in part
        assert "Proponowany tekst:" in part and "Udostępnij w Heraldzie" in part
        assert "Wypisz się z cotygodniowego podsumowania" in part


# --- unsubscribing without signing in ------------------------------------------------------------


def test_the_unsubscribe_link_works_without_a_session(app, outbox, wanda):
    assert run(app, MONDAY_WARSAW) == 1
    path = unsubscribe_path(outbox[0])
    client = app.test_client()  # nobody signed in
    page = client.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Stop the weekly digest?" in body and "wanda@example.com" in body and 'method="post"' in body
    assert digest_on(app, wanda)  # a GET (a mail scanner following links) changes nothing
    done = client.post(path)
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    assert not digest_on(app, wanda)
    assert "The weekly digest is off" in client.get(path).get_data(as_text=True)
    assert run(app, MONDAY_WARSAW + timedelta(weeks=1)) == 0
    assert len(outbox) == 1


def test_one_click_unsubscribe_needs_no_csrf_token_but_only_on_this_view(app, outbox, wanda):
    """RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie and no form token."""
    assert run(app, MONDAY_WARSAW) == 1
    path = unsubscribe_path(outbox[0])
    app.config["WTF_CSRF_ENABLED"] = True
    response = app.test_client().post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not digest_on(app, wanda)
    exempt = {name for name in csrf._exempt_views if name.startswith("app.notifications")}
    assert exempt == {"app.notifications.digest.digest_unsubscribe"}


def _forgeries(app, token: str, wanda: int, other: int) -> dict[str, str]:
    payload, signature = token.rsplit(".", 1)
    genuine_other = digest.unsubscribe_token(other)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return {
        "garbage": "not-a-token",
        "altered signature": f"{payload}.{flipped}",
        "another person's payload, this signature": f"{genuine_other.rsplit('.', 1)[0]}.{signature}",
        "another secret": URLSafeSerializer("some-other-secret-that-is-long-enough", salt=digest.SALT).dumps(
            {"u": wanda}
        ),
        "another salt": URLSafeSerializer(app.config["SECRET_KEY"], salt="herald.other").dumps({"u": wanda}),
        "not a person": URLSafeSerializer(app.config["SECRET_KEY"], salt=digest.SALT).dumps({"u": "1"}),
        "cut short": token[:-6],
    }


def test_a_forged_or_altered_token_is_refused_and_changes_nothing(app, factory, wanda):
    other = factory.user("otto@example.com", "Otto Other", timezone="Europe/Warsaw")
    with app.app_context():
        token = digest.unsubscribe_token(wanda)
        forgeries = _forgeries(app, token, wanda, other)
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    for name, forged in forgeries.items():
        for method in ("GET", "POST"):
            response = client.open(f"/digest/unsubscribe/{forged}", method=method)
            assert response.status_code == 400, (name, method)
            body = response.get_data(as_text=True)
            assert "This unsubscribe link is not valid" in body, name
            assert "Nothing was changed." in body
            assert "wanda@example.com" not in body and "otto@example.com" not in body
    assert digest_on(app, wanda) and digest_on(app, other)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(digest.NotificationSettings)) == 0


def test_the_unsubscribe_page_speaks_the_language_of_the_e_mail(app, factory):
    ola = factory.user("ola@example.com", "Ola Nowak", timezone="Europe/Warsaw", locale="pl")
    with app.app_context():
        path = f"/digest/unsubscribe/{digest.unsubscribe_token(ola)}"
    client = app.test_client()
    body = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="pl">' in body and "Wyłączyć cotygodniowe podsumowanie?" in body
    assert "Podsumowanie wyłączone" in client.post(path).get_data(as_text=True)
    assert not digest_on(app, ola)
    refused = client.get("/digest/unsubscribe/x.y", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert "Ten link do wypisania się jest nieprawidłowy" in refused
