"""Forms for a person's data: the erasure confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.forms import Form


class EraseForm(Form):
    """Erasing cannot be undone: the admin types the person's e-mail address to confirm."""

    confirm_email = StringField(
        _l("Their e-mail address"),
        validators=[DataRequired(), Length(max=254)],
        filters=[lambda value: value.strip().lower() if isinstance(value, str) else value],
        render_kw={"autocomplete": "off", "inputmode": "email", "autocapitalize": "none", "spellcheck": "false"},
    )
