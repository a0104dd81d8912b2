"""Form pieces shared across features.

Text needs no filter here: the request strips control characters from every form
value before a form sees it (``app.inputs``). Numbers and dates need bounds: a whole
number is a ``WholeNumberField`` (or an ``IntegerField`` with a ``NumberRange``) within
``app.inputs.MAX_INT``, an id an ``IdField``, and every date goes through
``local_datetime_field``. Views read input only through form classes (a test checks).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    Field,
    FileField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from app.inputs import MAX_INT, whole_number

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
            # By the field's submitted name: with a form prefix that is "<prefix>-<field>".
            file_names = {f.name for f in form._fields.values() if isinstance(f, FileField)}
            files = [(name, upload) for name, upload in request.files.items(multi=True) if name in file_names]
            if files:
                return CombinedMultiDict((ImmutableMultiDict(files), request.form))
            return request.form or None


class ConfirmForm(Form):
    """An empty form: a button whose POST only needs the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for a multiple choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WholeNumberField(IntegerField):
    """A whole number from ``low`` to ``high`` (None when left empty); anything else is ``message`` beside the field.

    Unlike ``IntegerField`` it reads only what ``app.inputs.whole_number`` reads ("1e20",
    "1.0" or "1_000" are refused), and the bounds are part of the parsing, so no value
    outside an INTEGER column ever reaches a view.
    """

    def __init__(self, label=None, validators=None, low: int = -MAX_INT, high: int = MAX_INT, message=None,
                 **kwargs) -> None:  # fmt: skip
        render_kw = {"inputmode": "numeric", "step": "1", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.low, self.high = low, high
        self.message = message or _l("Enter a whole number.")

    def process_formdata(self, valuelist) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = whole_number(valuelist[0], self.low, self.high)
        except ValueError:
            self.data = None
            raise ValueError(self.message) from None


class IdField(Field):
    """A hidden or chosen record id: a whole number from 1 to ``MAX_INT``, or None for anything else.

    The view (or service) then says what is missing in its own words, as it did when the
    id was absent, so a forged value reads as "nothing chosen" rather than a crash.
    """

    widget = HiddenInput()

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)

    def process_formdata(self, valuelist) -> None:
        self.data = None
        if valuelist:
            with suppress(ValueError):
                self.data = whole_number(valuelist[0], 1)


class IdListField(Field):
    """Every id (1 to ``MAX_INT``) among a field's repeated values; other values are dropped."""

    widget = HiddenInput()

    def process_formdata(self, valuelist) -> None:
        self.data = []
        for text in valuelist:
            try:
                self.data.append(whole_number(text, 1))
            except ValueError:
                continue


def radio_field(label, options: dict, default: str, **kwargs) -> RadioField:
    """One choice among ``options`` (value: label), shown as radio buttons."""
    return RadioField(label, choices=[SelectChoice(v, text) for v, text in options.items()], default=default, **kwargs)


# A checkbox is on when sent with any value but these (Herald's forms send "1"; "0" never meant "on").
FLAG_OFF = ("", "0", "false")


def flag_field(label, **kwargs) -> BooleanField:
    """A checkbox: on when sent with a value other than those in ``FLAG_OFF``."""
    return BooleanField(label, false_values=FLAG_OFF, **kwargs)


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
