"""Kudos: messages and allowance points between colleagues, guards under concurrency, the wall, shout-outs, settings."""

from __future__ import annotations

import html
import threading
from datetime import UTC, datetime

import pytest
from flask import render_template
from sqlalchemy import func, select

from app import caches, events
from app.accounts.models import User
from app.audit import AuditEntry
from app.database import write_intent
from app.extensions import db
from app.gamification import rules
from app.gamification.models import PointEntry, UserStats
from rewards import kudos
from rewards.models import Kudos, KudosAllowance, KudosPair
from tests.helpers import balance, ledger_sum


@pytest.fixture(autouse=True)
def fresh_rules(app):
    caches.clear(app)
    yield
    caches.clear(app)


@pytest.fixture
def people(factory, users):
    """The ``users`` plus two colleagues to thank."""
    return {
        **users,
        "ana": factory.user("ana@example.com", "Ana Nowak"),
        "bo": factory.user("bo@example.com", "Bo Berg"),
    }


def send(client, to, message="Thanks for the help!", points="", key=None):
    data = {"recipient": to, "message": message, "points": str(points)}
    if key:
        data["key"] = key
    return client.post("/kudos", data=data)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def given(app, user_id) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.sum(KudosAllowance.given), 0)).where(
            KudosAllowance.user_id == user_id))  # fmt: skip


def all_kudos(app) -> list[tuple]:
    with app.app_context():
        return [
            (k.sender_id, k.recipient_id, k.message, k.points, k.shoutout)
            for k in db.session.scalars(select(Kudos).order_by(Kudos.id))
        ]


def configure(app, admin_id, **values):
    with app.app_context():
        kudos.save_settings({**kudos.DEFAULT_SETTINGS, **values}, db.session.get(User, admin_id))
        db.session.commit()


# --- sending ----------------------------------------------------------------------------------------------------


def test_kudos_without_points_reaches_the_wall_and_the_profile(app, client, auth, people):
    received = []

    def on_kudos(sender, kudos, **_):
        received.append((kudos.recipient_id, kudos.message))

    auth.login(people["employee"])
    with events.kudos_received.connected_to(on_kudos):
        response = send(client, "ana@example.com", "You saved the launch")
    assert response.status_code == 302
    assert "Kudos sent to Ana Nowak." in text_of(client.get("/kudos"))
    assert received == [(people["ana"], "You saved the launch")]
    assert all_kudos(app) == [(people["employee"], people["ana"], "You saved the launch", 0, False)]
    assert ledger_sum(app, people["ana"]) == 0 and given(app, people["employee"]) == 0
    with app.app_context():
        assert db.session.get(UserStats, people["ana"]).kudos_received == 1
        assert [k.message for k in kudos.received_for(people["ana"])] == ["You saved the launch"]
    page = text_of(client.get("/kudos"))
    assert "Erin Employee" in page and "Ana Nowak" in page and "You saved the launch" in page


def test_kudos_with_points_go_through_the_ledger_to_the_recipient(app, client, auth, people):
    auth.login(people["employee"])
    response = send(client, "ana@example.com", "Great demo", 15)
    assert response.status_code == 302
    # The recipient's points are not the sender's: no "+15 points" toast for the sender.
    assert "HX-Trigger" not in response.headers
    assert "Kudos and 15 points sent to Ana Nowak." in text_of(client.get("/kudos"))
    assert balance(app, people["ana"]) == ledger_sum(app, people["ana"]) == 15
    assert balance(app, people["employee"]) == 0 and given(app, people["employee"]) == 15
    with app.app_context():
        entry = db.session.scalar(select(PointEntry).where(PointEntry.user_id == people["ana"]))
        assert entry.reason == "kudos" and entry.params == {"from": "Erin Employee"}
    assert "You have 35 points left to give this month." in text_of(client.get("/kudos"))
    auth.login(people["ana"])
    assert "kudos from Erin Employee" in text_of(client.get("/me/points"))


def test_kudos_can_be_sent_by_exact_name_as_well_as_e_mail(app, client, auth, people, factory):
    auth.login(people["employee"])
    assert send(client, "ana nowak").status_code == 302
    factory.user("bo2@example.com", "Bo Berg")
    response = send(client, "Bo Berg")
    assert response.status_code == 400 and "type their e-mail address instead" in text_of(response)
    assert [k[1] for k in all_kudos(app)] == [people["ana"]]


def test_kudos_to_yourself_are_refused(app, client, auth, people):
    auth.login(people["employee"])
    for points in ("", 5):
        response = send(client, "employee@example.com", "Me, myself", points)
        assert response.status_code == 400
        assert "You can't send kudos to yourself." in text_of(response)
    assert all_kudos(app) == [] and given(app, people["employee"]) == 0


@pytest.mark.parametrize(
    ("recipient", "message", "points", "expected"),
    [
        ("nobody@example.com", "Hi", "", "Nobody active in Herald matches"),
        ("", "Hi", "", "Choose a colleague"),
        ("ana@example.com", "   ", "", "Write a short message"),
        ("ana@example.com", "x" * 281, "", "Keep the message to 280 characters or fewer"),
        ("ana@example.com", "Hi", "21", "Give from 0 to 20 points."),
        ("ana@example.com", "Hi", "-1", "Give from 0 to 20 points."),
        ("ana@example.com", "Hi", "ten", "Points must be a whole number."),
    ],
)
def test_invalid_kudos_say_why_and_keep_what_was_typed(app, client, auth, people, recipient, message, points,
                                                       expected):  # fmt: skip
    auth.login(people["employee"])
    response = send(client, recipient, message, points)
    page = text_of(response)
    assert response.status_code == 400 and expected in page
    assert 'aria-invalid="true"' in page
    if message.strip():
        assert message in page
    assert all_kudos(app) == []


def test_a_message_of_exactly_280_characters_is_fine(app, client, auth, people):
    auth.login(people["employee"])
    assert send(client, "ana@example.com", "y" * 280).status_code == 302


def test_deactivated_colleagues_cannot_receive_kudos(app, client, auth, people, factory):
    factory.user("gone@example.com", "Gone Person", status="deactivated")
    auth.login(people["employee"])
    response = send(client, "gone@example.com")
    assert response.status_code == 400 and "Nobody active in Herald matches" in text_of(response)


def test_allowance_exceeded_is_refused_with_what_is_left_and_nothing_changes(app, client, auth, people, factory):
    carl = factory.user("carl@example.com", "Carl Cruz")
    auth.login(people["employee"])
    assert send(client, "ana@example.com", "One", 20).status_code == 302
    assert send(client, "bo@example.com", "Two", 20).status_code == 302
    response = send(client, "carl@example.com", "Three", 20)
    assert response.status_code == 409
    assert "You have 10 points left to give this month." in text_of(response)
    assert "Three" in text_of(response)  # the message is kept for a second try
    assert len(all_kudos(app)) == 2 and given(app, people["employee"]) == 40
    assert balance(app, carl) == ledger_sum(app, carl) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(KudosPair).where(KudosPair.high_id == carl)) == 0
        assert db.session.get(UserStats, carl) is None
    assert send(client, "carl@example.com", "Three", 10).status_code == 302
    assert given(app, people["employee"]) == 50 and balance(app, carl) == 10
    response = send(client, "carl@example.com", "Four", 1)
    assert "You have 0 points left to give this month." in text_of(response)
    assert send(client, "carl@example.com", "Words still work").status_code == 302


def test_pair_limit_counts_both_directions(app, client, auth, people):
    auth.login(people["employee"])
    assert send(client, "ana@example.com", "1", 1).status_code == 302
    assert send(client, "ana@example.com", "2", 1).status_code == 302
    auth.login(people["ana"])
    assert send(client, "employee@example.com", "3", 1).status_code == 302
    refused = send(client, "employee@example.com", "4", 1)
    assert refused.status_code == 409
    assert "You have already sent 3 kudos with points between you and Erin Employee this month." in text_of(refused)
    auth.login(people["employee"])
    refused = send(client, "ana@example.com", "5", 1)
    assert "You have already sent 3 kudos with points between you and Ana Nowak this month." in text_of(refused)
    assert given(app, people["employee"]) == 2  # the refused kudos gave nothing back or away
    assert send(client, "ana@example.com", "Thanks without points").status_code == 302
    assert send(client, "bo@example.com", "Someone else is fine", 1).status_code == 302
    assert balance(app, people["ana"]) == ledger_sum(app, people["ana"]) == 2
    assert balance(app, people["employee"]) == ledger_sum(app, people["employee"]) == 1


def test_a_double_submit_with_one_key_makes_one_kudos(app, client, auth, people):
    auth.login(people["employee"])
    page = client.get("/kudos").get_data(as_text=True)
    assert 'name="key" value="' in page
    first = send(client, "ana@example.com", "Thanks", 10, key="double-tap-key-1")
    second = send(client, "ana@example.com", "Thanks", 10, key="double-tap-key-1")
    assert first.status_code == second.status_code == 302
    assert len(all_kudos(app)) == 1
    assert balance(app, people["ana"]) == ledger_sum(app, people["ana"]) == 10
    assert given(app, people["employee"]) == 10
    # A new rendering of the form carries a new key: a second kudos is a second kudos.
    assert send(client, "ana@example.com", "Thanks again", 10, key="double-tap-key-2").status_code == 302
    assert len(all_kudos(app)) == 2


def _in_threads(app, count, work):
    """Run ``work(n)`` in ``count`` threads released together; returns (outcomes, unexpected errors)."""
    barrier = threading.Barrier(count)
    outcomes, errors = [], []

    def run(n):
        try:
            with app.app_context(), write_intent():
                barrier.wait()
                try:
                    work(n)
                    db.session.commit()
                    outcomes.append("sent")
                except kudos.KudosError as exc:
                    db.session.rollback()
                    outcomes.append(str(exc))
                finally:
                    db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, errors


def test_concurrent_double_submits_make_one_kudos(app, people):
    def work(n):
        sender, recipient = db.session.get(User, people["employee"]), db.session.get(User, people["ana"])
        kudos.send(sender, recipient, "Thanks", 5, "same-key-from-the-form")

    outcomes, errors = _in_threads(app, 10, work)
    assert errors == [] and outcomes == ["sent"] * 10
    assert len(all_kudos(app)) == 1
    assert balance(app, people["ana"]) == ledger_sum(app, people["ana"]) == 5
    assert given(app, people["employee"]) == 5
    with app.app_context():
        assert db.session.scalar(select(KudosPair.count)) == 1
        assert db.session.get(UserStats, people["ana"]).kudos_received == 1


def test_twenty_threads_never_give_more_than_the_allowance(app, factory, users):
    sender_id = factory.user("giver@example.com", "Gia Giver")
    recipients = [factory.user(f"r{n}@example.com", f"Recipient {n}") for n in range(20)]

    def work(n):
        sender, recipient = db.session.get(User, sender_id), db.session.get(User, recipients[n])
        kudos.send(sender, recipient, f"Thanks {n}", 7, f"thread-key-{n:04d}")

    outcomes, errors = _in_threads(app, 20, work)
    assert errors == []
    assert outcomes.count("sent") == 7  # 7 x 7 = 49 of 50
    assert set(outcomes) - {"sent"} == {"You have 1 point left to give this month."}
    assert given(app, sender_id) == 49 <= kudos.DEFAULT_SETTINGS["monthly_allowance"]
    sent = all_kudos(app)
    assert len(sent) == 7 and sum(k[3] for k in sent) == 49
    for recipient in recipients:
        expected = sum(k[3] for k in sent if k[1] == recipient)
        assert balance(app, recipient) == ledger_sum(app, recipient) == expected


def test_points_the_recipient_cannot_receive_today_are_not_taken(app, client, auth, people):
    with app.app_context():
        rules.save_rules({"caps": {"total": {"points": 5}}}, None)
        db.session.commit()
    auth.login(people["employee"])
    response = send(client, "ana@example.com", "Big thanks", 10)
    assert response.status_code == 409 and "Ana Nowak has reached today's points limit" in text_of(response)
    assert all_kudos(app) == [] and given(app, people["employee"]) == 0
    assert balance(app, people["ana"]) == 0


def test_the_month_is_the_senders_local_month(app, factory):
    uid = factory.user("kiwi@example.com", "Kiri Kiwi", timezone="Pacific/Auckland")
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # already 1 December in Auckland
    with app.app_context():
        user = db.session.get(User, uid)
        assert kudos.month_of(user, when) == "2026-12"
        user.timezone = "America/Los_Angeles"
        assert kudos.month_of(user, datetime(2026, 12, 1, 5, 0, tzinfo=UTC)) == "2026-11"


# --- the wall, the picker, the profile ----------------------------------------------------------------------------


def test_the_wall_escapes_what_people_type(app, client, auth, people, factory):
    factory.user("evil@example.com", "<b>Mallory</b>")
    auth.login(people["employee"])
    send(client, "evil@example.com", "<script>alert('kudos')</script><img src=x onerror=alert(1)>")
    body = client.get("/kudos").get_data(as_text=True)
    assert "<script>alert(" not in body and "<img src=x" not in body and "<b>Mallory</b>" not in body
    assert "&lt;script&gt;alert(" in body and "&lt;b&gt;Mallory&lt;/b&gt;" in body


def test_the_wall_is_newest_first_and_loads_more_with_htmx(app, client, auth, people):
    with app.app_context():
        sender, recipient = db.session.get(User, people["employee"]), db.session.get(User, people["ana"])
        for n in range(25):
            kudos.send(sender, recipient, f"Message number {n:02d}", 0, f"wall-key-{n:04d}")
        db.session.commit()
    auth.login(people["bo"])
    page = client.get("/kudos").get_data(as_text=True)
    assert page.count('<li class="row" id="kudos-') == 20
    assert page.index("Message number 24") < page.index("Message number 05")
    assert "Message number 04" not in page
    more = page.split('class="loading-more"')[1].split('hx-get="')[1].split('"')[0]
    rest = client.get(html.unescape(more), headers={"HX-Request": "true"})
    text = rest.get_data(as_text=True)
    assert "<html" not in text and "Message number 04" in text and "Message number 00" in text
    assert "Message number 05" not in text and "loading-more" not in text
    assert rest.headers["Vary"] and "HX-Request" in rest.headers["Vary"]
    # Without JavaScript the same link is a full page.
    assert "<html" in client.get(html.unescape(more)).get_data(as_text=True)


def test_people_search_offers_active_colleagues(app, client, auth, people, factory):
    factory.user("ann.other@example.com", "Annika Other", status="deactivated")
    for n in range(12):
        factory.user(f"team{n}@example.com", f"Teammate {n:02d}")
    auth.login(people["employee"])
    options = client.get("/kudos/people?q=an").get_data(as_text=True)
    assert 'value="ana@example.com"' in options and "Ana Nowak" in options
    assert "Annika" not in options  # deactivated
    assert client.get("/kudos/people?q=team").get_data(as_text=True).count("<option") == 10
    assert client.get("/kudos/people?recipient=bo%40").get_data(as_text=True).count("<option") == 1  # htmx's name
    assert "employee@example.com" not in client.get("/kudos/people?q=erin").get_data(as_text=True)  # not myself
    assert "<option" not in client.get("/kudos/people?q=a").get_data(as_text=True)  # too short to search
    assert "<option" not in client.get("/kudos/people?q=%25").get_data(as_text=True)  # wildcards are literal


def test_received_kudos_partial_for_the_profile(app, people):
    with app.app_context():
        sender, recipient = db.session.get(User, people["employee"]), db.session.get(User, people["ana"])
        for n in range(7):
            kudos.send(sender, recipient, f"Kudos {n}", 0, f"profile-key-{n:04d}")
        db.session.commit()
    with app.test_request_context():
        received = kudos.received_for(people["ana"])
        assert [k.message for k in received] == [f"Kudos {n}" for n in (6, 5, 4, 3, 2)]
        page = render_template("rewards/_kudos_received.html", kudos_received=received)
        empty = render_template("rewards/_kudos_received.html", kudos_received=[])
    assert "Kudos 6" in page and "Kudos 1" not in page and "Erin Employee" in page
    assert "No kudos yet" in empty


# --- admins: shout-outs and settings ------------------------------------------------------------------------------


def test_admin_shout_out_is_highlighted_and_its_points_are_not_from_the_allowance(app, client, auth, people):
    auth.login(people["admin"])
    page = client.get("/admin/kudos")
    assert page.status_code == 200
    response = client.post("/admin/kudos", data={"form": "shoutout", "recipient": "bo@example.com",
                                                 "message": "Bo closed the year's biggest deal", "points": "100",
                                                 "key": "shoutout-key-1"})  # fmt: skip
    assert response.status_code == 302
    assert all_kudos(app) == [(people["admin"], people["bo"], "Bo closed the year's biggest deal", 100, True)]
    assert balance(app, people["bo"]) == ledger_sum(app, people["bo"]) == 100
    assert given(app, people["admin"]) == 0
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == people["bo"])) == (
            "kudos.shoutout"
        )
    auth.login(people["employee"])
    wall = text_of(client.get("/kudos"))
    assert "Shout-out" in wall and "Bo closed the year's biggest deal" in wall and "+100 points" in wall


def test_shout_out_mistakes_are_explained(app, client, auth, people):
    auth.login(people["admin"])
    response = client.post("/admin/kudos", data={"form": "shoutout", "recipient": "admin@example.com",
                                                 "message": "Me", "key": "shoutout-key-2"})  # fmt: skip
    assert response.status_code == 400 and "You can't send kudos to yourself." in text_of(response)
    assert all_kudos(app) == []


def test_employees_cannot_reach_the_kudos_admin(app, client, auth, people):
    assert client.get("/admin/kudos").status_code == 302  # anonymous: sign in first
    assert client.get("/kudos").status_code == 302
    auth.login(people["employee"])
    assert client.get("/admin/kudos").status_code == 403
    response = client.post("/admin/kudos", data={"form": "shoutout", "recipient": "ana@example.com",
                                                 "message": "Self-made shout-out", "points": "1000"})  # fmt: skip
    assert response.status_code == 403
    assert client.post("/admin/kudos", data={"monthly_allowance": "100000"}).status_code == 403
    assert all_kudos(app) == [] and balance(app, people["ana"]) == 0
    assert "Shout-outs and kudos settings" not in client.get("/kudos").get_data(as_text=True)


def test_settings_change_applies_and_is_audited(app, client, auth, people):
    auth.login(people["admin"])
    bad = client.post("/admin/kudos", data={"form": "settings", "monthly_allowance": "-1", "max_points_per_kudos": "5",
                                            "pair_limit": "1"})  # fmt: skip
    assert bad.status_code == 400 and "Use whole numbers" in text_of(bad)
    response = client.post("/admin/kudos", data={"form": "settings", "monthly_allowance": "8",
                                                 "max_points_per_kudos": "5", "pair_limit": "1"})  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        assert kudos.get_settings() == {"monthly_allowance": 8, "max_points_per_kudos": 5, "pair_limit": 1}
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "kudos.settings"))
        assert entry.actor_id == people["admin"]
        assert entry.detail["before"] == kudos.DEFAULT_SETTINGS and entry.detail["after"]["monthly_allowance"] == 8
    auth.login(people["employee"])
    assert "You have 8 points left to give this month." in text_of(client.get("/kudos"))
    assert "Give from 0 to 5 points." in text_of(send(client, "ana@example.com", "Too many", 6))
    assert send(client, "ana@example.com", "One", 5).status_code == 302
    assert "between you and Ana Nowak" in text_of(send(client, "ana@example.com", "Two", 1))  # pair limit 1
    assert "You have 3 points left" in text_of(send(client, "bo@example.com", "Three", 4))
    assert send(client, "bo@example.com", "Three", 3).status_code == 302


def test_lowering_the_allowance_mid_month_leaves_nothing_to_give(app, client, auth, people):
    auth.login(people["employee"])
    assert send(client, "ana@example.com", "Early", 20).status_code == 302
    configure(app, people["admin"], monthly_allowance=10)
    assert "You have 0 points left to give this month." in text_of(send(client, "bo@example.com", "Late", 1))
    assert balance(app, people["ana"]) == 20
