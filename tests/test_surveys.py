"""Surveys: HR builds and launches, employees answer once, points through the ledger, waves and reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from app.gamification.models import PointEntry, UserStats
from app.timeutil import utcnow
from surveys import services
from surveys.models import Answer, Participation, Question, Response, Survey, Wave, WaveInvitee
from tests.conftest import Auth
from tests.helpers import balance_and_ledger, run_parallel


def launch_pulse(app, hr_id, template="enps_pulse", **settings) -> tuple[int, int]:
    """A launched survey from a template; returns (survey id, wave id)."""
    with app.test_request_context(method="POST"):
        hr = db.session.get(User, hr_id)
        survey = services.create_survey(hr, template)
        for name, value in settings.items():
            setattr(survey, name, value)
        wave = services.launch(survey, hr)
        db.session.commit()
        return survey.id, wave.id


def question_ids(app, survey_id) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Question.id).where(Question.survey_id == survey_id)
                                       .order_by(Question.position)))  # fmt: skip


def answer_form(app, survey_id, score, reason="") -> dict:
    enps, follow_up = question_ids(app, survey_id)[:2]
    return {f"q{enps}": str(score), f"q{follow_up}": reason}


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- building ----------------------------------------------------------------------------------


def test_hr_starts_from_a_template_and_the_draft_has_its_questions(app, client, auth, users):
    auth.login(users["hr"])
    response = client.post("/hr/surveys/new", data={"template": "satisfaction"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Draft" in page and "I receive recognition when I do good work." in page
    with app.app_context():
        survey = db.session.scalar(select(Survey))
        kinds = [q.kind for q in survey.questions]
        assert survey.status == "draft" and survey.recurrence == "quarterly"
        assert kinds.count("likert") == 12 and kinds.count("enps") == 1 and kinds[-1] == "long_text"
        assert {services.dimension_name(q.dimension) for q in survey.questions if q.kind == "likert"} >= {
            "Recognition",
            "Growth",
            "Workload",
            "Manager",
            "Culture",
            "Communication",
            "Advocacy program",
        }


def test_the_enps_question_names_the_company(app, users):
    app.config["COMPANY_NAME"] = "Northwind"
    survey_id, _wave = launch_pulse(app, users["hr"])
    with app.app_context():
        first = db.session.scalar(select(Question).where(Question.survey_id == survey_id, Question.position == 0))
        assert first.text == "How likely are you to recommend Northwind as a place to work?"


def test_hr_adds_reorders_edits_and_deletes_questions(app, client, auth, users):
    auth.login(users["hr"])
    client.post("/hr/surveys/new", data={"template": ""})
    with app.app_context():
        survey_id = db.session.scalar(select(Survey.id))
    for text in ("First?", "Second?"):
        assert (
            client.post(f"/hr/surveys/{survey_id}/questions", data={"kind": "rating", "text": text}).status_code == 302
        )
    refused = client.post(
        f"/hr/surveys/{survey_id}/questions", data={"kind": "single", "text": "Pick", "options": "Only one"}
    )
    assert refused.status_code == 400 and "at least two options" in refused.get_data(as_text=True)
    first, second = question_ids(app, survey_id)
    client.post(f"/hr/questions/{second}/move", data={"direction": "up"})
    assert question_ids(app, survey_id) == [second, first]
    client.post(f"/hr/surveys/{survey_id}/reorder", data={"order": [first, second]})
    assert question_ids(app, survey_id) == [first, second]
    client.post(f"/hr/questions/{first}", data={"kind": "multi", "text": "Which?", "options": "A\nB\nC"})
    with app.app_context():
        q = db.session.get(Question, first)
        assert (q.kind, q.options) == ("multi", ["A", "B", "C"])
    client.post(f"/hr/questions/{second}/delete")
    assert question_ids(app, survey_id) == [first]


def test_an_unknown_or_oversized_dimension_is_refused_and_changes_nothing(app, client, auth, users):
    auth.login(users["hr"])
    client.post("/hr/surveys/new", data={"template": ""})
    with app.app_context():
        survey_id = db.session.scalar(select(Survey.id))
    client.post(f"/hr/surveys/{survey_id}/questions", data={"kind": "rating", "text": "First?"})
    (first,) = question_ids(app, survey_id)
    for dimension in ("2147483648", "3955541082072", "abc", "999999"):  # PostgreSQL INTEGER ends at 2**31 - 1
        response = client.post(f"/hr/questions/{first}", data={"kind": "rating", "text": "Changed?",
                                                                "dimension_id": dimension})  # fmt: skip
        assert response.status_code == 400 and "Unknown dimension." in response.get_data(as_text=True), dimension
    with app.app_context():
        assert db.session.get(Question, first).text == "First?"


def test_a_draft_without_questions_cannot_launch(app, client, auth, users):
    auth.login(users["hr"])
    client.post("/hr/surveys/new", data={"template": ""})
    with app.app_context():
        survey_id = db.session.scalar(select(Survey.id))
    page = client.post(f"/hr/surveys/{survey_id}/launch", follow_redirects=True).get_data(as_text=True)
    assert "Add at least one question before launching." in page
    assert count(app, Wave) == 0


def test_threshold_is_at_least_three_and_never_lowered_once_answered(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    auth.login(users["hr"])
    base = {"title": "Pulse", "privacy": "anonymous", "recurrence": "monthly", "points": "20"}
    low = client.post(f"/hr/surveys/{survey_id}", data={**base, "threshold": "2"})
    assert low.status_code == 400 and "at least 3" in low.get_data(as_text=True)
    assert client.post(f"/hr/surveys/{survey_id}", data={**base, "threshold": "7"}).status_code == 302
    auth.login(users["employee"])
    client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 9))
    auth.login(users["hr"])
    lowered = client.post(f"/hr/surveys/{survey_id}", data={**base, "threshold": "6"})
    assert lowered.status_code == 400 and "can only go up" in lowered.get_data(as_text=True)
    raised = client.post(f"/hr/surveys/{survey_id}", data={**base, "threshold": "8"})
    assert raised.status_code == 302
    with app.app_context():
        assert db.session.get(Survey, survey_id).threshold == 8


def test_questions_freeze_once_answered_and_a_copy_is_a_new_editable_version(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    auth.login(users["employee"])
    client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 8))
    auth.login(users["hr"])
    first = question_ids(app, survey_id)[0]
    page = client.post(f"/hr/questions/{first}", data={"kind": "enps", "text": "Changed?"}).get_data(as_text=True)
    assert "cannot change" in page
    copied = client.post(f"/hr/surveys/{survey_id}/copy")
    with app.app_context():
        copy = db.session.scalar(select(Survey).where(Survey.copied_from_id == survey_id))
        assert (copy.status, copy.version, len(copy.questions)) == ("draft", 2, 2)
        assert copied.headers["Location"].endswith(f"/hr/surveys/{copy.id}")
        copy_first = copy.questions[0].id
    assert client.post(f"/hr/questions/{copy_first}", data={"kind": "enps", "text": "Changed?"}).status_code == 302


# --- answering ---------------------------------------------------------------------------------


def test_employee_sees_the_waiting_survey_with_a_badge_answers_and_earns_points(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"], points=30)
    auth.login(users["employee"])
    inbox = client.get("/surveys").get_data(as_text=True)
    assert "eNPS pulse" in inbox and "+30 points" in inbox
    assert "survey waiting" in client.get("/feed").get_data(as_text=True)
    page = client.get(f"/surveys/{wave_id}").get_data(as_text=True)
    assert "This survey is anonymous." in page and "Question 1 of 2" in page
    response = client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 10, "Great team"))
    assert response.headers["Location"].endswith(f"/surveys/{wave_id}/thanks")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you!" in thanks and "+30 points" in thanks
    assert balance_and_ledger(app, users["employee"]) == (30, 30)
    with app.app_context():
        assert db.session.get(UserStats, users["employee"]).surveys_completed == 1
    assert "survey waiting" not in client.get("/feed").get_data(as_text=True)
    assert "No surveys for you right now" in client.get("/surveys").get_data(as_text=True)


def test_a_confidential_survey_says_so_before_the_first_question(app, client, auth, users):
    _survey, wave_id = launch_pulse(app, users["hr"], anonymous=False)
    auth.login(users["employee"])
    page = client.get(f"/surveys/{wave_id}").get_data(as_text=True)
    assert "This survey is confidential, not anonymous." in page
    assert "HR will see your name next to your answers." in page


def test_a_required_question_left_empty_is_refused_and_changes_nothing(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    auth.login(users["employee"])
    response = client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, ""))
    assert response.status_code == 400
    assert "Please answer: How likely are you to recommend" in response.get_data(as_text=True)
    out_of_range = client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 11))
    assert out_of_range.status_code == 400 and "not one of the choices" in out_of_range.get_data(as_text=True)
    assert count(app, Participation) == count(app, Response) == count(app, Answer) == 0
    assert balance_and_ledger(app, users["employee"]) == (0, 0)


def test_a_double_submission_is_one_response_one_participation_one_award(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    auth.login(users["employee"])
    data = answer_form(app, survey_id, 9)
    client.post(f"/surveys/{wave_id}", data=data)
    again = client.post(f"/surveys/{wave_id}", data=data)
    assert again.status_code == 302 and again.headers["Location"].endswith("/thanks")
    assert count(app, Participation) == count(app, Response) == 1
    assert count(app, PointEntry, PointEntry.reason == "survey") == 1


def test_twenty_simultaneous_submissions_make_one_response(app, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    enps, reason = question_ids(app, survey_id)

    def submit(i):
        from app.database import write_intent

        with app.test_request_context(method="POST"), write_intent():
            user = db.session.get(User, users["employee"])
            wave = db.session.get(Wave, wave_id)
            try:
                result = services.submit(wave, user, {enps: i % 11, reason: f"try {i}"})
                db.session.commit()
                return result.duplicate
            finally:
                db.session.remove()

    duplicates = run_parallel(20, submit)
    assert sorted(duplicates) == [False] + [True] * 19
    assert count(app, Participation) == count(app, Response) == 1
    assert count(app, Answer) == 2
    assert count(app, PointEntry, PointEntry.reason == "survey") == 1
    assert balance_and_ledger(app, users["employee"]) == (20, 20)


def test_twelve_people_submitting_at_once_through_the_page_all_get_in(app, users, factory):
    """The answer page reads before it takes SQLite's write lock (``begin_writes``): no "database is locked"."""
    people = [factory.user(f"p{i}@example.com", f"Person {i}") for i in range(12)]
    survey_id, wave_id = launch_pulse(app, users["hr"])
    form = answer_form(app, survey_id, 9, "Good team")
    clients = [app.test_client() for _ in people]
    for client, uid in zip(clients, people, strict=True):
        Auth(app, client).login(uid)

    def submit(i):
        response = clients[i].post(f"/surveys/{wave_id}", data=form)
        return response.status_code, response.headers.get("Location", "")

    results = run_parallel(12, submit)
    assert results == [(302, f"/surveys/{wave_id}/thanks")] * 12
    assert count(app, Participation) == count(app, Response) == 12
    assert count(app, PointEntry, PointEntry.reason == "survey") == 12


def test_outside_the_audience_the_survey_is_not_found(app, client, auth, users, factory):
    from surveys.models import SurveyDepartment

    sales = factory.department("Sales")
    with app.test_request_context(method="POST"):
        hr = db.session.get(User, users["hr"])
        survey = services.create_survey(hr, "enps_pulse")
        survey.audience_all = False
        survey.departments = [SurveyDepartment(department_id=sales)]
        wave = services.launch(survey, hr)
        db.session.commit()
        survey_id, wave_id = survey.id, wave.id
    auth.login(users["employee"])
    assert client.get(f"/surveys/{wave_id}").status_code == 404
    assert client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 9)).status_code == 404
    assert "No surveys for you right now" in client.get("/surveys").get_data(as_text=True)
    assert count(app, Participation) == 0


def test_a_closed_wave_refuses_answers_and_reopens_until_its_close_time(app, client, auth, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    auth.login(users["hr"])
    client.post(f"/hr/waves/{wave_id}/close")
    auth.login(users["employee"])
    refused = client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 9))
    assert refused.status_code == 410 and "This survey is closed." in refused.get_data(as_text=True)
    assert count(app, Participation) == 0
    auth.login(users["hr"])
    page = client.post(f"/hr/waves/{wave_id}/reopen", follow_redirects=True).get_data(as_text=True)
    assert "The wave is open again." in page
    auth.login(users["employee"])
    assert client.post(f"/surveys/{wave_id}", data=answer_form(app, survey_id, 9)).status_code == 302
    with app.app_context():
        wave = db.session.get(Wave, wave_id)
        wave.closes_at = utcnow() - timedelta(minutes=1)
        wave.closed_early_at = utcnow() - timedelta(minutes=2)
        db.session.commit()
    auth.login(users["hr"])
    late = client.post(f"/hr/waves/{wave_id}/reopen", follow_redirects=True).get_data(as_text=True)
    assert "close time has passed" in late


def test_archiving_closes_the_open_wave(app, client, auth, users):
    _survey, wave_id = launch_pulse(app, users["hr"])
    survey_id = _survey
    auth.login(users["hr"])
    client.post(f"/hr/surveys/{survey_id}/archive")
    with app.app_context():
        assert db.session.get(Survey, survey_id).status == "archived"
        assert db.session.get(Wave, wave_id).closed_early_at is not None
    auth.login(users["employee"])
    assert "No surveys for you right now" in client.get("/surveys").get_data(as_text=True)


# --- waves, reminders, recurrence --------------------------------------------------------------


def test_the_wave_snapshot_keeps_the_department_people_had_when_it_opened(app, users, factory):
    sales, finance = factory.department("Sales"), factory.department("Finance")
    person = factory.user("mover@example.com", department_id=sales)
    survey_id, wave_id = launch_pulse(app, users["hr"])
    enps = question_ids(app, survey_id)[0]
    with app.app_context():
        db.session.get(User, person).department_id = finance
        db.session.commit()
        user = db.session.get(User, person)
        services.submit(db.session.get(Wave, wave_id), user, {enps: 9})
        db.session.commit()
        assert db.session.scalar(select(Response.department_id)) == sales
        assert db.session.get(WaveInvitee, (wave_id, person)).department_id == sales


def test_reminders_go_once_to_people_who_have_not_answered(app, users, outbox):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    enps = question_ids(app, survey_id)[0]
    with app.test_request_context(method="POST"):
        wave = db.session.get(Wave, wave_id)
        services.submit(wave, db.session.get(User, users["admin"]), {enps: 9})
        db.session.commit()
        halfway = wave.opens_at + (wave.closes_at - wave.opens_at) / 2 + timedelta(minutes=1)
        assert services.tick(halfway)["reminders"] == 2  # employee and HR; the admin answered
        db.session.commit()
        assert services.tick(halfway)["reminders"] == 0
        db.session.commit()
    assert sorted(m["To"] for m in outbox) == ["employee@example.com", "hr@example.com"]
    assert "Reminder: eNPS pulse" in outbox[0]["Subject"]


def test_a_monthly_pulse_starts_its_next_wave_after_the_last_one_closed(app, users):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    with app.app_context():
        wave = db.session.get(Wave, wave_id)
        after = wave.closes_at + timedelta(hours=1)
        done = services.tick(after)
        db.session.commit()
        assert done["waves"] == 1 and done["cubes"] == 1
        second = db.session.scalar(select(Wave).where(Wave.survey_id == survey_id, Wave.number == 2))
        assert second.opens_at == services.add_months(wave.opens_at, 1)
        assert second.closes_at - second.opens_at == wave.closes_at - wave.opens_at
        assert services.tick(after)["waves"] == 0


def test_add_months_keeps_the_day_or_the_month_end():
    from datetime import UTC, datetime

    assert services.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert services.add_months(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize("days, dated", [(2, False), (5, True)])
def test_responses_keep_the_day_only_for_waves_of_three_days_or_more(app, users, days, dated):
    survey_id, wave_id = launch_pulse(app, users["hr"])
    enps = question_ids(app, survey_id)[0]
    with app.app_context():
        wave = db.session.get(Wave, wave_id)
        wave.closes_at = wave.opens_at + timedelta(days=days)
        db.session.commit()
        services.submit(wave, db.session.get(User, users["employee"]), {enps: 9})
        db.session.commit()
        assert (db.session.scalar(select(Response.day)) is not None) is dated


def test_the_tab_badge_costs_no_statement_while_no_survey_is_open(app, client, auth, users, count_queries):
    auth.login(users["employee"])
    client.get("/feed")
    with count_queries() as quiet:
        client.get("/feed")
    survey_id, wave_id = launch_pulse(app, users["hr"])
    client.get("/feed")
    with count_queries() as waiting:
        page = client.get("/feed").get_data(as_text=True)
    assert "survey waiting" in page
    assert waiting.total == quiet.total + 1  # my participations in the open waves
