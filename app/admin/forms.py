"""Admin forms for people and the organisation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.forms import Form, MultiCheckboxField, email_field

ROLE_CHOICES = [
    SelectChoice("employee", _l("Employee")),
    SelectChoice("admin", _l("Admin")),
    SelectChoice("hr", _l("HR")),
]


class UserForm(Form):
    """Create or edit a person."""

    email = email_field()
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    department_id = SelectField(_l("Department"), coerce=int)
    location_id = SelectField(_l("Location"), coerce=int)
    timezone = StringField(_l("Time zone"), validators=[Length(max=64)], default="")
    roles = MultiCheckboxField(
        _l("Roles"),
        choices=ROLE_CHOICES,
        default=["employee"],
        validators=[DataRequired(message=_l("Choose at least one role."))],
    )
    send_invite = BooleanField(_l("E-mail an invitation now"), default=True)


class NameForm(Form):
    """A department or location name."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    timezone = StringField(_l("Time zone"), validators=[Length(max=64)], default="")


class ImportForm(Form):
    """Upload an employee CSV."""

    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a CSV file.")), FileAllowed(["csv", "txt"], _l("Upload a .csv file."))],
    )
    send_invites = BooleanField(_l("E-mail invitations to new people"), default=False)
