"""Survey forms: starting a survey, its settings, questions, dimensions, answering, "you said, we did"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms import (
    Form,
    IdListField,
    MultiCheckboxField,
    WholeNumberField,
    flag_field,
    local_datetime_field,
    radio_field,
)
from app.inputs import MAX_INT, whole_number
from app.timeutil import to_local, to_utc
from surveys.catalog import KIND_LABELS, LIKERT_LABELS, RATING_LABELS, TEMPLATES
from surveys.models import MIN_THRESHOLD, Question, Survey
from surveys.services import QuestionData, SettingsData

MAX_POINTS = 10_000


def _id_or_none(value):
    """A chosen id, None for "none chosen", or 0 (no such row: the service says so) for anything else.

    Bounded to an INTEGER: a larger number reached PostgreSQL's lookup as an error (a 500).
    """
    if value in (None, "", "None"):
        return None
    try:
        return whole_number(value, 1, MAX_INT)
    except ValueError:
        return 0


class NewSurveyForm(Form):
    """Start a survey: from a template or empty."""

    template = radio_field(
        _l("Start from"),
        {"": _l("An empty survey"), **{key: t.title for key, t in TEMPLATES.items()}},
        default="enps_pulse",
        validate_choice=False,
    )
    title = StringField(_l("Title (optional)"), validators=[Optional(), Length(max=120)])

    def validate_template(self, field) -> None:
        if field.data and field.data not in TEMPLATES:
            raise ValidationError(_l("Choose one of the templates."))


class SettingsForm(Form):
    """How a survey runs."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    intro = TextAreaField(_l("Introduction shown before the first question"), validators=[Length(max=2000)])
    privacy = radio_field(
        _l("Privacy"),
        {
            "anonymous": _l("Anonymous: nobody, HR included, can see who answered what"),
            "confidential": _l("Confidential: HR sees names with answers; employees are told before answering"),
        },
        default="anonymous",
    )
    department_ids = MultiCheckboxField(_l("Departments (none chosen: everyone)"), coerce=int)
    location_ids = MultiCheckboxField(_l("Locations (none chosen: everyone)"), coerce=int)
    opens_at = local_datetime_field(_l("Opens (empty: when launched)"))
    closes_at = local_datetime_field(_l("Closes (empty: after the template's usual days)"))
    recurrence = radio_field(
        _l("Repeats"),
        {"once": _l("Once"), "monthly": _l("Monthly pulse"), "quarterly": _l("Quarterly pulse")},
        default="once",
    )
    points = WholeNumberField(_l("Points for taking part"), low=0, high=MAX_POINTS,
                              message=_l("Use a whole number of points from 0 to 10,000."),
                              render_kw={"min": 0, "max": MAX_POINTS})  # fmt: skip
    threshold = WholeNumberField(_l("Anonymity threshold (smallest group shown)"), low=MIN_THRESHOLD, high=10_000,
                                 message=_l("The threshold is a whole number of at least 3."),
                                 render_kw={"min": MIN_THRESHOLD})  # fmt: skip
    reminders = flag_field(_l("Remind people who have not answered (halfway through)"))

    @classmethod
    def data_of(cls, survey: Survey, timezone: str) -> dict:
        return {
            "title": survey.title, "intro": survey.intro,
            "privacy": "anonymous" if survey.anonymous else "confidential",
            "department_ids": [d.department_id for d in survey.departments],
            "location_ids": [loc.location_id for loc in survey.locations],
            "opens_at": to_local(survey.opens_at, timezone), "closes_at": to_local(survey.closes_at, timezone),
            "recurrence": survey.recurrence, "points": survey.points, "threshold": survey.threshold,
            "reminders": survey.reminders,
        }  # fmt: skip

    def validate_points(self, field) -> None:
        if not field.errors and field.data is None:
            raise ValidationError(_l("Set the points (0 for none)."))

    def validate_threshold(self, field) -> None:
        if not field.errors and field.data is None:
            raise ValidationError(_l("The threshold is a whole number of at least 3."))

    def validate_closes_at(self, field) -> None:
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("The survey must close after it opens."))

    def settings(self, timezone: str) -> SettingsData:
        return SettingsData(
            title=self.title.data or "", intro=self.intro.data or "", anonymous=self.privacy.data != "confidential",
            department_ids=list(self.department_ids.data or []), location_ids=list(self.location_ids.data or []),
            opens_at=to_utc(self.opens_at.data, timezone), closes_at=to_utc(self.closes_at.data, timezone),
            recurrence=self.recurrence.data, points=self.points.data or 0, threshold=self.threshold.data or 5,
            reminders=bool(self.reminders.data),
        )  # fmt: skip


class QuestionForm(Form):
    """Add or edit a question."""

    kind = SelectField(_l("Type"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()], default="likert")
    text = StringField(_l("Question"), validators=[DataRequired(message=_l("Write the question.")), Length(max=300)])
    help = StringField(_l("Help text (optional)"), validators=[Optional(), Length(max=300)])
    required = flag_field(_l("An answer is required"), default=True)
    dimension_id = SelectField(_l("Dimension"), coerce=_id_or_none, validate_choice=False)
    options = TextAreaField(_l("Options, one per line (choice questions)"), validators=[Length(max=3000)])

    @classmethod
    def data_of(cls, q: Question) -> dict:
        return {"kind": q.kind, "text": q.text, "help": q.help, "required": q.required,
                "dimension_id": q.dimension_id, "options": "\n".join(q.options or [])}  # fmt: skip

    def question(self) -> QuestionData:
        return QuestionData(
            kind=self.kind.data, text=self.text.data or "", help=self.help.data or "",
            required=bool(self.required.data), dimension_id=self.dimension_id.data,
            options=(self.options.data or "").splitlines(),
        )  # fmt: skip


class MoveForm(Form):
    """Move a question up or down."""

    direction = radio_field(_l("Move"), {"up": _l("Up"), "down": _l("Down")}, default="up")


class ReorderForm(Form):
    """The questions' new order (drag and drop)."""

    order = IdListField()


class DimensionForm(Form):
    """A dimension of HR's own."""

    name = StringField(_l("New dimension"), validators=[DataRequired(), Length(max=80)])


def answer_form(survey: Survey) -> type[Form]:
    """A form class with one field per question (named ``q<id>``); the service checks the values."""

    class AnswerForm(Form):
        pass

    for q in survey.questions:
        name = f"q{q.id}"
        if q.kind == "enps":
            field = RadioField(q.text, choices=[SelectChoice(str(i), str(i)) for i in range(11)], validate_choice=False)
        elif q.kind in ("likert", "rating"):
            labels = LIKERT_LABELS if q.kind == "likert" else RATING_LABELS
            field = RadioField(q.text, choices=[SelectChoice(str(i + 1), labels[i]) for i in range(5)],
                               validate_choice=False)  # fmt: skip
        elif q.kind == "single":
            field = RadioField(q.text, choices=[SelectChoice(str(i), o) for i, o in enumerate(q.options or [])],
                               validate_choice=False)  # fmt: skip
        elif q.kind == "multi":
            field = MultiCheckboxField(q.text, choices=[SelectChoice(str(i), o) for i, o in enumerate(q.options or [])],
                                       validate_choice=False)  # fmt: skip
        elif q.kind == "short_text":
            field = StringField(q.text, validators=[Length(max=200)])
        else:
            field = TextAreaField(q.text, validators=[Length(max=2000)])
        setattr(AnswerForm, name, field)
    return AnswerForm


def answers_of(form: Form, survey: Survey) -> dict[int, object]:
    """{question id: value} from a submitted answer form (checked by ``surveys.services.clean_answers``)."""
    return {q.id: getattr(form, f"q{q.id}").data for q in survey.questions}


def you_said_form(dimension_names: list[str]) -> type[Form]:
    """ "You said, we did": a title, an opening, and what will change per dimension."""

    class YouSaidForm(Form):
        title = StringField(_l("Title of the post"), validators=[DataRequired(), Length(max=200)])
        intro = TextAreaField(_l("Opening"), validators=[Length(max=2000)])

    for i, name in enumerate(dimension_names):
        setattr(YouSaidForm, f"d{i}", TextAreaField(name, validators=[Length(max=2000)]))
    return YouSaidForm
