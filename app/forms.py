"""Form pieces shared across features."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length


class ConfirmForm(FlaskForm):
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
