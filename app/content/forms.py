"""Admin forms for posts and campaigns."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import Form, MultiCheckboxField, local_datetime_field
from app.timeutil import to_local, utcnow

CAPTION_SLOTS = 6
NETWORK_CHOICES = [
    SelectChoice("generic", _l("Any network")),
    SelectChoice("linkedin", "LinkedIn"),
    SelectChoice("x", "X"),
    SelectChoice("facebook", "Facebook"),
]
VARIANT_CHOICES = [SelectChoice("A", "A"), SelectChoice("B", "B")]


class PostForm(Form):
    """Create or edit a post; captions are parsed from ``caption-N-*`` fields (six slots)."""

    url = URLField(_l("Link to share"), validators=[DataRequired(), Length(max=2000)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Summary"), validators=[Length(max=5000)])
    image = FileField(
        _l("Image"), validators=[FileAllowed(["jpg", "jpeg", "png", "webp"], _l("Use a JPEG, PNG or WebP."))]
    )
    hashtags = StringField(_l("Hashtags"), validators=[Length(max=300)])
    language = SelectField(_l("Language"), choices=[SelectChoice("en", "English"), SelectChoice("pl", "Polski")])
    campaign_id = SelectField(_l("Campaign"), coerce=int, default=0)
    department_ids = MultiCheckboxField(_l("Only these departments"), coerce=int)
    location_ids = MultiCheckboxField(_l("Only these locations"), coerce=int)
    action = RadioField(
        _l("Publication"),
        choices=[
            SelectChoice("draft", _l("Save as draft")),
            SelectChoice("publish", _l("Publish now")),
            SelectChoice("schedule", _l("Schedule")),
        ],
        default="draft",
    )
    publish_at = local_datetime_field(_l("Publish at"))
    expire_at = local_datetime_field(_l("Expire at"))
    pinned = BooleanField(_l("Pin to the top of the feed"))
    is_cta = BooleanField(_l("Call to action"))
    cta_deadline = local_datetime_field(_l("Call-to-action deadline"))


class CampaignForm(Form):
    """Create a campaign from a template."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    kind = RadioField(
        _l("Template"),
        choices=[
            SelectChoice("share", _l("Share campaign")),
            SelectChoice("cta", _l("Call to action")),
            SelectChoice("ab_test", _l("A/B caption test")),
        ],
        default="share",
    )
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])
    goal_metric = SelectField(
        _l("Goal"), choices=[SelectChoice("shares", _l("Shares")), SelectChoice("clicks", _l("Clicks"))]
    )
    goal_target = IntegerField(_l("Target"), validators=[Optional(), NumberRange(min=0, max=10_000_000)], default=0)
    ends_at = local_datetime_field(_l("Ends"))


def default_publish_at(timezone: str) -> datetime:
    """Tomorrow at 9:00 local time: a sensible first suggestion for scheduling."""
    from datetime import timedelta

    local = to_local(utcnow(), timezone) + timedelta(days=1)
    return local.replace(hour=9, minute=0)
