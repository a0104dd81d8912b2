"""Surveys in Chromium: an employee answers a pulse on a phone (offline too), HR builds one and reads the results.

1. On a 390 × 844 phone an employee sees the Surveys tab's badge, opens an eNPS pulse, is told
   it is anonymous, answers one question per screen with the keyboard (big tap targets, a
   progress bar, Back and Next; Enter on a score goes on rather than sending), closes the page
   and finds the answer kept, sends the answers while offline (nothing reaches the server) and
   sees them go out on reconnect: one participation, one response, 20 points in the ledger,
   "+20 points" on the thank-you screen. Answers kept unsent on the phone go out when Herald
   next opens online (the survey itself, or any other page).
2. On a desktop HR starts a survey from the "Employee satisfaction" template and launches it;
   once three departments answered (one of them too small to show), the result page draws its
   charts and a heatmap whose small department says "Fewer than 5 answers".
3. axe finds nothing on any survey page, light or dark; 4. none of them breaks the CSP.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from app.gamification.models import PointEntry
from surveys import services
from surveys.models import Answer, Participation, Response, Survey, Wave
from tests.helpers import balance

from .helpers import PASSWORD, WCAG_TAGS, describe, run_axe, sign_in, wait_until

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PULSE = "eNPS pulse"


def errors(console) -> list[str]:
    return [m for m in console.messages if m.startswith(("error", "pageerror"))]


def launch(app, hr_id: int, template: str) -> tuple[int, int]:
    """A survey made from ``template`` and launched now, through the services: (survey id, wave id)."""
    with app.test_request_context(method="POST"):
        hr = db.session.get(User, hr_id)
        survey = services.create_survey(hr, template)
        wave = services.launch(survey, hr)
        db.session.commit()
        return survey.id, wave.id


def counts(app, wave_id: int, user_id: int) -> tuple[int, int, int, int]:
    """(participations, responses, answers, survey points in the ledger) for the wave."""
    with app.app_context():
        one = db.session.scalar
        result = (
            one(select(func.count()).select_from(Participation).where(Participation.wave_id == wave_id)),
            one(select(func.count()).select_from(Response).where(Response.wave_id == wave_id)),
            one(select(func.count()).select_from(Answer).where(Answer.wave_id == wave_id)),
            one(select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
                PointEntry.idempotency_key == f"survey:{wave_id}:{user_id}")),
        )  # fmt: skip
        db.session.remove()
        return result


def test_employee_answers_a_pulse_on_the_phone_offline_and_sends_it_on_reconnect(
    app, context, page, live_server, factory, console
):
    hr = factory.user("hana@example.com", "Hana HR", roles=("employee", "hr"))
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    _survey_id, wave_id = launch(app, hr, "enps_pulse")
    url = f"{live_server.url}/surveys/{wave_id}"

    # 1. The Surveys tab carries a badge: one survey waiting.
    sign_in(page, live_server, "erin@example.com")
    app.config["WTF_CSRF_ENABLED"] = True  # signed in: from here on the answers carry a real token, as in production
    page.goto(live_server.url + "/feed")
    tabs = page.get_by_role("navigation", name="Main")
    surveys_tab = tabs.get_by_role("link", name="Surveys 1 survey waiting")
    expect(surveys_tab.locator("[data-surveys-waiting]")).to_contain_text("1")
    surveys_tab.tap()
    expect(page).to_have_url(live_server.url + "/surveys")
    waiting = page.get_by_role("list", name="Waiting for your answers").get_by_role("listitem")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text(PULSE)
    expect(waiting).to_contain_text("2 questions")
    expect(waiting).to_contain_text("+20 points")
    waiting.get_by_role("link").tap()
    expect(page).to_have_url(url)

    # 2. The intro says in plain words that the survey is anonymous; nothing else shows before Start.
    expect(page.get_by_role("heading", name=PULSE, level=1)).to_be_visible()
    intro = page.locator("[data-survey-intro]")
    expect(intro).to_contain_text("This survey is anonymous.")
    expect(intro).to_contain_text("nobody, HR included, can see what you answered")
    start = page.get_by_role("button", name="Start")
    back = page.get_by_role("button", name="Back")
    next_ = page.get_by_role("button", name="Next")
    send = page.get_by_role("button", name="Send answers")
    progress = page.locator("progress")
    expect(start).to_be_visible()
    for hidden in (back, next_, send, progress, page.locator("fieldset.survey-step")):
        expect(hidden.first).to_be_hidden()
    start.tap()

    # 3. The first question: a progress bar, Next without Back, eleven big tap targets.
    step1 = page.locator("#step-1")
    expect(step1).to_be_visible()
    expect(intro).to_be_hidden()
    expect(page.locator("#step-2")).to_be_hidden()
    expect(progress).to_be_visible()
    expect(progress).to_have_js_property("value", 1)
    expect(progress).to_have_js_property("max", 2)
    expect(page.locator("[data-survey-step-label]")).to_have_text("Question 1 of 2")
    expect(next_).to_be_visible()
    expect(back).to_be_hidden()
    expect(send).to_be_hidden()
    options = step1.locator(".scale-option")
    expect(options).to_have_count(11)
    for box in (options.nth(i).bounding_box() for i in range(11)):
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box

    # Next without an answer says what is missing and stays.
    next_.tap()
    expect(page.locator("[data-survey-status]")).to_have_text("Please answer this question to go on.")
    expect(step1).to_be_visible()

    # 4. The keyboard: Tab into the radio group, Space picks 0, the arrow keys move to 9.
    page.locator("#step-1 legend").focus()
    page.keyboard.press("Tab")
    expect(step1.get_by_role("radio", name="0", exact=True)).to_be_focused()
    page.keyboard.press("Space")
    expect(step1.get_by_role("radio", name="0", exact=True)).to_be_checked()
    expect(page.locator("[data-survey-status]")).to_have_text("")  # answered: the reminder goes
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    nine = step1.get_by_role("radio", name="9", exact=True)
    expect(nine).to_be_checked()
    expect(nine).to_be_focused()

    # 5. Close the page mid-survey and open it again: the answer is still chosen.
    page.close()
    page = context.new_page()
    page.goto(url)
    step1 = page.locator("#step-1")
    expect(step1).to_be_visible()
    expect(step1.get_by_role("radio", name="9", exact=True)).to_be_checked()
    back = page.get_by_role("button", name="Back")
    next_ = page.get_by_role("button", name="Next")
    send = page.get_by_role("button", name="Send answers")
    progress = page.locator("progress")

    # 6. Enter on the chosen score goes to the next question (it does not send the survey); Back and Next.
    step1.get_by_role("radio", name="9", exact=True).focus()
    page.keyboard.press("Enter")
    step2 = page.locator("#step-2")
    expect(step2).to_be_visible()
    expect(step1).to_be_hidden()
    expect(progress).to_have_js_property("value", 2)
    expect(page.locator("[data-survey-step-label]")).to_have_text("Question 2 of 2")
    expect(next_).to_be_hidden()
    expect(back).to_be_visible()
    expect(send).to_be_visible()
    assert counts(app, wave_id, erin) == (0, 0, 0, 0)
    back.tap()
    expect(step1).to_be_visible()
    expect(step1.get_by_role("radio", name="9", exact=True)).to_be_checked()
    next_.tap()
    step2.get_by_role("textbox").fill("Good people")

    # 7. Offline: "Send answers" keeps them on the phone and says so; nothing reaches the server.
    context.set_offline(True)
    send.tap()
    expect(page.locator("[data-survey-status]")).to_have_text(
        "You are offline. Your answers are kept on this phone and will be sent when you are back online."
    )
    assert counts(app, wave_id, erin) == (0, 0, 0, 0)
    assert page.evaluate(f"JSON.parse(localStorage.getItem('herald-survey-{wave_id}')).pending") is True

    # 8. Back online: the phone sends them by itself and shows the thank-you screen.
    context.set_offline(False)
    expect(page).to_have_url(f"{url}/thanks")
    expect(page.get_by_role("heading", name="Thank you!", level=1)).to_be_visible()
    expect(page.locator(".survey-points")).to_have_text("+20 points")
    assert counts(app, wave_id, erin) == (1, 1, 2, 20)
    assert balance(app, erin) == 20
    assert page.evaluate(f"localStorage.getItem('herald-survey-{wave_id}')") is None
    tabs = page.get_by_role("navigation", name="Main")
    expect(tabs.get_by_role("link", name="Surveys", exact=True)).to_be_visible()  # no badge any more
    expect(tabs.get_by_role("link", name="Me").locator(".pill")).to_have_text("20")

    # The Surveys tab lists it as answered.
    tabs.get_by_role("link", name="Surveys", exact=True).tap()
    expect(page.get_by_role("heading", name="No surveys for you right now")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("listitem").filter(has_text=PULSE)).to_contain_text("Done")
    assert errors(console) == []


# What "Send answers" offline leaves on the phone (the test above checks it), here without going offline:
# leaving a page while Chromium emulates offline can show the page "online" for an instant.
MARK_PENDING = """(waves) => waves.forEach((wave) => {
    const key = `herald-survey-${wave}`;
    localStorage.setItem(key, JSON.stringify({...JSON.parse(localStorage.getItem(key)), pending: true}));
})"""
KEPT = "() => Object.keys(localStorage).filter((key) => key.startsWith('herald-survey-')).sort()"


def test_answers_kept_unsent_on_the_phone_go_out_when_herald_next_opens(app, page, live_server, factory, console):
    """Answers kept on the phone, unsent, for three surveys: the Surveys tab sends two of them, both, and
    says so; opening the third survey online sends its answers and shows the thank-you screen."""
    hr = factory.user("hana@example.com", "Hana HR", roles=("employee", "hr"))
    erin = factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    waves = [launch(app, hr, "enps_pulse")[1] for _ in range(3)]
    sign_in(page, live_server, "erin@example.com")
    for wave_id, score in zip(waves, ("6", "8", "10"), strict=True):
        page.goto(f"{live_server.url}/surveys/{wave_id}")
        page.get_by_role("button", name="Start").tap()
        page.locator("#step-1 label", has_text=score).tap()
        page.get_by_role("button", name="Next").tap()
        expect(page.get_by_role("button", name="Send answers")).to_be_visible()
    page.evaluate(MARK_PENDING, waves[1:])
    assert page.evaluate(KEPT) == [f"herald-survey-{w}" for w in waves]
    assert [counts(app, w, erin)[0] for w in waves] == [0, 0, 0]

    page.goto(live_server.url + "/surveys")
    expect(page.locator("[data-survey-pending]")).to_have_text("Answers you gave offline were sent. Thank you!")
    wait_until(page, f"() => ({KEPT})().length === 1")
    assert page.evaluate(KEPT) == [f"herald-survey-{waves[0]}"]  # answered, not sent: it stays
    assert [counts(app, w, erin) for w in waves] == [(0, 0, 0, 0), (1, 1, 1, 20), (1, 1, 1, 20)]

    page.evaluate(MARK_PENDING, waves[:1])
    page.goto(f"{live_server.url}/surveys/{waves[0]}")
    expect(page).to_have_url(f"{live_server.url}/surveys/{waves[0]}/thanks")
    assert page.evaluate(KEPT) == []
    assert [counts(app, w, erin) for w in waves] == [(1, 1, 1, 20)] * 3
    assert balance(app, erin) == 60
    assert errors(console) == []


ALL_DRAWN = """() => {
    const canvases = [...document.querySelectorAll('canvas[data-chart]')];
    return canvases.length > 0 && canvases.every((c) => window.Chart && Chart.getChart(c) && c.dataset.chartReady);
}"""
# Each chart's label and how many of its pixels are painted (a chart that failed to draw stays transparent).
PAINTED = """() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return [c.getAttribute('aria-label'), painted];
})"""


def staff(factory, sizes: dict[str, int]) -> dict[str, list[int]]:
    """People in departments: {department name: [user ids]}."""
    people = {}
    for name, n in sizes.items():
        dept = factory.department(name)
        people[name] = [factory.user(f"{name.lower()}{i}@example.com", f"{name} {i}", department_id=dept)
                        for i in range(n)]  # fmt: skip
    return people


def answer_all(app, wave_id: int, people: dict[str, list[int]], scores: dict[str, tuple[int, int]]) -> None:
    """Everyone answers through ``services.submit``: (eNPS score, agreement 1-5) per department."""
    with app.test_request_context(method="POST"):
        wave = db.session.get(Wave, wave_id)
        for name, ids in people.items():
            enps, likert = scores[name]
            for user_id in ids:
                given = {q.id: enps if q.kind == "enps" else likert for q in wave.survey.questions
                         if q.kind in ("enps", "likert", "rating")}  # fmt: skip
                services.submit(wave, db.session.get(User, user_id), given)
        db.session.commit()


def test_hr_builds_a_survey_from_a_template_launches_it_and_reads_the_results(
    app, browser, live_server, factory, console
):
    factory.user("hana@example.com", "Hana HR", roles=("employee", "hr"), password=PASSWORD)
    people = staff(factory, {"Engineering": 6, "Sales": 5, "Legal": 2})
    desk = browser.new_context(**DESKTOP)
    desk.on("console", console.on_console)
    desk.on("weberror", lambda web_error: console.on_page_error(web_error.error))
    try:
        page = desk.new_page()
        sign_in(page, live_server, "hana@example.com")
        page.goto(live_server.url + "/feed")

        # 1. HR → New survey → "Employee satisfaction" → Create draft.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="HR").click()
        expect(page).to_have_url(live_server.url + "/hr/")
        expect(page.get_by_role("heading", name="No surveys yet")).to_be_visible()
        new = page.get_by_role("region", name="New survey")
        new.get_by_role("radio", name=re.compile(r"^Employee satisfaction")).check()
        new.get_by_role("button", name="Create draft").click()
        expect(page).to_have_url(re.compile(r"/hr/surveys/\d+$"))
        survey_id = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_role("status")).to_contain_text("Draft “Employee satisfaction” created.")
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Employee satisfaction\s+Draft$"))
        questions = page.locator(".question-list > li")
        expect(questions).to_have_count(14)
        expect(questions.first).to_contain_text("I receive recognition when I do good work.")

        # 2. Launch: wave 1 opens for everyone.
        page.get_by_role("button", name="Launch").click()
        expect(page.get_by_role("status")).to_contain_text("Launched.")
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Launched$"))
        waves = page.get_by_role("region", name="Waves").get_by_role("listitem")
        expect(waves).to_have_count(1)
        expect(waves).to_contain_text("0 responses of 14 asked")
        with app.app_context():
            survey = db.session.get(Survey, survey_id)
            assert (survey.status, survey.template, len(survey.waves)) == ("live", "satisfaction", 1)
            wave_id = survey.waves[0].id
            db.session.remove()

        # 3. Three departments answer; Legal (2 people) is below the threshold of 5.
        answer_all(app, wave_id, people, {"Engineering": (10, 5), "Sales": (8, 4), "Legal": (3, 2)})

        # 4. The results: figures, charts drawn, the heatmap with Legal hidden.
        page.get_by_role("navigation", name="Survey sections").get_by_role("link", name="Results").click()
        expect(page).to_have_url(f"{live_server.url}/hr/surveys/{survey_id}/results")
        responses = page.locator(".stats .stat").first
        expect(responses.locator("strong")).to_have_text("13")
        expect(responses).to_contain_text("93% of 14 asked")
        wait_until(page, ALL_DRAWN)
        wait_until(page, f"() => ({PAINTED})().every(([, painted]) => painted > 200)")
        labels = [label for label, _ in page.evaluate(PAINTED)]
        assert labels == ["eNPS: +30.8", "Promoters, passives and detractors", "% favourable by dimension"], labels
        heat = page.get_by_role("table", name="Dimensions by department")
        # Hana (HR, no department) was asked too and did not answer: the last column.
        expect(heat.locator("thead th")).to_have_text(["Engineering", "Legal", "Sales", "No department"])
        legal = heat.locator("tbody tr td:nth-of-type(2)")
        expect(legal.first).to_have_text("Fewer than 5 answers")
        assert set(legal.all_text_contents()) == {"Fewer than 5 answers"}
        engineering = heat.locator("tbody tr td:nth-of-type(1)")
        expect(engineering.first).to_have_text(re.compile(r"^[+-]?\d+%?$"))
    finally:
        desk.close()
    assert errors(console) == []


# --- every survey page: axe (light and dark) and the CSP ----------------------------------------


def build_surveys(app, hr_id: int, people: dict[str, list[int]]) -> dict:
    """What the survey pages need: a satisfaction survey answered by ``people`` (Legal too few), an eNPS pulse
    waiting, an onboarding check-in closed early and an advocacy feedback draft."""
    satisfaction, satisfaction_wave = launch(app, hr_id, "satisfaction")
    answer_all(app, satisfaction_wave, people, {"Engineering": (10, 5), "Sales": (6, 3), "Legal": (8, 4)})
    pulse, pulse_wave = launch(app, hr_id, "enps_pulse")
    _onboarding, closed_wave = launch(app, hr_id, "onboarding")
    with app.test_request_context(method="POST"):
        hr = db.session.get(User, hr_id)
        services.close_wave(db.session.get(Wave, closed_wave), hr)
        draft = services.create_survey(hr, "advocacy_feedback")
        db.session.commit()
        ids = {"draft": draft.id, "question": draft.questions[0].id}
        db.session.remove()
    return {
        "satisfaction": satisfaction, "satisfaction_wave": satisfaction_wave, "pulse": pulse, "pulse_wave": pulse_wave,
        "closed_wave": closed_wave, "legal": _department_id(app, "Legal"), **ids,
    }  # fmt: skip


def _department_id(app, name: str) -> int:
    from app.org.models import Department

    with app.app_context():
        found = db.session.scalar(select(Department.id).where(Department.name == name))
        db.session.remove()
        return found


def open_page(page, url: str) -> None:
    """Go to ``url`` under Herald's strict CSP; wait for its charts when it has any."""
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    assert "script-src 'self'" in response.headers.get("content-security-policy", ""), url
    if page.locator("canvas[data-chart]").count():
        wait_until(page, ALL_DRAWN)


def walk_survey_pages(app, factory, live_server, phone, desk, check) -> None:
    """Every survey page an employee (``phone``) and HR (``desk``) see, calling ``check(page, what)`` on each."""
    hr = factory.user("hana@example.com", "Hana HR", roles=("employee", "hr"), password=PASSWORD)
    people = staff(factory, {"Engineering": 6, "Sales": 5, "Legal": 2})
    factory.user("erin@example.com", "Erin Employee", password=PASSWORD)
    employee, manager = phone.new_page(), desk.new_page()
    sign_in(employee, live_server, "erin@example.com")
    sign_in(manager, live_server, "hana@example.com")
    base = live_server.url

    # The employee: the Surveys tab empty, then with surveys waiting; a pulse answered; a closed survey.
    open_page(employee, base + "/surveys")
    expect(employee.get_by_role("heading", name="No surveys for you right now")).to_be_visible()
    check(employee, "the Surveys tab without surveys")
    ids = build_surveys(app, hr, people)
    open_page(employee, base + "/surveys")
    expect(employee.get_by_role("list", name="Waiting for your answers").get_by_role("listitem")).to_have_count(2)
    check(employee, "the Surveys tab with surveys waiting")
    open_page(employee, f"{base}/surveys/{ids['pulse_wave']}")
    check(employee, "a survey's intro")
    employee.get_by_role("button", name="Start").click()
    employee.locator("#step-1 label", has_text="7").click()
    expect(employee.get_by_role("radio", name="7", exact=True)).to_be_checked()
    check(employee, "a survey question")
    employee.get_by_role("button", name="Next").click()
    expect(employee.locator("#step-2")).to_be_visible()
    check(employee, "a survey's last question")
    employee.get_by_role("button", name="Send answers").click()
    expect(employee).to_have_url(f"{base}/surveys/{ids['pulse_wave']}/thanks")
    check(employee, "the thank-you screen")
    open_page(employee, f"{base}/surveys/{ids['closed_wave']}")
    expect(employee.get_by_role("main")).to_contain_text("This survey is closed.")
    check(employee, "a closed survey")

    # HR: home, the builder (a draft and a launched survey), a question, the preview, results, trend, "you said".
    for path, what in [
        ("/hr/", "HR home"),
        (f"/hr/surveys/{ids['draft']}", "the builder of a draft"),
        (f"/hr/surveys/{ids['satisfaction']}", "the builder of a launched survey"),
        (f"/hr/questions/{ids['question']}", "a question's edit page"),
        (f"/hr/surveys/{ids['draft']}/preview", "the preview"),
    ]:
        open_page(manager, base + path)
        check(manager, what)
    manager.get_by_role("button", name="Start").click()
    expect(manager.locator("#step-1")).to_be_visible()
    check(manager, "a question in the preview")
    open_page(manager, f"{base}/hr/surveys/{ids['satisfaction']}/results")
    expect(manager.locator("td.heat-hidden", has_text="Fewer than 5 answers").first).to_be_visible()
    for summary in manager.locator("details.chart-data summary").all():
        summary.click()
    check(manager, "the results with charts, a heatmap and hidden groups")
    open_page(manager, f"{base}/hr/surveys/{ids['satisfaction']}/results?department={ids['legal']}")
    expect(manager.get_by_role("heading", name="Hidden to protect anonymity")).to_be_visible()
    check(manager, "the results of a group too small to show")
    for path, what in [
        (f"/hr/surveys/{ids['satisfaction']}/trend", "the trend"),
        (f"/hr/waves/{ids['satisfaction_wave']}/you-said", "you said, we did"),
    ]:
        open_page(manager, base + path)
        check(manager, what)


def axe_check(page, what: str) -> None:
    """No axe violations (WCAG 2.1 A/AA nor best practice), light and dark."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        if page.locator("canvas[data-chart]").count():
            wait_until(page, ALL_DRAWN)  # a scheme change redraws the charts
        violations = run_axe(page)
        wcag = [v for v in violations if set(v["tags"]) & set(WCAG_TAGS)]
        assert not wcag, f"WCAG violations on {what} ({scheme}):\n{describe(wcag)}"
        assert not violations, f"best-practice violations on {what} ({scheme}):\n{describe(violations)}"


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
def test_every_survey_page_passes_axe_light_and_dark(app, browser, context, live_server, factory):
    desk = browser.new_context(**DESKTOP, bypass_csp=True)
    try:
        walk_survey_pages(app, factory, live_server, context, desk, axe_check)
    finally:
        desk.close()


def test_no_survey_page_breaks_the_content_security_policy(app, browser, context, live_server, factory, console):
    desk = browser.new_context(**DESKTOP)
    desk.on("console", console.on_console)
    desk.on("weberror", lambda web_error: console.on_page_error(web_error.error))
    seen = []
    try:
        walk_survey_pages(app, factory, live_server, context, desk, lambda page, what: seen.append(what))
    finally:
        desk.close()
    assert len(seen) == 17
    assert console.csp_violations() == []
    assert errors(console) == []
