"""Form pieces shared across features.

Text needs no filter here: the request strips control characters from every form
value before a form sees it (``app.inputs``). Numbers and dates need bounds: every
``IntegerField`` carries a ``NumberRange`` within ``app.inputs.MAX_INT``, and every date goes
through ``local_datetime_field`` (or ``parse_local_datetime`` when hand-parsed).
"""

from __future__ import annotations

from datetime import datetime

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict
from wtforms import DateTimeLocalField, EmailField, FileField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

# Dates people may type: wide enough for any real schedule, narrow enough that converting
# between time zones never leaves Python's datetime range (year 1 or 9999 used to crash).
EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001  (naive on purpose: a datetime-local value)
LATEST = datetime(2100, 12, 31, 23, 59)  # noqa: DTZ001
DATE_RANGE_MESSAGE = _l("Enter a date between the years 2000 and 2100.")


class Form(FlaskForm):
    """Herald's base form: every form inherits it (a test checks).

    Flask-WTF would also fill a form from a JSON body and let an uploaded file stand in
    for any field; a list, a number or a file where a view expects text then crashed the
    view. Here a form reads only a submitted HTML form (urlencoded or multipart), and
    files only into its file fields; anything else leaves the fields empty, so the
    form's own validation refuses it.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is None or hasattr(formdata, "getlist"):  # given by the view
                return formdata
            # Otherwise Flask-WTF's "read the request" sentinel.
            if not form.is_submitted():
                return None
            files = [(name, upload) for name, upload in request.files.items(multi=True)
                     if isinstance(form._fields.get(name), FileField)]  # fmt: skip
            if files:
                return CombinedMultiDict((ImmutableMultiDict(files), request.form))
            return request.form or None


class ConfirmForm(Form):
    """An empty form: a button whose POST only needs the CSRF token."""


def email_field(label=None, **kwargs):
    """A required e-mail field with a sensible length limit."""
    return EmailField(
        label or _l("E-mail"),
        validators=[DataRequired(), Email(message=_l("Enter a valid e-mail address.")), Length(max=254)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "email", "inputmode": "email", "autocapitalize": "none"},
        **kwargs,
    )


def date_in_range(value: datetime) -> bool:
    """Whether a typed date lies between ``EARLIEST`` and ``LATEST``."""
    return EARLIEST <= value.replace(tzinfo=None) <= LATEST


def _sane_date(form, field) -> None:
    if field.data is not None and not date_in_range(field.data):
        raise ValidationError(DATE_RANGE_MESSAGE)


def local_datetime_field(label, **kwargs) -> DateTimeLocalField:
    """An optional ``datetime-local`` field that refuses dates outside ``EARLIEST``..``LATEST``."""
    return DateTimeLocalField(label, validators=[Optional(), _sane_date], **kwargs)


def parse_local_datetime(text: str) -> datetime | None:
    """A hand-parsed ``datetime-local`` value (None when empty); ValueError when unreadable or out of range."""
    text = (text or "").strip()
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None or not date_in_range(value):
        raise ValueError(text)
    return value
