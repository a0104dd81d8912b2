"""Sign-in, invitation and profile forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from app.accounts.services import MIN_PASSWORD_LENGTH
from app.forms import Form, email_field


class LoginForm(Form):
    """E-mail and password."""

    email = email_field()
    password = PasswordField(
        _l("Password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    remember = BooleanField(_l("Keep me signed in on this device"), default=True)


class MagicLinkForm(Form):
    """Ask for a sign-in link by e-mail."""

    email = email_field()
    remember = BooleanField(_l("Keep me signed in on this device"), default=True)


class ForgotPasswordForm(Form):
    """Ask for a password-reset link."""

    email = email_field()


def _new_password(label):
    return PasswordField(
        label,
        validators=[
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            )
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ResetPasswordForm(Form):
    """Choose a new password."""

    password = _new_password(_l("New password"))
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[EqualTo("password", message=_l("The passwords do not match."))],
        render_kw={"autocomplete": "new-password"},
    )


class AcceptInviteForm(Form):
    """Activate an invited account; the password is optional (magic links work without)."""

    display_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    password = PasswordField(
        _l("Password (optional)"),
        validators=[
            Optional(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ProfileForm(Form):
    """What an employee may change about themselves."""

    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])
    locale = SelectField(_l("Language"), choices=[SelectChoice("en", "English"), SelectChoice("pl", "Polski")])
    avatar = FileField(
        _l("Photo"), validators=[FileAllowed(["jpg", "jpeg", "png", "webp"], _l("Use a JPEG, PNG or WebP."))]
    )
