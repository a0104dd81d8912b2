"""Admin forms for posts and campaigns."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.forms import Form, MultiCheckboxField, WholeNumberField, local_datetime_field, radio_field
from app.timeutil import to_local, utcnow

CAPTION_SLOTS = 6
NETWORK_CHOICES = [
    SelectChoice("generic", _l("Any network")),
    SelectChoice("linkedin", "LinkedIn"),
    SelectChoice("x", "X"),
    SelectChoice("facebook", "Facebook"),
]
VARIANT_CHOICES = [SelectChoice("A", "A"), SelectChoice("B", "B")]
MULTIPLIER_ERROR = _l("Use a multiplier from 100 to 1000 percent.")


def multiplier_field() -> WholeNumberField:
    """Points for sharing, in percent of the usual (100-1000); left empty it is 100."""
    return WholeNumberField(_l("Points multiplier (%)"), low=100, high=1000, default=100, message=MULTIPLIER_ERROR,
                            render_kw={"min": 100, "max": 1000})  # fmt: skip


class CaptionForm(Form):
    """One suggested caption: its network, its A/B variant and its words (part of ``PostForm``)."""

    class Meta:
        csrf = False  # a part of the post form, which carries the token

    network = SelectField(choices=NETWORK_CHOICES, validate_choice=False)
    variant = SelectField(choices=VARIANT_CHOICES, validate_choice=False)
    text = TextAreaField(render_kw={"rows": 2, "maxlength": 3000})


class CaptionSlots(FieldList):
    """The six caption slots: slot N reads ``caption-N-*`` (a slot number beyond them is ignored)."""

    def process(self, formdata, data=unset_value, extra_filters=None) -> None:
        if not formdata:
            super().process(formdata, data, extra_filters)  # the post's captions, then empty slots
            return
        # FieldList would renumber the slots it finds and read its padding slots again.
        self.last_index, self.entries, self.object_data = -1, [], data
        for index in range(CAPTION_SLOTS):
            self._add_entry(formdata, index=index)


class PostForm(Form):
    """Create or edit a post, with up to six suggested captions (``caption-N-network``, ``-variant``, ``-text``)."""

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
    action = radio_field(
        _l("Publication"),
        {"publish": _l("Publish now"), "schedule": _l("Schedule"), "draft": _l("Save as draft")},
        default="draft",
    )
    publish_at = local_datetime_field(_l("Publish at"))
    expire_at = local_datetime_field(_l("Expire at"))
    pinned = BooleanField(_l("Pin to the top of the feed"))
    is_cta = BooleanField(_l("Call to action"))
    cta_deadline = local_datetime_field(_l("Call-to-action deadline"))
    points_multiplier = multiplier_field()
    captions = CaptionSlots(FormField(CaptionForm), name="caption", min_entries=CAPTION_SLOTS)

    def caption_values(self) -> list[tuple[str, str, str]]:
        """(network, variant, text) of each caption with words; an unknown network or variant reads as the default."""
        networks = {c.value for c in NETWORK_CHOICES}
        out = []
        for slot in self.captions:
            text = (slot.text.data or "").strip()
            if text:
                network = slot.network.data if slot.network.data in networks else "generic"
                variant = slot.variant.data if slot.variant.data in ("A", "B") else "A"
                out.append((network, variant, text[:3000]))
        return out


class ShareForm(Form):
    """A share: the network, and the caption as the person left it (``original`` is the suggested one)."""

    network = StringField()
    caption = StringField()
    original = StringField()

    def edited_caption(self) -> str | None:
        """The caption when the person changed it (None when they kept the suggestion)."""
        caption = self.caption.data
        if caption is not None and caption.strip() != (self.original.data or "").strip():
            return caption
        return None


class CaptionDraftForm(Form):
    """A person's wording of a post's caption, kept for next time (``original`` is the suggested one)."""

    caption = StringField()
    original = StringField()


class CommentForm(Form):
    """A comment, new or edited (the service checks its length)."""

    body = TextAreaField(_l("Add a comment"))


class SuggestForm(Form):
    """An employee suggests a link for the library."""

    url = URLField(_l("Link"), render_kw={"inputmode": "url", "required": True})
    comment = TextAreaField(_l("Why is it worth sharing? (optional)"), render_kw={"rows": 3, "maxlength": 2000})


class RejectSuggestionForm(Form):
    """Why a suggestion is declined (the employee sees it)."""

    reason = TextAreaField(_l("Reason (the employee sees it)"))


class LinkForm(Form):
    """A link to read: a feed to follow, or a page whose preview fills the post form."""

    url = URLField(_l("Feed address"))


class CampaignForm(Form):
    """Create a campaign from a template."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    kind = radio_field(
        _l("Template"),
        {"share": _l("Share campaign"), "cta": _l("Call to action"), "ab_test": _l("A/B caption test")},
        default="share",
    )
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])
    goal_metric = SelectField(
        _l("Goal"), choices=[SelectChoice("shares", _l("Shares")), SelectChoice("clicks", _l("Clicks"))]
    )
    goal_target = IntegerField(_l("Target"), validators=[Optional(), NumberRange(min=0, max=10_000_000)], default=0)
    ends_at = local_datetime_field(_l("Ends"))
    points_multiplier = multiplier_field()


def default_publish_at(timezone: str) -> datetime:
    """Tomorrow at 9:00 local time: a sensible first suggestion for scheduling."""
    from datetime import timedelta

    local = to_local(utcnow(), timezone) + timedelta(days=1)
    return local.replace(hour=9, minute=0)
