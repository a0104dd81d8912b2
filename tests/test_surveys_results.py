"""Survey results: eNPS and its interval, % favourable, suppression of small groups, kept counts, exports."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from surveys import results, services
from surveys.models import Question, Survey, Wave

# --- the formulas, by hand ---------------------------------------------------------------------


def test_enps_of_25_percent_promoters_and_20_percent_detractors_is_plus_5():
    # 100 answers: 25 promoters (9-10), 55 passives (7-8), 20 detractors (0-6).
    e = results.enps({10: 10, 9: 15, 8: 30, 7: 25, 6: 10, 3: 10})
    assert round(e.score, 6) == 5.0
    assert (round(e.promoters), round(e.passives), round(e.detractors), e.base) == (25, 55, 20, 100)


def test_enps_of_only_passives_is_zero():
    assert results.enps({7: 4, 8: 6}).score == 0


def test_enps_interval_matches_the_worked_example():
    # n = 100, p = .25, d = .20: variance .25 + .20 - .05² = .4475, SE = sqrt(.4475 / 100) = .066895,
    # margin = 1.96 × 100 × .066895 = 13.11 → [-8.11, 18.11].
    e = results.enps({10: 25, 8: 55, 5: 20})
    assert round(e.low, 2) == -8.11 and round(e.high, 2) == 18.11


def test_skipped_enps_answers_are_left_out_of_the_base_and_counted_apart():
    e = results.enps({10: 3, 2: 1}, skipped=6)
    assert e.base == 4 and e.skipped == 6 and e.score == 50


def test_percent_favourable_counts_answers_4_and_5():
    s = results.scale({1: 1, 2: 1, 3: 2, 4: 4, 5: 2})
    assert s.favourable == 60 and s.mean == pytest.approx(3.5) and s.counts == [1, 1, 2, 4, 2]


@pytest.mark.parametrize(
    "sizes, hidden",
    [
        ({"a": 10, "b": 12, "c": 20}, set()),  # everyone large enough
        ({"a": 2, "b": 12, "c": 20}, {"a", "b"}),  # one small group: the smallest other one goes too
        ({"a": 1, "b": 2, "c": 20, "d": 30}, {"a", "b", "c"}),  # two small ones adding up to 3 < 5: one more
        ({"a": 3, "b": 4, "c": 20}, {"a", "b"}),  # two small ones adding up to 7: enough
        ({"a": 2, "b": 0, "c": 9}, {"a", "c"}),  # a group without answers protects nobody
    ],
)
def test_suppression_hides_small_groups_and_enough_neighbours(sizes, hidden):
    assert results.suppressed(sizes, 5) == hidden


# --- real waves --------------------------------------------------------------------------------


@pytest.fixture
def company(app, factory, users):
    """Three departments (12, 7 and 2 people) answering a launched satisfaction survey."""
    depts = {name: factory.department(name) for name in ("Engineering", "Sales", "Legal")}
    people = {name: [factory.user(f"{name.lower()}{i}@example.com", department_id=depts[name]) for i in range(n)]
              for name, n in (("Engineering", 12), ("Sales", 7), ("Legal", 2))}  # fmt: skip
    with app.test_request_context(method="POST"):
        survey = services.create_survey(db.session.get(User, users["hr"]), "satisfaction")
        wave = services.launch(survey, db.session.get(User, users["hr"]))
        db.session.commit()
        return {"survey_id": survey.id, "wave_id": wave.id, "depts": depts, "people": people}


def answer(app, company, person_id, enps, likert, text=None):
    with app.test_request_context(method="POST"):
        survey = db.session.get(Survey, company["survey_id"])
        given = {}
        for q in survey.questions:
            if q.kind == "enps":
                given[q.id] = enps
            elif q.kind == "likert":
                given[q.id] = likert
            elif text:
                given[q.id] = text
        services.submit(db.session.get(Wave, company["wave_id"]), db.session.get(User, person_id), given)
        db.session.commit()


@pytest.fixture
def answered(app, company):
    """Engineering promoters (10, agree), Sales detractors (3, disagree), both Legal people passive."""
    for pid in company["people"]["Engineering"]:
        answer(app, company, pid, 10, 5, text="More focus time")
    for pid in company["people"]["Sales"]:
        answer(app, company, pid, 3, 2, text="Less travel")
    for pid in company["people"]["Legal"]:
        answer(app, company, pid, 8, 3, text="Legal secret")
    return company


def test_results_page_shows_enps_rate_charts_and_a_suppressed_department(app, client, auth, users, answered):
    auth.login(users["hr"])
    page = client.get(f"/hr/surveys/{answered['survey_id']}/results").get_data(as_text=True)
    # 12 promoters, 2 passives, 7 detractors of 21: (12 - 7) / 21 = +24.
    assert "+24" in page and "21" in page
    assert "data-chart=" in page and 'class="heatmap"' in page
    assert "Fewer than 5 answers" in page  # Legal (2)
    assert "Hidden so that a smaller group cannot be worked out" in page  # Sales, the next smallest
    assert "Legal secret" not in page.split("Dimensions by department")[1].split("Questions")[0]


def test_a_department_view_below_the_threshold_is_hidden_with_its_texts(app, client, auth, users, answered):
    auth.login(users["hr"])
    url = f"/hr/surveys/{answered['survey_id']}/results?department="
    legal = client.get(url + str(answered["depts"]["Legal"])).get_data(as_text=True)
    assert "Hidden to protect anonymity" in legal and "Legal secret" not in legal
    sales = client.get(url + str(answered["depts"]["Sales"])).get_data(as_text=True)
    assert "Hidden to protect anonymity" in sales  # 7 answers, but hidden so Legal cannot be worked out
    engineering = client.get(url + str(answered["depts"]["Engineering"])).get_data(as_text=True)
    assert "Hidden to protect anonymity" not in engineering and "More focus time" in engineering


def test_the_differencing_attempt_learns_nothing_about_the_small_group(app, answered):
    """Everyone minus every department shown = the hidden ones together, never Legal alone."""
    with app.test_request_context():
        wave = db.session.get(Wave, answered["wave_id"])
        total = results.wave_result(wave)
        shown = [results.wave_result(wave, "department_id", d) for d in answered["depts"].values()]
        visible = [r for r in shown if not r.hidden]
        assert [r.responses for r in visible] == [12]
        remainder = total.responses - sum(r.responses for r in visible)
        assert remainder == 9 >= wave.survey.threshold  # Sales and Legal together, not Legal's 2


def test_a_kept_closed_wave_equals_a_fresh_count(app, answered):
    with app.app_context():
        wave = db.session.get(Wave, answered["wave_id"])
        services.close_wave(wave, None)
        kept = results.keep_cube(wave)
        db.session.commit()
        assert db.session.get(Wave, answered["wave_id"]).cube == results.count_cube(wave.id) == kept
        assert kept["responses"] and sum(n for *_g, n in kept["responses"]) == 21


def test_trend_compares_waves(app, answered):
    with app.test_request_context():
        survey = db.session.get(Survey, answered["survey_id"])
        wave = db.session.get(Wave, answered["wave_id"])
        services.close_wave(wave, None)
        second = Wave(survey_id=survey.id, number=2, opens_at=wave.opens_at, closes_at=wave.closes_at)
        db.session.add(second)
        db.session.commit()
        services.snapshot(second)
        db.session.commit()
        second_id = second.id
    for pid in answered["people"]["Engineering"][:6]:
        with app.test_request_context(method="POST"):
            questions = db.session.get(Survey, answered["survey_id"]).questions
            given = {q.id: (6 if q.kind == "enps" else 4) for q in questions if q.kind in ("enps", "likert")}
            services.submit(db.session.get(Wave, second_id), db.session.get(User, pid), given)
            db.session.commit()
    with app.test_request_context():
        points = results.trend(db.session.get(Survey, answered["survey_id"]))
        assert [round(p.enps) if p.enps is not None else None for p in points] == [24, -100]
        assert [p.responses for p in points] == [21, 6]


def test_exports_keep_hidden_groups_hidden_and_anonymous_surveys_have_no_per_response_rows(
    app, client, auth, users, answered
):
    auth.login(users["hr"])
    body = client.get(f"/hr/waves/{answered['wave_id']}/export.csv").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    groups = {row[0] for row in rows[1:]}
    assert {"Everyone", "Engineering", "Sales", "Legal"} <= groups
    legal = [row for row in rows if row[0] == "Legal"]
    assert len(legal) == 1 and legal[0][1].startswith("Hidden")
    xlsx = client.get(f"/hr/waves/{answered['wave_id']}/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get(f"/hr/waves/{answered['wave_id']}/responses.csv").status_code == 404


def test_confidential_results_show_names_to_hr(app, client, auth, users, factory):
    with app.test_request_context(method="POST"):
        survey = services.create_survey(db.session.get(User, users["hr"]), "enps_pulse")
        survey.anonymous = False
        survey.threshold = 3
        wave = services.launch(survey, db.session.get(User, users["hr"]))
        db.session.commit()
        ids = (survey.id, wave.id, [q.id for q in survey.questions])
    survey_id, wave_id, (enps, reason) = ids
    for i in range(3):
        pid = factory.user(f"named{i}@example.com", name=f"Named Person {i}")
        with app.test_request_context(method="POST"):
            services.submit(db.session.get(Wave, wave_id), db.session.get(User, pid), {enps: 9, reason: f"Reason {i}"})
            db.session.commit()
    auth.login(users["hr"])
    page = client.get(f"/hr/surveys/{survey_id}/results").get_data(as_text=True)
    assert "Reason 1" in page and "Named Person 1" in page
    body = client.get(f"/hr/waves/{wave_id}/responses.csv").get_data().decode("utf-8-sig")
    assert "Named Person 2" in body and "Reason 2" in body and "named2@example.com" in body


def test_you_said_we_did_publishes_a_post_for_the_audience(app, client, auth, users, answered):
    auth.login(users["hr"])
    response = client.post(f"/hr/waves/{answered['wave_id']}/you-said",
                           data={"title": "You said, we did", "intro": "Thank you", "d2": "Quiet Fridays"})  # fmt: skip
    assert response.status_code == 302
    auth.login(users["employee"])
    feed = client.get("/feed").get_data(as_text=True)
    assert "You said, we did" in feed
    empty = client.post(f"/hr/waves/{answered['wave_id']}/you-said", data={"title": "Nothing"})
    auth.login(users["hr"])
    empty = client.post(f"/hr/waves/{answered['wave_id']}/you-said", data={"title": "Nothing"})
    assert empty.status_code == 400 and "at least one dimension" in empty.get_data(as_text=True)


def test_advocacy_insight_splits_departments_by_sharing(app, answered, users):
    from app.content import sharing
    from tests.helpers import make_post

    post_id = make_post(app, author=users["admin"])
    with app.test_request_context(method="POST"):
        from app.content.models import Post

        for pid in answered["people"]["Engineering"][:6]:
            sharing.share_post(db.session.get(Post, post_id), db.session.get(User, pid), "linkedin")
        db.session.commit()
    with app.test_request_context():
        wave = db.session.get(Wave, answered["wave_id"])
        labels = {"departments": {v: k for k, v in answered["depts"].items()}, "locations": {}}
        insight = results.advocacy_insight(wave, labels)
    # Legal and Sales are hidden in the department breakdown, so only Engineering is left: no split.
    assert insight == []


def test_questions_frozen_page_note(app, client, auth, users, answered):
    auth.login(users["hr"])
    page = client.get(f"/hr/surveys/{answered['survey_id']}").get_data(as_text=True)
    assert "its questions are frozen" in page
    with app.app_context():
        assert db.session.scalar(select(Question.id).where(Question.survey_id == answered["survey_id"]))


def test_advocacy_insight_compares_departments_that_share_more(app, factory, users):
    from app.content import sharing
    from app.content.models import Post
    from tests.helpers import make_post

    depts = {name: factory.department(name) for name in ("A", "B", "C", "D")}
    people = {name: [factory.user(f"{name.lower()}{i}@example.com", department_id=d) for i in range(5)]
              for name, d in depts.items()}  # fmt: skip
    with app.test_request_context(method="POST"):
        survey = services.create_survey(db.session.get(User, users["hr"]), "enps_pulse")
        wave = services.launch(survey, db.session.get(User, users["hr"]))
        db.session.commit()
        wave_id, enps = wave.id, survey.questions[0].id
    post_id = make_post(app, author=users["admin"])
    with app.test_request_context(method="POST"):
        for name, score in (("A", 10), ("B", 9), ("C", 3), ("D", 5)):
            for pid in people[name]:
                services.submit(db.session.get(Wave, wave_id), db.session.get(User, pid), {enps: score})
                if name in ("A", "B"):
                    sharing.share_post(db.session.get(Post, post_id), db.session.get(User, pid), "linkedin")
        db.session.commit()
    with app.test_request_context():
        labels = {"departments": {v: k for k, v in depts.items()}, "locations": {}}
        high, low = results.advocacy_insight(db.session.get(Wave, wave_id), labels)
    assert (high.departments, high.responses, round(high.enps), round(high.participation)) == (2, 10, 100, 100)
    assert (low.departments, low.responses, round(low.enps), round(low.participation)) == (2, 10, -100, 0)


def test_a_heatmap_names_people_without_a_department_plainly(app, client, auth, users, answered, factory):
    from app.accounts.models import User as Person

    with app.app_context():  # two Engineering people leave their department: a group without one
        for pid in answered["people"]["Engineering"][:2]:
            db.session.get(Person, pid).department_id = None
        db.session.commit()
    auth.login(users["hr"])
    page = client.get(f"/hr/surveys/{answered['survey_id']}/results").get_data(as_text=True)
    heat = page.split('id="heat-departments"')[1].split("</thead>")[0]
    assert "No department" in heat and "None" not in heat
