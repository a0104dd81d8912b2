"""Anonymity by construction: what the tables can hold, and what no page or export lets HR or admins reach."""

from __future__ import annotations

import pytest
from sqlalchemy import Date, DateTime, inspect, select, text

from app.accounts.models import User
from app.extensions import db
from surveys import services
from surveys.models import Participation, Survey, Wave

PERSONAL = ("user", "email", "name", "person", "employee", "ip", "agent")
TIMES = ("_at", "time", "created", "updated")


def columns(app, table: str) -> dict[str, object]:
    with app.app_context():
        return {c["name"]: c["type"] for c in inspect(db.engine).get_columns(table)}


@pytest.mark.parametrize("table", ["response", "answer"])
def test_response_tables_have_no_column_that_names_a_person_or_an_exact_time(app, table):
    cols = columns(app, table)
    assert not [c for c in cols if any(word in c.lower() for word in PERSONAL)]
    assert not [c for c in cols if any(word in c.lower() for word in TIMES)]
    assert not [c for c, kind in cols.items() if isinstance(kind, DateTime)]
    assert "id" not in cols  # no autoincrement id to order answers by


def test_a_response_keeps_a_day_at_most_and_participation_no_finer_time(app):
    assert isinstance(columns(app, "response")["day"], Date)
    participation = columns(app, "participation")
    assert not [c for c, kind in participation.items() if isinstance(kind, DateTime)]
    assert isinstance(participation["day"], Date)


def test_on_sqlite_no_hidden_row_number_keeps_the_order_of_answers(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("rowid is SQLite's")
        for query in ("SELECT rowid FROM response", "SELECT rowid FROM answer"):
            with pytest.raises(Exception, match="rowid"):
                db.session.execute(text(query))
            db.session.rollback()


def test_no_route_takes_a_response_key(app):
    for rule in app.url_map.iter_rules():
        assert not {"key", "response_key", "response_id"} & set(rule.arguments), rule.rule


@pytest.fixture
def anonymous_wave(app, factory, users):
    """Six people answer an anonymous pulse, each with a reason that names nobody."""
    with app.test_request_context(method="POST"):
        survey = services.create_survey(db.session.get(User, users["hr"]), "enps_pulse")
        wave = services.launch(survey, db.session.get(User, users["hr"]))
        db.session.commit()
        ids = survey.id, wave.id, [q.id for q in survey.questions]
    survey_id, wave_id, (enps, reason) = ids
    names = []
    for i in range(6):
        name = f"Zebediah Quill{i}"
        pid = factory.user(f"zq{i}@example.com", name=name)
        names.append(name)
        with app.test_request_context(method="POST"):
            services.submit(db.session.get(Wave, wave_id), db.session.get(User, pid), {enps: i, reason: f"reason-{i}"})
            db.session.commit()
    return {"survey_id": survey_id, "wave_id": wave_id, "names": names}


def test_participation_does_not_point_at_an_anonymous_response(app, anonymous_wave):
    with app.app_context():
        keys = db.session.scalars(select(Participation.response_key)).all()
        assert len(keys) == 6 and set(keys) == {None}


def test_no_page_or_export_shows_who_gave_an_anonymous_answer(app, client, auth, users, anonymous_wave):
    survey_id, wave_id = anonymous_wave["survey_id"], anonymous_wave["wave_id"]
    urls = [
        "/hr/", f"/hr/surveys/{survey_id}", f"/hr/surveys/{survey_id}/results", f"/hr/surveys/{survey_id}/trend",
        f"/hr/surveys/{survey_id}/results?wave={wave_id}", f"/hr/waves/{wave_id}/export.csv",
        f"/hr/waves/{wave_id}/export.xlsx", f"/hr/waves/{wave_id}/you-said",
    ]  # fmt: skip
    for who in ("hr", "admin"):
        auth.login(users[who])
        for url in urls:
            response = client.get(url)
            body = response.get_data().decode("utf-8", "replace")
            for name in anonymous_wave["names"]:
                assert name not in body, (who, url)
                assert name.split()[1] not in body, (who, url)
        assert client.get(f"/hr/waves/{wave_id}/responses.csv").status_code in (403, 404)
        assert client.get(f"/hr/waves/{wave_id}/responses.xlsx").status_code in (403, 404)


def test_admins_without_the_hr_role_see_no_results(app, client, auth, users, anonymous_wave):
    auth.login(users["admin"])
    assert client.get(f"/hr/surveys/{anonymous_wave['survey_id']}/results").status_code == 403
    assert client.get(f"/hr/waves/{anonymous_wave['wave_id']}/export.csv").status_code == 403
    auth.login(users["hr"])
    assert client.get("/admin/rewards").status_code == 403
    assert client.get("/admin/posts").status_code == 403


def test_free_texts_come_shuffled_not_in_the_order_people_answered(app, anonymous_wave):
    from surveys import results

    with app.test_request_context():
        wave = db.session.get(Wave, anonymous_wave["wave_id"])
        reason = db.session.get(Survey, anonymous_wave["survey_id"]).questions[1]
        orders = {tuple(t for t, _name in results.free_texts(wave, reason)) for _ in range(20)}
    assert len(orders) > 1
    assert all(sorted(o) == [f"reason-{i}" for i in range(6)] for o in orders)
