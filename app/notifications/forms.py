"""Notification forms: a device's subscription, removing devices, preferences, a call to action."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms import Form, MultiCheckboxField, WholeNumberField, flag_field, local_datetime_field

CATEGORY_LABELS = {
    "cta": _l("Calls to action"),
    "streak": _l("Streak reminders"),
    "rewards": _l("Reward updates"),
    "surveys": _l("New surveys and reminders"),
    "badges": _l("Badges"),
    "kudos": _l("Kudos"),
    "posts": _l("New posts (at most once a day)"),
    "digest": _l("Weekly e-mail digest"),
}
HOURS = [SelectChoice("", _l("Off"))] + [SelectChoice(str(h), f"{h:02d}:00") for h in range(24)]


def _hour(value):
    if value in (None, "", "None"):
        return None
    try:
        hour = int(value)
    except (TypeError, ValueError):
        return None
    return hour if 0 <= hour < 24 else None


class SubscriptionForm(Form):
    """What the browser's PushManager gave: the endpoint and the two keys (sent by static/js/push.js)."""

    endpoint = StringField(validators=[DataRequired(), Length(max=1000)])
    p256dh = StringField(validators=[DataRequired(), Length(min=80, max=200)])
    auth = StringField(validators=[DataRequired(), Length(min=16, max=100)])
    device = StringField(validators=[Optional(), Length(max=120)])
    # The quiet re-send on app start: update a device the server still has, never bring back a removed one.
    refresh = flag_field("")
    previous = StringField(validators=[Optional(), Length(max=1000)])  # the endpoint this browser sent before

    def validate_endpoint(self, field) -> None:
        """A push service's https address; plain http only for hosts listed in HERALD_FETCH_ALLOW_HOSTS (tests)."""
        from app.fetch import AddressGuard

        try:
            parts = urlsplit(field.data or "")
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValidationError(_l("That is not a push subscription.")) from None
        guard = AddressGuard(current_app.config["FETCH_ALLOW_HOSTS"])
        host = (parts.hostname or "").lower()
        listed = guard.name_allowed(host, port) or _listed_address(guard, host, port)
        if parts.scheme != "https" and not listed:
            raise ValidationError(_l("That is not a push subscription."))
        if not host or parts.username or parts.password:
            raise ValidationError(_l("That is not a push subscription."))
        if not listed and _is_private_literal(host):
            raise ValidationError(_l("That is not a push subscription."))


def _listed_address(guard, host: str, port: int) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net and p in (None, port) for net, p in guard.networks)


def _is_private_literal(host: str) -> bool:
    import ipaddress

    from app.fetch import is_public_address

    try:
        return not is_public_address(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host in ("localhost",) or host.endswith((".local", ".internal", ".localhost"))


class RemoveDevicesForm(Form):
    """Turn pushes off on this device (its endpoint) or on every device (no endpoint)."""

    endpoint = StringField(validators=[Optional(), Length(max=1000)])


class SettingsForm(Form):
    """Which notifications to push, and quiet hours."""

    cta = flag_field(CATEGORY_LABELS["cta"])
    streak = flag_field(CATEGORY_LABELS["streak"])
    rewards = flag_field(CATEGORY_LABELS["rewards"])
    surveys = flag_field(CATEGORY_LABELS["surveys"])
    badges = flag_field(CATEGORY_LABELS["badges"])
    kudos = flag_field(CATEGORY_LABELS["kudos"])
    posts = flag_field(CATEGORY_LABELS["posts"])
    digest = flag_field(CATEGORY_LABELS["digest"])
    quiet_start = SelectField(_l("Quiet from"), choices=HOURS, coerce=_hour, validate_choice=False)
    quiet_end = SelectField(_l("Quiet until"), choices=HOURS, coerce=_hour, validate_choice=False)

    def validate_quiet_end(self, field) -> None:
        if (self.quiet_start.data is None) != (field.data is None):
            raise ValidationError(_l("Choose both ends of the quiet hours, or turn both off."))
        if field.data is not None and field.data == self.quiet_start.data:
            raise ValidationError(_l("Quiet hours need different start and end hours."))


class CtaForm(Form):
    """Send a published post as a call to action."""

    message = TextAreaField(_l("Message (optional)"), validators=[Optional(), Length(max=300)])
    department_ids = MultiCheckboxField(_l("Departments (none chosen: everyone who sees the post)"), coerce=int)
    location_ids = MultiCheckboxField(_l("Locations (none chosen: everyone who sees the post)"), coerce=int)
    deadline = local_datetime_field(_l("Deadline"))
    urgent = flag_field(_l("Urgent: push even during quiet hours and beyond the daily cap"))
    multiplier = WholeNumberField(_l("Points multiplier (%)"), low=100, high=1000, default=100,
                                  message=_l("Use a multiplier from 100 to 1000 percent."),
                                  render_kw={"min": 100, "max": 1000})  # fmt: skip

    def validate_multiplier(self, field) -> None:
        if not field.errors and field.data is None:
            raise ValidationError(_l("Use a multiplier from 100 to 1000 percent."))
