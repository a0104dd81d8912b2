"""Building, launching and answering surveys; waves, reminders and the Surveys tab's badge.

See the package docstring for what anonymity means here; ``submit`` is where it is kept.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import and_, exists, func, insert, literal, select, update

from app import audit, events, rawsql
from app.accounts.models import User
from app.audience import Audience
from app.extensions import db
from app.gamification.periods import local_date, program_timezone
from app.gamification.rules import get_rules
from app.timeutil import utcnow
from surveys.catalog import BUILTIN_DIMENSIONS, ENPS_TEXT, TEMPLATES
from surveys.models import (
    CHOICE_KINDS,
    MIN_THRESHOLD,
    QUESTION_KINDS,
    RECURRENCES,
    SCALE_KINDS,
    TEXT_KINDS,
    Answer,
    Participation,
    Question,
    Response,
    Survey,
    SurveyDepartment,
    SurveyDimension,
    SurveyLocation,
    Wave,
    WaveInvitee,
)

MAX_QUESTIONS = 60
MAX_OPTIONS = 20
SHORT_TEXT = 200
LONG_TEXT = 2000
# Waves shorter than this keep no date at all on a response (one day of answers is too telling).
DATED_WAVE = timedelta(days=3)
MAX_WAVE = timedelta(days=366)

audience = Audience(
    Survey.audience_all,
    Survey.id,
    SurveyDepartment.survey_id,
    SurveyDepartment.department_id,
    SurveyLocation.survey_id,
    SurveyLocation.location_id,
)


class SurveyError(ValueError):
    """A user-facing problem (the message is translated)."""


# --- dimensions --------------------------------------------------------------------------------


def ensure_dimensions() -> None:
    """Create the built-in dimensions once (an upsert: concurrent callers agree)."""
    dialect = db.session.get_bind().dialect.name
    rows = [{"key": key, "name": "", "builtin": True, "created_at": utcnow()} for key in BUILTIN_DIMENSIONS]
    stmt = rawsql.dialect_insert(dialect)(SurveyDimension.__table__).values(rows)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


def dimensions() -> list[SurveyDimension]:
    """Every dimension, built-in ones first (they exist once a survey was created: ``create_survey``)."""
    return list(
        db.session.scalars(select(SurveyDimension).order_by(SurveyDimension.builtin.desc(), SurveyDimension.id))
    )


def dimension_name(dimension: SurveyDimension | None) -> str:
    if dimension is None:
        return _("Other")
    if dimension.builtin and dimension.key in BUILTIN_DIMENSIONS:
        return str(BUILTIN_DIMENSIONS[dimension.key])
    return dimension.name


def add_dimension(name: str) -> SurveyDimension:
    ensure_dimensions()
    name = " ".join(name.split())[:80]
    if not name:
        raise SurveyError(_("Give the dimension a name."))
    taken = {dimension_name(d).casefold() for d in dimensions()}
    if name.casefold() in taken:
        raise SurveyError(_("There is a dimension with that name already."))
    key = "custom-" + secrets.token_hex(6)
    dimension = SurveyDimension(key=key, name=name, builtin=False)
    db.session.add(dimension)
    db.session.flush()
    return dimension


def company_name() -> str:
    return current_app.config.get("COMPANY_NAME") or _("our company")


# --- building ----------------------------------------------------------------------------------


def has_answers(survey: Survey) -> bool:
    """Whether any wave of the survey has a participation (its questions are frozen from then on)."""
    return bool(
        db.session.scalar(select(exists().where(Participation.wave_id == Wave.id, Wave.survey_id == survey.id)))
    )


def _check_editable(survey: Survey) -> None:
    if survey.status == "archived":
        raise SurveyError(_("This survey is archived."))
    if has_answers(survey):
        raise SurveyError(_("People have answered this survey: its questions cannot change. Make a new version."))


def create_survey(actor: User | None, template_key: str = "", title: str = "") -> Survey:
    """A draft survey, empty or from a template (questions, recurrence and window from the template)."""
    ensure_dimensions()
    template = TEMPLATES.get(template_key)
    if template_key and template is None:
        raise SurveyError(_("Unknown template."))
    rules = get_rules()["points"]
    survey = Survey(
        title=(title or (str(template.title) if template else _("Untitled survey")))[:120],
        intro=str(template.intro) if template else "",
        template=template_key,
        recurrence=template.recurrence if template else "once",
        points=rules.get("survey", 20),
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(survey)
    db.session.flush()
    if template:
        keys = {d.key: d.id for d in dimensions()}
        for position, q in enumerate(template.questions):
            text = str(q.text) % {"company": company_name()} if q.text is ENPS_TEXT else str(q.text)
            db.session.add(
                Question(
                    survey_id=survey.id, position=position, kind=q.kind, text=text, required=q.required,
                    dimension_id=keys.get(q.dimension) if q.dimension else None,
                    options=[str(o) for o in q.options] or None,
                )
            )  # fmt: skip
    audit.record("survey_created", actor, survey, template=template_key)
    db.session.flush()
    db.session.refresh(survey)
    return survey


def copy_survey(survey: Survey, actor: User | None) -> Survey:
    """A new draft version with the same questions and settings (the way to change a survey with answers)."""
    copy = Survey(
        title=survey.title, intro=survey.intro, anonymous=survey.anonymous, audience_all=survey.audience_all,
        recurrence=survey.recurrence, points=survey.points, threshold=survey.threshold,
        reminders=survey.reminders, template=survey.template, version=survey.version + 1,
        copied_from_id=survey.id, created_by_id=getattr(actor, "id", None),
    )  # fmt: skip
    copy.departments = [SurveyDepartment(department_id=d.department_id) for d in survey.departments]
    copy.locations = [SurveyLocation(location_id=loc.location_id) for loc in survey.locations]
    db.session.add(copy)
    db.session.flush()
    for q in survey.questions:
        db.session.add(
            Question(
                survey_id=copy.id, position=q.position, kind=q.kind, text=q.text, help=q.help,
                required=q.required, dimension_id=q.dimension_id, options=list(q.options or []) or None,
            )
        )  # fmt: skip
    audit.record("survey_copied", actor, copy, source=survey.id)
    db.session.flush()
    db.session.refresh(copy)
    return copy


@dataclass
class QuestionData:
    kind: str
    text: str
    help: str = ""
    required: bool = True
    dimension_id: int | None = None
    options: list[str] = field(default_factory=list)


def _clean_question(data: QuestionData) -> QuestionData:
    if data.kind not in QUESTION_KINDS:
        raise SurveyError(_("Unknown question type."))
    data.text = " ".join(data.text.split())[:300]
    if not data.text:
        raise SurveyError(_("Write the question."))
    data.help = " ".join(data.help.split())[:300]
    if data.kind in CHOICE_KINDS:
        options = [" ".join(o.split())[:120] for o in data.options]
        data.options = [o for o in options if o]
        if len(data.options) < 2:
            raise SurveyError(_("A choice question needs at least two options, one per line."))
        if len(data.options) > MAX_OPTIONS:
            raise SurveyError(_("At most %(n)d options.", n=MAX_OPTIONS))
        if len({o.casefold() for o in data.options}) != len(data.options):
            raise SurveyError(_("Each option must be different."))
    else:
        data.options = []
    if data.dimension_id is not None and db.session.get(SurveyDimension, data.dimension_id) is None:
        raise SurveyError(_("Unknown dimension."))
    return data


def add_question(survey: Survey, data: QuestionData) -> Question:
    _check_editable(survey)
    data = _clean_question(data)
    if len(survey.questions) >= MAX_QUESTIONS:
        raise SurveyError(_("A survey has at most %(n)d questions.", n=MAX_QUESTIONS))
    position = max((q.position for q in survey.questions), default=-1) + 1
    question = Question(
        survey_id=survey.id, position=position, kind=data.kind, text=data.text, help=data.help,
        required=data.required, dimension_id=data.dimension_id, options=data.options or None,
    )  # fmt: skip
    db.session.add(question)
    db.session.flush()
    db.session.expire(survey, ["questions"])
    return question


def update_question(question: Question, data: QuestionData) -> Question:
    _check_editable(question.survey)
    data = _clean_question(data)
    question.kind, question.text, question.help = data.kind, data.text, data.help
    question.required, question.dimension_id = data.required, data.dimension_id
    question.options = data.options or None
    db.session.flush()
    return question


def delete_question(question: Question) -> None:
    survey = question.survey
    _check_editable(survey)
    db.session.delete(question)
    db.session.flush()
    db.session.expire(survey, ["questions"])
    _renumber(survey, list(survey.questions))


def _renumber(survey: Survey, ordered: list[Question]) -> None:
    for position, q in enumerate(ordered):
        q.position = position
    db.session.flush()


def move_question(question: Question, step: int) -> None:
    """Up (-1) or down (+1) by one place; at an end nothing changes."""
    survey = question.survey
    _check_editable(survey)
    ordered = list(survey.questions)
    i = ordered.index(question)
    j = i + (1 if step > 0 else -1)
    if 0 <= j < len(ordered):
        ordered[i], ordered[j] = ordered[j], ordered[i]
        _renumber(survey, ordered)


def reorder(survey: Survey, ids: list[int]) -> None:
    """Put the questions in this order (drag and drop sends the whole list)."""
    _check_editable(survey)
    by_id = {q.id: q for q in survey.questions}
    if sorted(ids) != sorted(by_id):
        raise SurveyError(_("The list of questions changed meanwhile; reload the page."))
    _renumber(survey, [by_id[i] for i in ids])


@dataclass
class SettingsData:
    title: str
    intro: str = ""
    anonymous: bool = True
    department_ids: list[int] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    recurrence: str = "once"
    points: int = 20
    threshold: int = 5
    reminders: bool = True


def save_settings(survey: Survey, data: SettingsData, actor: User | None) -> Survey:
    """Change a survey's settings. Anonymity and the threshold are guarded once answers exist."""
    if survey.status == "archived":
        raise SurveyError(_("This survey is archived."))
    title = " ".join(data.title.split())[:120]
    if not title:
        raise SurveyError(_("Give the survey a title."))
    if data.recurrence not in RECURRENCES:
        raise SurveyError(_("Unknown recurrence."))
    if data.threshold < MIN_THRESHOLD:
        raise SurveyError(_("The anonymity threshold is at least %(n)d answers.", n=MIN_THRESHOLD))
    answered = has_answers(survey)
    if answered and data.threshold < survey.threshold:
        raise SurveyError(_("People have answered already: the anonymity threshold can only go up."))
    if answered and data.anonymous != survey.anonymous:
        raise SurveyError(_("People have answered already: anonymity cannot change. Make a new version."))
    if survey.status != "draft":  # a launched survey's dates live on its waves (close or reopen them)
        data.opens_at, data.closes_at = survey.opens_at, survey.closes_at
    elif data.opens_at and data.closes_at:
        if data.closes_at <= data.opens_at:
            raise SurveyError(_("The survey must close after it opens."))
        if data.closes_at - data.opens_at > MAX_WAVE:
            raise SurveyError(_("A survey stays open for at most a year."))
    survey.title, survey.intro = title, data.intro.strip()[:2000]
    survey.anonymous = data.anonymous
    survey.opens_at, survey.closes_at = data.opens_at, data.closes_at
    survey.recurrence, survey.points, survey.threshold = data.recurrence, data.points, data.threshold
    survey.reminders = data.reminders
    if survey.status == "draft" or not answered:
        from app.org.models import Department, Location

        known = set(db.session.scalars(select(Department.id).where(Department.id.in_(data.department_ids))))
        if set(data.department_ids) - known:
            raise SurveyError(_("Unknown department."))
        known = set(db.session.scalars(select(Location.id).where(Location.id.in_(data.location_ids))))
        if set(data.location_ids) - known:
            raise SurveyError(_("Unknown location."))
        survey.departments = [SurveyDepartment(department_id=i) for i in sorted(set(data.department_ids))]
        survey.locations = [SurveyLocation(location_id=i) for i in sorted(set(data.location_ids))]
        survey.audience_all = not (data.department_ids or data.location_ids)
    audit.record("survey_settings", actor, survey)
    unclosed_waves.forget()
    db.session.flush()
    return survey


def _check_launchable(survey: Survey, now: datetime) -> tuple[datetime, datetime]:
    if survey.status != "draft":
        raise SurveyError(_("Only a draft can be launched."))
    if not survey.questions:
        raise SurveyError(_("Add at least one question before launching."))
    opens = survey.opens_at or now
    closes = survey.closes_at
    if closes is None:
        template = TEMPLATES.get(survey.template)
        closes = opens + timedelta(days=template.days_open if template else 7)
    if closes <= now:
        raise SurveyError(_("The close time has passed: choose a later one."))
    if closes <= opens:
        raise SurveyError(_("The survey must close after it opens."))
    return opens, closes


def launch(survey: Survey, actor: User | None, now: datetime | None = None) -> Wave:
    """Launch a draft: its first wave opens at the chosen time (or now)."""
    now = now or utcnow()
    opens, closes = _check_launchable(survey, now)
    survey.status, survey.launched_at = "live", now
    survey.opens_at, survey.closes_at = opens, closes
    wave = Wave(survey_id=survey.id, number=1, opens_at=opens, closes_at=closes)
    db.session.add(wave)
    db.session.flush()
    if opens <= now:
        snapshot(wave, now)
    audit.record("survey_launched", actor, survey, wave=wave.id)
    unclosed_waves.forget()
    return wave


def archive(survey: Survey, actor: User | None, now: datetime | None = None) -> None:
    """Archive a survey: open waves close, no new ones start, results stay."""
    now = now or utcnow()
    for wave in survey.waves:
        if wave.is_open(now) or wave.opens_at > now:
            wave.closed_early_at = now
    survey.status, survey.archived_at = "archived", now
    audit.record("survey_archived", actor, survey)
    unclosed_waves.forget()
    db.session.flush()


def close_wave(wave: Wave, actor: User | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    if wave.is_closed(now):
        raise SurveyError(_("This wave is closed already."))
    wave.closed_early_at = now
    audit.record("survey_wave_closed", actor, wave.survey, wave=wave.id)
    unclosed_waves.forget()
    db.session.flush()


def reopen_wave(wave: Wave, actor: User | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    if wave.survey.status == "archived":
        raise SurveyError(_("This survey is archived."))
    if wave.closed_early_at is None:
        raise SurveyError(_("This wave was not closed early."))
    if now >= wave.closes_at:
        raise SurveyError(_("The wave's close time has passed: it cannot reopen."))
    wave.closed_early_at, wave.cube = None, None
    audit.record("survey_wave_reopened", actor, wave.survey, wave=wave.id)
    unclosed_waves.forget()
    db.session.flush()


# --- waves and who they ask --------------------------------------------------------------------


def snapshot(wave: Wave, now: datetime | None = None) -> bool:
    """Write the wave's audience with each person's department and location, once (a guarded update)."""
    now = now or utcnow()
    claimed = db.session.execute(
        update(Wave).where(Wave.id == wave.id, Wave.snapshot_at.is_(None)).values(snapshot_at=now)
    ).rowcount
    if not claimed:
        return False
    people = (
        select(literal(wave.id), User.id, User.department_id, User.location_id)
        .join(Survey, Survey.id == wave.survey_id)
        .where(User.status == "active", audience.condition(User.department_id, User.location_id))
    )
    db.session.execute(insert(WaveInvitee).from_select(["wave_id", "user_id", "department_id", "location_id"], people))
    db.session.expire(wave, ["snapshot_at"])
    asked = list(db.session.scalars(select(WaveInvitee.user_id).where(WaveInvitee.wave_id == wave.id)))
    events.survey_opened.send(current_app._get_current_object(), wave=wave, survey=wave.survey, user_ids=asked)
    return True


def ensure_invitee(wave: Wave, user: User) -> WaveInvitee | None:
    """The person's row in the wave's audience; someone who joined the audience after it opened is added."""
    found = db.session.get(WaveInvitee, (wave.id, user.id))
    if found is not None:
        return found
    if not in_audience(wave.survey, user):
        return None
    dialect = db.session.get_bind().dialect.name
    stmt = rawsql.dialect_insert(dialect)(WaveInvitee.__table__).values(
        wave_id=wave.id, user_id=user.id, department_id=user.department_id, location_id=user.location_id
    )
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["wave_id", "user_id"]))
    return db.session.get(WaveInvitee, (wave.id, user.id))


def in_audience(survey: Survey, user: User) -> bool:
    return bool(db.session.scalar(select(exists().where(Survey.id == survey.id, audience.includes(user)))))


def _open_for(user_id, department_id, location_id, now: datetime):
    """SQL: waves open now, of live surveys, for this person, that they have not answered."""
    return and_(
        Wave.opens_at <= now,
        Wave.closes_at > now,
        Wave.closed_early_at.is_(None),
        Survey.id == Wave.survey_id,
        Survey.status == "live",
        audience.condition(department_id, location_id),
        ~exists().where(Participation.wave_id == Wave.id, Participation.user_id == user_id),
    )


def open_waves(user: User, now: datetime | None = None) -> list[Wave]:
    """The waves waiting for this person, the soonest to close first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Wave)
            .join(Survey, Survey.id == Wave.survey_id)
            .where(_open_for(user.id, user.department_id, user.location_id, now))
            .order_by(Wave.closes_at, Wave.id)
        )
    )


@dataclass(frozen=True)
class OpenWave:
    """What the tab badge needs of a wave that has not closed: its window and audience."""

    id: int
    opens_at: datetime
    closes_at: datetime
    everyone: bool
    departments: frozenset[int]
    locations: frozenset[int]

    def for_person(self, department_id, location_id, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at and (
            self.everyone or department_id in self.departments or location_id in self.locations
        )


class _UnclosedWaves:
    """Every process keeps the waves of live surveys that have not closed, for ``BADGE_TTL`` seconds.

    The Surveys tab's badge is on every page; with this list, a page costs no statement while no
    survey is open for the viewer, and one (their participations) while some are. Changes made in
    this process forget the list at once; other processes see them within ``BADGE_TTL``.
    """

    BADGE_TTL = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waves: list[OpenWave] = []
        self._until = 0.0

    def forget(self) -> None:
        self._until = 0.0

    def get(self, now: datetime) -> list[OpenWave]:
        if time.monotonic() < self._until:
            return self._waves
        with self._lock:
            if time.monotonic() >= self._until:
                self._waves = self._load(now)
                self._until = time.monotonic() + self.BADGE_TTL
        return self._waves

    @staticmethod
    def _load(now: datetime) -> list[OpenWave]:
        rows = db.session.execute(
            select(Wave.id, Wave.opens_at, Wave.closes_at, Survey.id, Survey.audience_all)
            .join(Survey, Survey.id == Wave.survey_id)
            .where(Survey.status == "live", Wave.closed_early_at.is_(None), Wave.closes_at > now)
        ).all()
        if not rows:
            return []
        surveys = {r[3] for r in rows}
        depts: dict[int, set[int]] = {}
        locs: dict[int, set[int]] = {}
        for sid, did in db.session.execute(
            select(SurveyDepartment.survey_id, SurveyDepartment.department_id).where(
                SurveyDepartment.survey_id.in_(surveys)
            )
        ):
            depts.setdefault(sid, set()).add(did)
        for sid, lid in db.session.execute(
            select(SurveyLocation.survey_id, SurveyLocation.location_id).where(SurveyLocation.survey_id.in_(surveys))
        ):
            locs.setdefault(sid, set()).add(lid)
        return [
            OpenWave(wid, opens, closes, bool(everyone), frozenset(depts.get(sid, ())), frozenset(locs.get(sid, ())))
            for wid, opens, closes, sid, everyone in rows
        ]


unclosed_waves = _UnclosedWaves()


def waiting_count() -> int:
    """How many surveys wait for the signed-in person (the badge on the Surveys tab)."""
    if not (current_user and current_user.is_authenticated):
        return 0
    user = current_user
    now = utcnow()
    mine = [w.id for w in unclosed_waves.get(now) if w.for_person(user.department_id, user.location_id, now)]
    if not mine:
        return 0
    done = db.session.scalar(
        select(func.count()).where(Participation.user_id == user.id, Participation.wave_id.in_(mine))
    )
    return len(mine) - (done or 0)


def answered_waves(user: User, limit: int = 10) -> list[tuple[Wave, date]]:
    rows = db.session.execute(
        select(Wave, Participation.day)
        .join(Participation, Participation.wave_id == Wave.id)
        .where(Participation.user_id == user.id)
        .order_by(Participation.day.desc(), Wave.id.desc())
        .limit(limit)
    )
    return [(wave, day) for wave, day in rows]


def participation_of(wave: Wave, user: User) -> Participation | None:
    return db.session.get(Participation, (wave.id, user.id))


def can_answer(wave: Wave, user: User, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return wave.survey.status == "live" and wave.is_open(now) and in_audience(wave.survey, user)


# --- answering ---------------------------------------------------------------------------------


def clean_answers(questions: list[Question], given: dict[int, object]) -> list[dict]:
    """Check each answer against its question; rows for the answer table (without key, wave or group).

    ``given`` maps question ids to an int (scales, single choice), a list of ints (multiple
    choice) or a string (text); None or "" or [] is no answer.
    """
    rows = []
    for q in questions:
        value = given.get(q.id)
        if value in (None, "", []):
            if q.required:
                raise SurveyError(_("Please answer: %(question)s", question=q.text))
            continue
        if q.kind == "enps":
            low, high = 0, 10
        elif q.kind in SCALE_KINDS:
            low, high = 1, 5
        elif q.kind in CHOICE_KINDS:
            low, high = 0, len(q.options or []) - 1
        else:
            low = high = None
        if q.kind in TEXT_KINDS:
            text = str(value).strip()[: SHORT_TEXT if q.kind == "short_text" else LONG_TEXT]
            if text:
                rows.append({"question_id": q.id, "choice": 0, "value": None, "text": text})
            elif q.required:
                raise SurveyError(_("Please answer: %(question)s", question=q.text))
            continue
        values = value if isinstance(value, list | tuple) else [value]
        if q.kind != "multi" and len(values) != 1:
            raise SurveyError(_("Choose one answer: %(question)s", question=q.text))
        picked = set()
        for v in values:
            try:
                number = int(v)
            except (TypeError, ValueError):
                raise SurveyError(_("That answer is not one of the choices: %(question)s", question=q.text)) from None
            if not low <= number <= high:
                raise SurveyError(_("That answer is not one of the choices: %(question)s", question=q.text))
            picked.add(number)
        for number in sorted(picked):
            rows.append({"question_id": q.id, "choice": number if q.kind == "multi" else 0, "value": number,
                         "text": None})  # fmt: skip
    return rows


@dataclass
class SubmitResult:
    duplicate: bool = False
    points: int = 0  # a repeat: the points the participation earned; a new one: what the survey offers


def submit(wave: Wave, user: User, given: dict[int, object], now: datetime | None = None) -> SubmitResult:
    """Record one person's answers to a wave, once.

    The participation row (primary key wave + person) is inserted first and decides: a double
    tap, a retry or a concurrent submission inserts nothing and writes no response. The response
    carries a random key, the day (none for short waves) and the group snapshot, never the person.
    """
    now = now or utcnow()
    survey = wave.survey
    if survey.status != "live" or not wave.is_open(now):
        raise SurveyError(_("This survey is closed."))
    rows = clean_answers(survey.questions, given)
    if not rows:
        raise SurveyError(_("Answer at least one question."))
    invitee = ensure_invitee(wave, user)
    if invitee is None:
        raise SurveyError(_("This survey is not for you."))
    day = local_date(now, program_timezone())
    dialect = db.session.get_bind().dialect.name
    claim = rawsql.dialect_insert(dialect)(Participation.__table__).values(
        wave_id=wave.id, user_id=user.id, day=day, response_key=None
    )
    # RETURNING, not rowcount: it says for certain on both databases whether this insert made the row.
    claimed = claim.on_conflict_do_nothing(index_elements=["wave_id", "user_id"]).returning(Participation.user_id)
    if db.session.execute(claimed).scalar() is None:
        return SubmitResult(duplicate=True, points=points_earned(wave, user))
    key = secrets.token_hex(16)
    dated = wave.closes_at - wave.opens_at >= DATED_WAVE
    db.session.execute(
        insert(Response).values(
            key=key, wave_id=wave.id, day=day if dated else None,
            department_id=invitee.department_id, location_id=invitee.location_id,
        )
    )  # fmt: skip
    group = {"response_key": key, "wave_id": wave.id, "department_id": invitee.department_id,
             "location_id": invitee.location_id}  # fmt: skip
    db.session.execute(insert(Answer), [{**group, **row} for row in rows])
    if not survey.anonymous:
        db.session.execute(
            update(Participation)
            .where(Participation.wave_id == wave.id, Participation.user_id == user.id)
            .values(response_key=key)
        )
    events.survey_completed.send(
        current_app._get_current_object(), wave=wave, survey=survey, user=user, points=survey.points
    )
    return SubmitResult(points=survey.points)  # what taking part is worth (the ledger may cap it)


def points_earned(wave: Wave, user: User) -> int:
    """Points the person's participation in this wave earned (0 when capped or worth nothing)."""
    from app.gamification.models import PointEntry

    return (
        db.session.scalar(select(PointEntry.delta).where(PointEntry.idempotency_key == f"survey:{wave.id}:{user.id}"))
        or 0
    )


# --- the periodic work -------------------------------------------------------------------------


def add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31,
            30, 31]  # fmt: skip
    return when.replace(year=year, month=month, day=min(when.day, days[month - 1]))


def next_wave(survey: Survey, now: datetime) -> Wave | None:
    """For a recurring survey whose latest wave has closed: the next wave, a month or a quarter later."""
    if survey.status != "live" or survey.recurrence == "once" or not survey.waves:
        return None
    last = survey.waves[-1]
    if not last.is_closed(now):
        return None
    months = 1 if survey.recurrence == "monthly" else 3
    length = last.closes_at - last.opens_at
    opens = add_months(last.opens_at, months)
    while opens + length <= now:  # Herald was off for a while: skip the runs that would already be over
        opens = add_months(opens, months)
    dialect = db.session.get_bind().dialect.name
    stmt = rawsql.dialect_insert(dialect)(Wave.__table__).values(
        survey_id=survey.id, number=last.number + 1, opens_at=opens, closes_at=opens + length
    )
    made = stmt.on_conflict_do_nothing(index_elements=["survey_id", "number"]).returning(Wave.id)
    if db.session.execute(made).scalar() is None:
        return None
    db.session.expire(survey, ["waves"])
    unclosed_waves.forget()
    return survey.waves[-1]


def remind(wave: Wave, now: datetime) -> int:
    """E-mail, once per wave, the people asked who have not answered yet; returns how many."""
    claimed = db.session.execute(
        update(Wave).where(Wave.id == wave.id, Wave.reminder_sent_at.is_(None)).values(reminder_sent_at=now)
    ).rowcount
    if not claimed:
        return 0
    from app.mail import send_mail

    people = db.session.scalars(
        select(User)
        .join(WaveInvitee, WaveInvitee.user_id == User.id)
        .where(
            WaveInvitee.wave_id == wave.id,
            User.status == "active",
            ~exists().where(Participation.wave_id == wave.id, Participation.user_id == User.id),
        )
    ).all()
    base = current_app.config["BASE_URL"].rstrip("/")
    if has_request_context():
        link = base + url_for("surveys.answer", wave_id=wave.id)
    else:
        with current_app.test_request_context():
            link = base + url_for("surveys.answer", wave_id=wave.id)
    events.survey_reminder.send(current_app._get_current_object(), wave=wave, survey=wave.survey,
                                user_ids=[p.id for p in people])  # fmt: skip
    for person in people:
        with force_locale(person.locale or "en"):
            subject = _("Reminder: %(title)s", title=wave.survey.title)
            send_mail(person.email, subject, "survey_reminder", user=person, survey=wave.survey, wave=wave,
                      link=link, points=wave.survey.points)  # fmt: skip
    return len(people)


def tick(now: datetime | None = None) -> dict[str, int]:
    """Open, remind, repeat and keep counts: what the periodic task does (idempotent, safe to overlap)."""
    from surveys import results

    now = now or utcnow()
    done = {"snapshots": 0, "reminders": 0, "waves": 0, "cubes": 0}
    live = db.session.scalars(select(Survey).where(Survey.status.in_(("live", "archived")))).all()
    for survey in live:
        for wave in list(survey.waves):
            if wave.opens_at <= now and wave.snapshot_at is None and survey.status == "live":
                done["snapshots"] += snapshot(wave, now)
            if (
                survey.status == "live" and survey.reminders and wave.is_open(now)
                and wave.reminder_sent_at is None and now >= wave.opens_at + (wave.closes_at - wave.opens_at) / 2
            ):  # fmt: skip
                done["reminders"] += remind(wave, now)
            if wave.is_closed(now) and wave.cube is None:
                results.keep_cube(wave, now)
                done["cubes"] += 1
        if next_wave(survey, now) is not None:
            done["waves"] += 1
    return done
