"""The Surveys tab: surveys waiting for me, answering one question per screen, the thank-you screen."""

from __future__ import annotations

from flask import abort, redirect, render_template, url_for
from flask_login import current_user

from app.database import begin_writes, deferred_write
from app.extensions import db, htmx
from app.security import login_required
from app.timeutil import utcnow
from surveys import bp, services
from surveys.forms import answer_form, answers_of
from surveys.models import Wave, WaveInvitee


@bp.route("/surveys")
@login_required
def inbox():
    """The Surveys tab: open surveys for me with time left and points; the ones I answered."""
    now = utcnow()
    return render_template(
        "surveys/inbox.html", waiting=services.open_waves(current_user, now),
        answered=services.answered_waves(current_user), now=now,
    )  # fmt: skip


def _wave_for_me(wave_id: int) -> Wave:
    """The wave, if it asks me: my row in its audience snapshot says so, else the survey's audience now."""
    wave = db.get_or_404(Wave, wave_id)
    if wave.survey.status == "draft":
        abort(404)
    if db.session.get(WaveInvitee, (wave.id, current_user.id)) is None and not services.in_audience(
        wave.survey, current_user
    ):
        abort(404)
    return wave


@bp.route("/surveys/<int:wave_id>", methods=["GET", "POST"])
@login_required
@deferred_write  # the person, wave, questions and form are read before SQLite's write lock is taken
def answer(wave_id: int):
    """Answer a survey: the privacy note first, then one question per screen (all on one page without JavaScript)."""
    wave = _wave_for_me(wave_id)
    survey = wave.survey
    now = utcnow()
    form = answer_form(survey)()
    # A repeat POST needs no look: submit's participation insert finds it (one statement fewer).
    if not form.is_submitted() and services.participation_of(wave, current_user) is not None:
        return redirect(url_for("surveys.thanks", wave_id=wave_id))
    error = None
    if not wave.is_open(now) or survey.status != "live":
        return render_template(
            "surveys/closed.html", wave=wave, survey=survey, now=now
        ), 410 if form.is_submitted() else 200
    if form.validate_on_submit():
        given = answers_of(form, survey)
        begin_writes(db.session)  # submit's participation key decides a race, not what was read above
        try:
            services.submit(wave, current_user, given, now)
        except services.SurveyError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()  # wave_id, not wave.id: reading the expired wave again costs a query
            if htmx:
                return "", 204, {"HX-Redirect": url_for("surveys.thanks", wave_id=wave_id)}
            return redirect(url_for("surveys.thanks", wave_id=wave_id))
    elif form.is_submitted():
        error = next(iter(form.errors.values()))[0] if form.errors else None
    status = 400 if form.is_submitted() else 200
    return render_template("surveys/answer.html", wave=wave, survey=survey, form=form, error=error,
                           preview=False), status  # fmt: skip


@bp.route("/surveys/<int:wave_id>/thanks")
@login_required
def thanks(wave_id: int):
    """The thank-you screen with the points my participation earned."""
    wave = _wave_for_me(wave_id)
    if services.participation_of(wave, current_user) is None:
        return redirect(url_for("surveys.answer", wave_id=wave.id))
    return render_template("surveys/thanks.html", wave=wave, survey=wave.survey,
                           points=services.points_earned(wave, current_user))  # fmt: skip


@bp.app_template_filter("format_day")
def format_day(value) -> str:
    """A date in the viewer's language (medium length)."""
    from flask_babel import format_date

    return format_date(value, "medium") if value else ""
