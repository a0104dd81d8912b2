"""The HR area: surveys, the builder, launching and waves, results with charts, trends, exports, "you said"."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from app import charts, exports
from app.content.services import ContentError, PostData, create_post
from app.extensions import db
from app.forms import ConfirmForm
from app.inputs import arg_int
from app.org.models import Department, Location
from app.security import roles_required
from app.timeutil import utcnow
from surveys import bp, results, services
from surveys.catalog import KIND_LABELS, TEMPLATES
from surveys.forms import (
    DimensionForm,
    MoveForm,
    NewSurveyForm,
    QuestionForm,
    ReorderForm,
    SettingsForm,
    answer_form,
    you_said_form,
)
from surveys.models import Participation, Question, Survey, Wave, WaveInvitee, YouSaid

hr_required = roles_required("hr")


def _labels() -> dict:
    return {
        "departments": dict(db.session.execute(select(Department.id, Department.name)).all()),
        "locations": dict(db.session.execute(select(Location.id, Location.name)).all()),
    }


def _wave_counts(wave_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(responses, people asked) per wave, two grouped counts."""
    if not wave_ids:
        return {}
    answered = dict(db.session.execute(
        select(Participation.wave_id, func.count()).where(Participation.wave_id.in_(wave_ids))
        .group_by(Participation.wave_id)
    ).all())  # fmt: skip
    asked = dict(db.session.execute(
        select(WaveInvitee.wave_id, func.count()).where(WaveInvitee.wave_id.in_(wave_ids))
        .group_by(WaveInvitee.wave_id)
    ).all())  # fmt: skip
    return {w: (answered.get(w, 0), asked.get(w, 0)) for w in wave_ids}


@bp.route("/hr/")
@hr_required
def hr_home():
    """HR home: every survey with its latest wave, and a way to start one."""
    surveys = db.session.scalars(select(Survey).order_by(Survey.status == "archived", Survey.created_at.desc())).all()
    latest = {s.id: (s.waves[-1] if s.waves else None) for s in surveys}
    counts = _wave_counts([w.id for w in latest.values() if w is not None])
    return render_template("surveys/hr/home.html", surveys=surveys, latest=latest, counts=counts,
                           new_form=NewSurveyForm(formdata=None), templates=TEMPLATES, now=utcnow())  # fmt: skip


@bp.route("/hr/surveys/new", methods=["POST"])
@hr_required
def hr_new_survey():
    """Start a draft, empty or from a template."""
    form = NewSurveyForm()
    if not form.validate_on_submit():
        flash(_("Choose one of the templates."), "error")
        return redirect(url_for("surveys.hr_home"))
    survey = services.create_survey(current_user, form.template.data or "", form.title.data or "")
    db.session.commit()
    flash(_("Draft “%(title)s” created. Check the questions and settings, then launch it.", title=survey.title),
          "success")  # fmt: skip
    return redirect(url_for("surveys.hr_survey", survey_id=survey.id))


def _settings_form(survey: Survey, formdata=True) -> SettingsForm:
    data = SettingsForm.data_of(survey, current_user.timezone)
    form = SettingsForm(data=data) if formdata else SettingsForm(formdata=None, data=data)
    form.department_ids.choices = [
        SelectChoice(d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))
    ]
    form.location_ids.choices = [
        SelectChoice(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]
    return form


def _question_form(question: Question | None = None, formdata=True) -> QuestionForm:
    data = QuestionForm.data_of(question) if question else None
    form = QuestionForm(data=data) if formdata else QuestionForm(formdata=None, data=data)
    form.dimension_id.choices = [SelectChoice("", _("No dimension"))] + [
        SelectChoice(d.id, services.dimension_name(d)) for d in services.dimensions()
    ]
    return form


def _builder(survey: Survey, settings=None, question_form=None, status: int = 200):
    now = utcnow()
    counts = _wave_counts([w.id for w in survey.waves])
    return render_template(
        "surveys/hr/survey.html", survey=survey, settings=settings or _settings_form(survey, formdata=False),
        question_form=question_form or _question_form(formdata=False), editable=not services.has_answers(survey),
        dimension_form=DimensionForm(formdata=None), confirm=ConfirmForm(formdata=None),
        move_form=MoveForm(formdata=None), kinds=KIND_LABELS, counts=counts, now=now,
        dimension_name=services.dimension_name,
    ), status  # fmt: skip


@bp.route("/hr/surveys/<int:survey_id>", methods=["GET", "POST"])
@hr_required
def hr_survey(survey_id: int):
    """The builder: settings, questions, waves; the settings form posts here."""
    survey = db.get_or_404(Survey, survey_id)
    if request.method == "POST":
        form = _settings_form(survey)
        if form.validate_on_submit():
            try:
                services.save_settings(survey, form.settings(current_user.timezone), current_user)
            except services.SurveyError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Settings saved."), "success")
                return redirect(url_for("surveys.hr_survey", survey_id=survey.id))
        survey = db.get_or_404(Survey, survey_id)
        return _builder(survey, settings=form, status=400)
    return _builder(survey)


@bp.route("/hr/surveys/<int:survey_id>/questions", methods=["POST"])
@hr_required
def hr_add_question(survey_id: int):
    """Add a question at the end."""
    survey = db.get_or_404(Survey, survey_id)
    form = _question_form()
    if form.validate_on_submit():
        try:
            services.add_question(survey, form.question())
        except services.SurveyError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Question added."), "success")
            return redirect(url_for("surveys.hr_survey", survey_id=survey.id, _anchor="questions"))
    survey = db.get_or_404(Survey, survey_id)
    return _builder(survey, question_form=form, status=400)


@bp.route("/hr/questions/<int:question_id>", methods=["GET", "POST"])
@hr_required
def hr_question(question_id: int):
    """Edit one question."""
    question = db.get_or_404(Question, question_id)
    form = _question_form(question)
    if form.validate_on_submit():
        try:
            services.update_question(question, form.question())
        except services.SurveyError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Question saved."), "success")
            return redirect(url_for("surveys.hr_survey", survey_id=question.survey_id, _anchor="questions"))
        question = db.get_or_404(Question, question_id)
    status = 400 if form.is_submitted() else 200
    return render_template("surveys/hr/question.html", question=question, form=form,
                           confirm=ConfirmForm(formdata=None)), status  # fmt: skip


def _question_action(question_id: int, action) -> object:
    question = db.get_or_404(Question, question_id)
    survey_id = question.survey_id
    try:
        action(question)
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
    return redirect(url_for("surveys.hr_survey", survey_id=survey_id, _anchor="questions"))


@bp.route("/hr/questions/<int:question_id>/delete", methods=["POST"])
@hr_required
def hr_delete_question(question_id: int):
    """Remove a question (drafts and surveys nobody answered)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _question_action(question_id, services.delete_question)


@bp.route("/hr/questions/<int:question_id>/move", methods=["POST"])
@hr_required
def hr_move_question(question_id: int):
    """Move a question up or down (buttons that work without a mouse)."""
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    return _question_action(question_id, lambda q: services.move_question(q, -1 if form.direction.data == "up" else 1))


@bp.route("/hr/surveys/<int:survey_id>/reorder", methods=["POST"])
@hr_required
def hr_reorder(survey_id: int):
    """The order after a drag and drop (the whole list of question ids)."""
    survey = db.get_or_404(Survey, survey_id)
    form = ReorderForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.reorder(survey, form.order.data or [])
    except services.SurveyError as exc:
        db.session.rollback()
        return str(exc), 409
    db.session.commit()
    return "", 204


@bp.route("/hr/dimensions", methods=["POST"])
@hr_required
def hr_add_dimension():
    """A dimension of HR's own, for questions of any survey."""
    form = DimensionForm()
    survey_id = arg_int("survey", low=1)
    if form.validate_on_submit():
        try:
            dimension = services.add_dimension(form.name.data)
        except services.SurveyError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Dimension “%(name)s” added.", name=dimension.name), "success")
    else:
        flash(_("Give the dimension a name."), "error")
    if survey_id and db.session.get(Survey, survey_id):
        return redirect(url_for("surveys.hr_survey", survey_id=survey_id, _anchor="questions"))
    return redirect(url_for("surveys.hr_home"))


@bp.route("/hr/surveys/<int:survey_id>/preview")
@hr_required
def hr_preview(survey_id: int):
    """The survey as an employee's phone shows it (answers go nowhere)."""
    survey = db.get_or_404(Survey, survey_id)
    return render_template("surveys/preview.html", survey=survey, form=answer_form(survey)(formdata=None),
                           wave=None, error=None, preview=True)  # fmt: skip


def _survey_action(survey_id: int, action, done: str):
    survey = db.get_or_404(Survey, survey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        result = action(survey)
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("surveys.hr_survey", survey_id=survey.id))
    db.session.commit()
    flash(done, "success")
    target = result.id if isinstance(result, Survey) else survey.id
    return redirect(url_for("surveys.hr_survey", survey_id=target))


@bp.route("/hr/surveys/<int:survey_id>/launch", methods=["POST"])
@hr_required
def hr_launch(survey_id: int):
    """Launch a draft: its first wave opens."""
    return _survey_action(survey_id, lambda s: services.launch(s, current_user), _("Launched."))


@bp.route("/hr/surveys/<int:survey_id>/copy", methods=["POST"])
@hr_required
def hr_copy(survey_id: int):
    """A new draft version with the same questions."""
    return _survey_action(survey_id, lambda s: services.copy_survey(s, current_user),
                          _("A new draft version was made; edit it and launch it."))  # fmt: skip


@bp.route("/hr/surveys/<int:survey_id>/archive", methods=["POST"])
@hr_required
def hr_archive(survey_id: int):
    """Archive: open waves close, results stay."""
    return _survey_action(survey_id, lambda s: services.archive(s, current_user), _("Archived."))


def _wave_action(wave_id: int, action, done: str):
    wave = db.get_or_404(Wave, wave_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action(wave, current_user)
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("surveys.hr_survey", survey_id=wave.survey_id, _anchor="waves"))


@bp.route("/hr/waves/<int:wave_id>/close", methods=["POST"])
@hr_required
def hr_close_wave(wave_id: int):
    """Close a wave early."""
    return _wave_action(wave_id, services.close_wave, _("The wave is closed."))


@bp.route("/hr/waves/<int:wave_id>/reopen", methods=["POST"])
@hr_required
def hr_reopen_wave(wave_id: int):
    """Reopen a wave closed early, until its close time."""
    return _wave_action(wave_id, services.reopen_wave, _("The wave is open again."))


def _pick_wave(survey: Survey) -> Wave:
    wave_id = arg_int("wave", low=1)
    now = utcnow()
    started = [w for w in survey.waves if w.opens_at <= now]
    if wave_id is not None:
        wave = next((w for w in survey.waves if w.id == wave_id), None)
        if wave is None:
            abort(404)
        return wave
    if not started:
        abort(404)
    return started[-1]


def _view() -> tuple[str | None, object, str]:
    """The group filter from the query: one department or one location (never both)."""
    if request.args.get("department") is not None:
        value = request.args.get("department")
        return "department_id", (None if value == "none" else arg_int("department", low=1)), "department"
    if request.args.get("location") is not None:
        value = request.args.get("location")
        return "location_id", (None if value == "none" else arg_int("location", low=1)), "location"
    return None, None, ""


def _chart_data(result: results.WaveResult) -> dict:
    """Chart specs for the result page (the one chart helper: app.charts)."""
    out: dict = {}
    if result.enps is not None:
        out["gauge"] = charts.gauge(round(result.enps.score, 1))
        out["enps_split"] = charts.bars(
            [_("Promoters (9-10)"), _("Passives (7-8)"), _("Detractors (0-6)")],
            [round(result.enps.promoters, 1), round(result.enps.passives, 1), round(result.enps.detractors, 1)],
            horizontal=True, percent=True,
        )  # fmt: skip
    if result.dimensions:
        out["dimensions"] = charts.bars(
            [name for name, _s, _c in result.dimensions],
            [round(s.favourable, 1) if s else None for _n, s, _c in result.dimensions], horizontal=True, percent=True,
        )  # fmt: skip
    return out


def _heat(heatmap) -> tuple | None:
    """A results heatmap as the ``heatmap`` macro's rows, columns and cells (eNPS on its own scale)."""
    if heatmap is None:
        return None
    rows, columns, cells = heatmap
    out = []
    for label, line in zip(rows, cells, strict=True):
        lo = -100 if label == "eNPS" else 0
        out.append([
            {"value": None, "note": c.note} if c.value is None
            else {"value": round(c.value), "text": (f"{c.value:+.0f}" if lo else f"{c.value:.0f}%"),
                  "level": charts.heat_level(c.value, lo, 100)}
            for c in line
        ])  # fmt: skip
    return rows, columns, out


@bp.route("/hr/surveys/<int:survey_id>/results")
@hr_required
def hr_results(survey_id: int):
    """One wave's results, for everyone or one department or location, with charts and suppression."""
    survey = db.get_or_404(Survey, survey_id)
    now = utcnow()
    if not any(w.opens_at <= now for w in survey.waves):
        return render_template("surveys/hr/no_results.html", survey=survey)
    wave = _pick_wave(survey)
    by, group, by_name = _view()
    labels = _labels()
    result = results.wave_result(wave, by, group, labels=labels)
    texts = {}
    if not result.hidden:
        for r in result.questions:
            if r.question.kind in ("short_text", "long_text") and r.texts:
                texts[r.question.id] = results.free_texts(wave, r.question, by, group)
    group_name = ""
    if by is not None:
        names = labels["departments" if by == "department_id" else "locations"]
        group_name = names.get(group) or (_("No department") if by == "department_id" else _("No location"))
    insight = results.advocacy_insight(wave, labels) if by is None else []
    db.session.commit()  # a closed wave's counts may just have been kept (``results.cube_of``)
    return render_template(
        "surveys/hr/results.html", survey=survey, wave=wave, result=result, texts=texts, labels=labels,
        by=by_name, group=group, group_name=group_name, charts=_chart_data(result), insight=insight,
        heat_departments=_heat(result.heatmap_departments), heat_locations=_heat(result.heatmap_locations),
        table_rows=charts.table_rows, table_columns=charts.table_columns,
        dim_rows=[[name, f"{s.favourable:.0f}%" if s else None, f"{s.mean:.2f}" if s else None,
                   f"{c:+.0f}" if c is not None else None] for name, s, c in result.dimensions],
        dimension_name=services.dimension_name, now=utcnow(),
    )  # fmt: skip


@bp.route("/hr/surveys/<int:survey_id>/trend")
@hr_required
def hr_trend(survey_id: int):
    """The survey's waves compared: response rate, eNPS and % favourable over time."""
    survey = db.get_or_404(Survey, survey_id)
    points = results.trend(survey)
    labels = [_("Wave %(n)d", n=p.wave.number) for p in points]
    spec = charts.line(labels, [
        (_("eNPS"), [None if p.enps is None else round(p.enps, 1) for p in points]),
        (_("Percent favourable"), [None if p.favourable is None else round(p.favourable, 1) for p in points]),
        (_("Response rate (percent)"), [None if p.rate is None else round(p.rate, 1) for p in points]),
    ], y_min=-100, y_max=100)  # fmt: skip
    dims = sorted({name for p in points for name in p.dimensions})
    return render_template("surveys/hr/trend.html", survey=survey, points=points, spec=spec, dims=dims,
                           labels=labels, table_rows=charts.table_rows, table_columns=charts.table_columns)  # fmt: skip


def _export_name(wave: Wave, what: str, fmt: str) -> str:
    return f"survey-{wave.survey_id}-wave-{wave.number}-{what}.{fmt}"


@bp.route("/hr/waves/<int:wave_id>/export.<fmt>")
@hr_required
def hr_export(wave_id: int, fmt: str):
    """The wave's figures per group as CSV or XLSX (hidden groups stay hidden)."""
    wave = db.get_or_404(Wave, wave_id)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    columns, rows = results.aggregate_rows(wave, _labels())
    db.session.commit()  # a closed wave's counts may just have been kept
    if fmt == "csv":
        return exports.csv_response(_export_name(wave, "results", fmt), columns, rows)
    return exports.xlsx_response(_export_name(wave, "results", fmt), columns, rows, sheet="Results")


@bp.route("/hr/waves/<int:wave_id>/responses.<fmt>")
@hr_required
def hr_export_responses(wave_id: int, fmt: str):
    """One row per person and answer: confidential surveys only (an anonymous one has no such rows)."""
    wave = db.get_or_404(Wave, wave_id)
    if fmt not in ("csv", "xlsx") or wave.survey.anonymous:
        abort(404)
    columns, rows = results.response_rows(wave)
    if fmt == "csv":
        return exports.csv_response(_export_name(wave, "responses", fmt), columns, rows)
    return exports.xlsx_response(_export_name(wave, "responses", fmt), columns, rows, sheet="Responses")


@bp.route("/hr/waves/<int:wave_id>/you-said", methods=["GET", "POST"])
@hr_required
def hr_you_said(wave_id: int):
    """ "You said, we did": what will change, per dimension, published as a post for the wave's audience."""
    wave = db.get_or_404(Wave, wave_id)
    survey = wave.survey
    names = []
    for q in survey.questions:
        name = services.dimension_name(q.dimension)
        if q.dimension is not None and name not in names:
            names.append(name)
    form_class = you_said_form(names)
    form = form_class(data={"title": _("You said, we did: %(title)s", title=survey.title)})
    if form.validate_on_submit():
        parts = [form.intro.data.strip()] if form.intro.data and form.intro.data.strip() else []
        for i, name in enumerate(names):
            text = (getattr(form, f"d{i}").data or "").strip()
            if text:
                parts.append(f"{name}: {text}")
        if not parts:
            form.form_errors.append(_("Write what will change, for at least one dimension."))
        else:
            data = PostData(
                title=form.title.data, url=request.host_url.rstrip("/") + url_for("surveys.inbox"),
                body="\n\n".join(parts), action="publish",
                department_ids=[d.department_id for d in survey.departments],
                location_ids=[loc.location_id for loc in survey.locations],
            )  # fmt: skip
            try:
                post = create_post(data, current_user)
            except ContentError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.add(YouSaid(wave_id=wave.id, post_id=post.id, created_by_id=current_user.id))
                db.session.commit()
                flash(_("Published in the feed for the survey's audience."), "success")
                return redirect(url_for("surveys.hr_results", survey_id=survey.id, wave=wave.id))
    published = db.session.scalars(select(YouSaid).where(YouSaid.wave_id == wave.id)).all()
    status = 400 if form.is_submitted() else 200
    return render_template("surveys/hr/you_said.html", wave=wave, survey=survey, form=form, names=names,
                           published=published), status  # fmt: skip
