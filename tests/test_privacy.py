"""Exports that are safe to open in a spreadsheet, and a person's data on request: export and erasure."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app import exports
from app.accounts.models import User
from app.audit import AuditEntry
from app.content.models import Comment, Post
from app.database import write_intent
from app.extensions import db
from app.gamification import ledger
from app.gamification.models import DepartmentScore, PeriodScore, PointBalance, PointEntry
from app.privacy import services as privacy
from rewards import services as rewards
from rewards.models import Kudos, Redemption, Reward, RewardVariant, SavedAddress
from tests.helpers import make_reward

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
PASSWORD = "correct horse battery"
ADDRESS = {"name": "Erin Example", "line1": "Main St 1", "line2": "Flat 4", "postcode": "00-001", "city": "Warsaw",
           "country": "Poland", "phone": "555 0100"}  # fmt: skip
# Text only Erin typed or that names her: none of it may remain anywhere after erasure.
ERIN_TRACES = ("Erin Example", "erin@example.com", "Main St 1", "Flat 4", "555 0100", "Great quarter, Erin here",
               "Thanks for the demo, Bo", "Erin suggests this", "Well done Erin")  # fmt: skip


def read_csv(body: bytes) -> list[dict]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel opens UTF-8 as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def open_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(response.data))


def _give_points(app, user_id, points, admin_id):
    with app.test_request_context(method="POST"), write_intent():
        actor = db.session.get(User, admin_id)
        ledger.adjust(db.session.get(User, user_id), points, "Welcome bonus", actor, f"seed:{user_id}")
        db.session.commit()


def _redeem(app, user_id, reward_id, address=ADDRESS) -> int:
    with app.test_request_context(method="POST"), write_intent():
        reward = db.session.get(Reward, reward_id)
        redemption, created = rewards.redeem(db.session.get(User, user_id), reward, f"redeem-key-{user_id}-{reward_id}",
                                             variant_id=reward.variants[0].id, address=address)  # fmt: skip
        assert created
        db.session.commit()
        return redemption.id


# --- item 6: every export neutralises formula cells ----------------------------------------------------------


@pytest.mark.parametrize("trigger", TRIGGERS, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_shipping_orders_csv_neutralises_each_formula_trigger(app, client, auth, users, trigger):
    """An address typed as a formula arrives in the vendor's spreadsheet as text."""
    street = trigger + 'HYPERLINK("http://evil.example/","click")'
    recipient = trigger + "cmd|' /C calc'!A0"
    _give_points(app, users["employee"], 50, users["admin"])
    redemption_id = _redeem(app, users["employee"], make_reward(app, title="Hoodie"))
    with app.app_context():  # stored as-is (an import or an older version could hold tab or CR first)
        db.session.get(Redemption, redemption_id).shipping = {**ADDRESS, "line1": street, "name": recipient}
        db.session.commit()
    auth.login(users["admin"])
    assert client.post(f"/admin/redemptions/{redemption_id}", data={"action": "approved"}).status_code == 302
    response = client.get("/admin/redemptions/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    [row] = read_csv(response.data)
    assert row["street"] == "'" + street
    assert row["recipient"] == "'" + recipient
    assert row["city"] == "Warsaw" and row["postcode"] == "00-001"  # ordinary cells are untouched
    assert row["order"] == str(redemption_id)


def test_shipping_orders_typed_in_the_redeem_form_are_neutralised(app, client, auth, users):
    """The whole way: an employee types the formula into the form, the admin downloads the CSV."""
    _give_points(app, users["employee"], 50, users["admin"])
    reward_id = make_reward(app, title="Hoodie")
    auth.login(users["employee"])
    page = client.get(f"/rewards/{reward_id}").get_data(as_text=True)
    key = page.split('name="key" value="')[1].split('"')[0]
    with app.app_context():
        variant_id = db.session.scalar(select(RewardVariant.id).where(RewardVariant.reward_id == reward_id))
    form = {**ADDRESS, "line1": "=1+2", "line2": "@SUM(A1)", "phone": "+48 555 0100"}
    response = client.post(f"/rewards/{reward_id}/redeem",
                           data={"key": key, "variant_id": variant_id, "delivery": "ship", **form})  # fmt: skip
    assert response.status_code == 302
    auth.login(users["admin"])
    redemption_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert client.post(f"/admin/redemptions/{redemption_id}", data={"action": "approved"}).status_code == 302
    [row] = read_csv(client.get("/admin/redemptions/export.csv").data)
    assert (row["street"], row["street2"], row["phone"]) == ("'=1+2", "'@SUM(A1)", "'+48 555 0100")


def test_xlsx_export_stores_formula_text_as_text_and_numbers_as_numbers():
    columns = ["text", "count"]
    rows = [[t + "1+1", -5] for t in TRIGGERS] + [{"text": "plain", "count": 3}]
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(columns, rows)))
    cells = list(book.active.iter_rows(values_only=False))
    assert [c.value for c in cells[0]] == columns
    for trigger, (text, count) in zip(TRIGGERS, cells[1:], strict=False):
        # XML reads a carriage return back as a line feed; the leading ' is what matters.
        assert text.value == ("'" + trigger + "1+1").replace("\r", "\n") and text.data_type == "s"
        assert count.value == -5 and count.data_type == "n"
    assert [c.value for c in cells[-1]] == ["plain", 3]


@pytest.mark.parametrize(("title", "sheet"), [("Caption A/B tests", "Caption A B tests"), ("[x]: *?", "x"),
                                              ("", "Export"), ("A" * 40, "A" * 31)])  # fmt: skip
def test_an_xlsx_sheet_takes_any_table_title(title, sheet):
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(["a"], [[1]], sheet=title)))
    assert book.active.title == sheet


def test_csv_export_keeps_numbers_and_neutralises_only_text():
    rows = read_csv(exports.csv_bytes(["a", "b"], [["-cmd", -7], ["ok", None]]))
    assert rows == [{"a": "'-cmd", "b": "-7"}, {"a": "ok", "b": ""}]


def test_the_import_template_comes_from_the_export_writer_and_imports_as_is(app, client, auth, users):
    auth.login(users["admin"])
    response = client.get("/admin/users/import/template.csv")
    assert response.mimetype == "text/csv" and "herald-employees.csv" in response.headers["Content-Disposition"]
    assert [row["email"] for row in read_csv(response.data)] == ["ada@example.com", "grace@example.com"]
    upload = {"file": (io.BytesIO(response.data), "herald-employees.csv")}
    assert client.post("/admin/users/import", data=upload, content_type="multipart/form-data").status_code == 200
    with app.app_context():
        grace = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        assert grace.display_name == "Grace Hopper" and grace.roles == {"employee", "admin"}


# --- item 7: a person's data -----------------------------------------------------------------------------------


@pytest.fixture
def erin(app, factory, users, client, auth):
    """Erin with a history in every feature: shares, a click, points, an order, kudos, a comment, a suggestion."""
    from app.content import engagement, services, sharing
    from rewards import kudos

    sales = factory.department("Sales")
    erin_id = factory.user("erin@example.com", "Erin Example", password=PASSWORD, department_id=sales)
    bo_id = factory.user("bo@example.com", "Bo Builder", department_id=sales)
    media = Path(app.config["MEDIA_ROOT"]) / "avatars"
    media.mkdir(parents=True, exist_ok=True)
    (media / "erin.webp").write_bytes(b"RIFF0000WEBPerin")
    with app.test_request_context(method="POST"), write_intent():
        erin, bo = db.session.get(User, erin_id), db.session.get(User, bo_id)
        admin = db.session.get(User, users["admin"])
        erin.avatar_path = "avatars/erin.webp"
        campaign = services.create_campaign("Launch", "share", "shares", 10, None)
        post = services.create_post(
            services.PostData(title="Q3 results", url="https://example.com/q3", action="publish",
                              campaign_id=campaign.id), admin)  # fmt: skip
        link = sharing.share_post(post, erin, "linkedin").link
        sharing.share_post(post, bo, "x")
        engagement.toggle_like(post, erin)
        engagement.add_comment(post, erin, "Great quarter, Erin here")
        engagement.add_comment(post, bo, "Agreed")
        engagement.suggest(erin, "https://example.com/idea", "Erin suggests this")
        db.session.commit()
        kudos.send(erin, bo, "Thanks for the demo, Bo", 5, "kudos-erin-to-bo-1")
        kudos.send(bo, erin, "Well done Erin", 3, "kudos-bo-to-erin-1")
        db.session.commit()
        post_id, code = post.id, link.rsplit("/", 1)[1]
    app.test_client().get(f"/r/{code}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"},
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})  # fmt: skip
    app.extensions["herald_redirects"].flusher.flush()
    _give_points(app, erin_id, 100, users["admin"])
    redemption_id = _redeem(app, erin_id, make_reward(app, title="Hoodie"))
    return {"id": erin_id, "bo": bo_id, "post": post_id, "code": code, "redemption": redemption_id}


def _figures(app, *user_ids) -> dict:
    """Every number erasure must keep: balances and ledger sums, board scores, post and team counters."""
    with app.app_context():
        out = {}
        for uid in user_ids:
            bal = db.session.get(PointBalance, uid)
            out[uid] = {
                "balance": bal.balance,
                "lifetime": bal.lifetime,
                "ledger": db.session.scalar(select(func.sum(PointEntry.delta)).where(PointEntry.user_id == uid)),
                "entries": db.session.scalar(select(func.count()).where(PointEntry.user_id == uid)),
                "scores": sorted(
                    db.session.execute(
                        select(PeriodScore.period, PeriodScore.period_key, PeriodScore.points).where(
                            PeriodScore.user_id == uid
                        )
                    ).all()
                ),
            }
        out["departments"] = sorted(
            db.session.execute(select(DepartmentScore.period, DepartmentScore.period_key, DepartmentScore.points)).all()
        )
        out["posts"] = db.session.execute(select(Post.share_count, Post.click_count, Post.like_count)).all()
        out["kudos_points"] = db.session.scalar(select(func.sum(Kudos.points)))
        out["redemptions"] = db.session.execute(select(Redemption.id, Redemption.cost, Redemption.status)).all()
        return out


def test_admin_downloads_everything_about_a_person(app, client, auth, users, erin):
    auth.login(users["admin"])
    archive = open_zip(client.post(f"/admin/users/{erin['id']}/data"))
    names = set(archive.namelist())
    assert {"herald-data.json", "profile.json", "avatar.webp", "shares.csv", "tracked_links.csv", "clicks_by_day.csv",
            "points.csv", "redemptions.csv", "kudos_sent.csv", "kudos_received.csv", "comments.csv",
            "suggestions.csv", "likes.csv", "badges.csv", "audit.csv"} <= names  # fmt: skip
    data = json.loads(archive.read("herald-data.json"))
    profile = data["profile"]
    assert (profile["email"], profile["name"], profile["department"]) == ("erin@example.com", "Erin Example", "Sales")
    assert profile["saved_address"]["address"]["line1"] == "Main St 1"
    assert archive.read("avatar.webp") == b"RIFF0000WEBPerin"
    # The ledger in the file adds up to the balance shown in the file.
    points = read_csv(archive.read("points.csv"))
    assert sum(int(p["points"]) for p in points) == profile["points"]["balance"] == 100 + 5 + 10 + 3 - 10 + 1 + 2
    assert {p["reason"] for p in points} >= {"share", "click", "adjustment", "redemption", "kudos"}
    [link] = read_csv(archive.read("tracked_links.csv"))
    assert (link["code"], link["post_title"], link["clicks"], link["unique_clicks"]) == (erin["code"], "Q3 results",
                                                                                         "1", "1")  # fmt: skip
    [day] = read_csv(archive.read("clicks_by_day.csv"))
    assert (day["clicks"], day["unique_clicks"]) == ("1", "1")
    [order] = read_csv(archive.read("redemptions.csv"))
    assert (order["reward"], order["address_line1"], order["address_city"]) == ("Hoodie", "Main St 1", "Warsaw")
    assert json.loads(order["timeline"])[0]["status"] == "requested"
    assert [k["message"] for k in read_csv(archive.read("kudos_sent.csv"))] == ["Thanks for the demo, Bo"]
    assert [(k["from"], k["message"]) for k in read_csv(archive.read("kudos_received.csv"))] == [
        ("Bo Builder", "Well done Erin")
    ]
    assert [c["comment"] for c in read_csv(archive.read("comments.csv"))] == ["Great quarter, Erin here"]
    assert [s["comment"] for s in read_csv(archive.read("suggestions.csv"))] == ["Erin suggests this"]
    assert [row["post_title"] for row in read_csv(archive.read("likes.csv"))] == ["Q3 results"]
    assert "points.adjust" in {a["action"] for a in read_csv(archive.read("audit.csv"))}
    assert data["shares"][0]["network"] == "linkedin"
    # Nobody else's data: Bo's own comment and e-mail are not in Erin's archive.
    everything = b"".join(archive.read(n) for n in names)
    assert b"bo@example.com" not in everything and b"Agreed" not in everything
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).one()
        assert (entry.actor_id, entry.target_id, entry.detail) == (users["admin"], erin["id"], {"by_self": False})


def test_employee_downloads_their_own_data_from_me(app, client, auth, erin):
    auth.login(erin["id"])
    page = client.get("/me").get_data(as_text=True)
    assert 'action="/me/data"' in page and "Download my data" in page
    archive = open_zip(client.post("/me/data"))
    assert json.loads(archive.read("profile.json"))["email"] == "erin@example.com"
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).one()
        assert (entry.actor_id, entry.target_id, entry.detail) == (erin["id"], erin["id"], {"by_self": True})


def test_personal_data_csv_neutralises_what_the_person_typed(app, client, auth, users):
    from app.content import engagement, services

    with app.test_request_context(method="POST"), write_intent():
        admin = db.session.get(User, users["admin"])
        post = services.create_post(services.PostData(title="P", url="https://example.com/p", action="publish"), admin)
        engagement.add_comment(post, db.session.get(User, users["employee"]), '=HYPERLINK("http://x/","y")')
        db.session.commit()
    auth.login(users["employee"])
    archive = open_zip(client.post("/me/data"))
    [comment] = read_csv(archive.read("comments.csv"))
    assert comment["comment"] == '\'=HYPERLINK("http://x/","y")'
    # JSON is not a spreadsheet: it keeps the exact text.
    assert json.loads(archive.read("herald-data.json"))["comments"][0]["comment"].startswith("=HYPERLINK")


def _all_text_in_database(app) -> str:
    """Every value of every row of every table, as one string (to search for leftovers)."""
    with app.app_context():
        parts = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                parts.extend(json.dumps(v, default=str, ensure_ascii=False) for v in row)
        return "\n".join(parts)


def test_erasure_removes_the_person_and_keeps_every_total(app, client, auth, users, erin, outbox):
    before = _figures(app, erin["id"], erin["bo"])
    assert all(trace in _all_text_in_database(app) for trace in ERIN_TRACES)
    erin_client = app.test_client()
    erin_client.post("/login", data={"email": "erin@example.com", "password": PASSWORD})
    assert erin_client.get("/feed").status_code == 200

    auth.login(users["admin"])
    page = client.get(f"/admin/users/{erin['id']}/erase").get_data(as_text=True)
    assert "This cannot be undone." in page and "Erin Example" in page
    wrong = client.post(f"/admin/users/{erin['id']}/erase", data={"confirm_email": "bo@example.com"})
    assert wrong.status_code == 400 and "That is not this person’s e-mail address." in wrong.get_data(as_text=True)
    assert _all_text_in_database(app).count("erin@example.com") >= 1  # nothing changed yet

    done = client.post(f"/admin/users/{erin['id']}/erase", data={"confirm_email": " Erin@Example.com "})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/users/{erin['id']}"
    assert "The person’s data is erased." in client.get(done.headers["Location"]).get_data(as_text=True)

    # Nothing that names Erin or that she typed is left in any table; the avatar file is gone.
    text = _all_text_in_database(app)
    assert [trace for trace in ERIN_TRACES if trace in text] == []
    assert not (Path(app.config["MEDIA_ROOT"]) / "avatars" / "erin.webp").exists()
    with app.app_context():
        user = db.session.get(User, erin["id"])
        assert (user.display_name, user.status, user.avatar_path, user.password_hash) == (
            "Former employee", "deactivated", None, None)  # fmt: skip
        assert user.email == f"former-employee-{erin['id']}@erased.invalid" and user.erased_at is not None
        assert db.session.get(SavedAddress, erin["id"]) is None
        assert db.session.get(Redemption, erin["redemption"]).shipping is None
        bo_kudos = db.session.scalars(select(PointEntry).where(PointEntry.user_id == erin["bo"],
                                                               PointEntry.reason == "kudos")).one()  # fmt: skip
        assert bo_kudos.params["from"] == "Former employee" and bo_kudos.delta == 5
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert (entry.actor_id, entry.target_id) == (users["admin"], erin["id"])
        assert entry.detail == {"comments": 1, "kudos_messages": 2, "addresses": 2, "suggestions": 1, "survey_links": 0}
        post = db.session.get(Post, erin["post"])
        live = db.session.scalar(select(func.count()).where(Comment.post_id == post.id, Comment.removed_at.is_(None)))
        assert post.comment_count == live == 1  # Bo's comment stays, the count follows what is shown

    # Every number stays: balances equal ledger sums, scores, team and post counters, kudos points.
    after = _figures(app, erin["id"], erin["bo"])
    assert after == before
    for uid in (erin["id"], erin["bo"]):
        assert after[uid]["balance"] == after[uid]["ledger"]

    # Erin cannot come back: her session is gone, her password and old address do nothing.
    assert erin_client.get("/feed").status_code == 302
    again = app.test_client()
    again.post("/login", data={"email": "erin@example.com", "password": PASSWORD})
    assert again.get("/feed").status_code == 302
    outbox.clear()
    again.post("/login/magic", data={"email": "erin@example.com"})
    assert list(outbox) == []
    reactivate = client.post(f"/admin/users/{erin['id']}/reactivate", follow_redirects=True)
    assert "cannot be used again" in reactivate.get_data(as_text=True)
    assert _user_status(app, erin["id"]) == "deactivated"

    # Pages that show her name show "Former employee"; a second erasure is refused.
    assert "Former employee" in client.get("/kudos").get_data(as_text=True)
    assert "Erin" not in client.get(f"/posts/{erin['post']}").get_data(as_text=True)
    assert client.post(f"/admin/users/{erin['id']}/erase", data={"confirm_email": "x@example.com"}).status_code == 400
    assert client.get("/leaderboard").status_code == 200


def _user_status(app, user_id) -> str:
    with app.app_context():
        return db.session.get(User, user_id).status


def test_two_erased_people_get_distinct_addresses_and_exports_still_work(app, client, auth, users, factory):
    first, second = factory.user("one@example.com", "One"), factory.user("two@example.com", "Two")
    auth.login(users["admin"])
    for uid, email in ((first, "one@example.com"), (second, "two@example.com")):
        assert client.post(f"/admin/users/{uid}/erase", data={"confirm_email": email}).status_code == 302
    with app.app_context():
        emails = {db.session.get(User, uid).email for uid in (first, second)}
    assert len(emails) == 2 and all(e.endswith("@erased.invalid") for e in emails)
    profile = json.loads(open_zip(client.post(f"/admin/users/{first}/data")).read("profile.json"))
    assert profile["name"] == "Former employee" and profile["erased_at"]


def test_an_admin_cannot_erase_themselves(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post(f"/admin/users/{users['admin']}/erase", data={"confirm_email": "admin@example.com"})
    assert response.status_code == 400
    assert "You cannot erase your own account." in response.get_data(as_text=True)
    assert _user_status(app, users["admin"]) == "active"
    with app.app_context():
        admin = db.session.get(User, users["admin"])
        with pytest.raises(privacy.PrivacyError):
            privacy.erase(admin, admin)


def test_erase_and_export_need_the_csrf_token(app, client, auth, users):
    app.config["WTF_CSRF_ENABLED"] = True
    auth.login(users["admin"])
    page = client.get(f"/admin/users/{users['employee']}/erase").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    refused = client.post(f"/admin/users/{users['employee']}/erase", data={"confirm_email": "employee@example.com"})
    assert refused.status_code == 400
    assert client.post(f"/admin/users/{users['employee']}/data").status_code == 400
    assert client.post("/me/data").status_code == 400
    with app.app_context():
        assert db.session.get(User, users["employee"]).erased_at is None
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    done = client.post(f"/admin/users/{users['employee']}/erase",
                       data={"csrf_token": token, "confirm_email": "employee@example.com"})  # fmt: skip
    assert done.status_code == 302


def test_employees_cannot_export_or_erase_someone_else(client, auth, users):
    auth.login(users["employee"])
    assert client.post(f"/admin/users/{users['hr']}/data").status_code == 403
    assert client.post(f"/admin/users/{users['hr']}/erase", data={"confirm_email": "hr@example.com"}).status_code == 403


def test_survey_answers_are_exported_only_when_confidential_and_erasure_unlinks_them(app, client, auth, users, erin):
    from surveys import services as surveys
    from surveys.models import Participation, Response, Wave

    with app.test_request_context(method="POST"):
        hr = db.session.get(User, users["hr"])
        waves = []
        for anonymous in (True, False):
            survey = surveys.create_survey(hr, "enps_pulse", title="Anonymous pulse" if anonymous else "Named pulse")
            survey.anonymous = anonymous
            waves.append((surveys.launch(survey, hr).id, [q.id for q in survey.questions]))
        db.session.commit()
        for wave_id, (enps, reason) in waves:
            surveys.submit(db.session.get(Wave, wave_id), db.session.get(User, erin["id"]),
                           {enps: 9, reason: f"Erin's reason {wave_id}"})  # fmt: skip
        db.session.commit()
    auth.login(users["admin"])
    archive = open_zip(client.post(f"/admin/users/{erin['id']}/data"))
    taken = read_csv(archive.read("survey_participation.csv"))
    assert sorted((t["survey"], t["confidential"]) for t in taken) == [("Anonymous pulse", "False"),
                                                                       ("Named pulse", "True")]  # fmt: skip
    answers = read_csv(archive.read("survey_answers.csv"))
    assert {a["survey"] for a in answers} == {"Named pulse"}  # the anonymous answer is nobody's to find
    assert f"Erin's reason {waves[1][0]}" in {a["text"] for a in answers}
    client.post(f"/admin/users/{erin['id']}/erase", data={"confirm_email": "erin@example.com"})
    with app.app_context():
        assert db.session.scalars(select(Participation.response_key)).all() == [None, None]
        assert db.session.scalar(select(func.count()).select_from(Response)) == 2  # the results keep both


def test_conversions_credited_to_a_person_are_in_their_export(app, client, auth, users, erin):
    from tests.helpers import make_api_token, report_conversion

    _token_id, token = make_api_token(app)
    response = report_conversion(app.test_client(), token, code=erin["code"], kind="application", value=10,
                                 idempotency_key="ats-1")  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    auth.login(users["admin"])
    archive = open_zip(client.post(f"/admin/users/{erin['id']}/data"))
    [row] = read_csv(archive.read("conversions.csv"))
    assert (row["post_title"], row["network"], row["kind"], row["value"], row["source"]) == (
        "Q3 results", "linkedin", "application", "10.00", "api")  # fmt: skip
