"""Analytics forms: business figures, their CSV import, and the weekly report switch."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DecimalField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Regexp

from app.forms import Form

KIND_CHOICES = [
    SelectChoice("sales", _l("Sales")),
    SelectChoice("hires", _l("New hires")),
    SelectChoice("leads", _l("Leads")),
    SelectChoice("applications", _l("Job applications")),
]


class BusinessFigureForm(Form):
    """One month's figure of one kind (saving it again replaces it)."""

    month = StringField(
        _l("Month"),
        validators=[
            DataRequired(),
            Regexp(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$", message=_l("Enter the month as YYYY-MM.")),
        ],
        render_kw={"placeholder": "2026-11", "inputmode": "numeric"},
    )
    kind = SelectField(_l("Figure"), choices=KIND_CHOICES)
    value = DecimalField(
        _l("Value"),
        places=2,
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(min=0, max=10**13, message=_l("Enter a number from 0 to 10,000,000,000,000.")),
        ],
    )
    submit = SubmitField(_l("Save the figure"))

    def month_start(self) -> date:
        year, month = self.month.data.split("-")
        return date(int(year), int(month), 1)


class BusinessImportForm(Form):
    """A CSV of monthly figures: columns month (YYYY-MM), kind, value."""

    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a CSV file.")), FileAllowed(["csv", "txt"], _l("Upload a .csv file."))],
    )
    submit = SubmitField(_l("Import"))


class ReportForm(Form):
    """Whether I get the weekly analytics e-mail."""

    weekly_report = BooleanField(_l("E-mail me the weekly analytics report"))
