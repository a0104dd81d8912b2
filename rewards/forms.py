"""Rewards and kudos forms: the reward editor, redeeming, fulfilment, and sending kudos."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, ValidationError

from app.forms import (
    Form,
    IdField,
    IdListField,
    MultiCheckboxField,
    WholeNumberField,
    flag_field,
    local_datetime_field,
    radio_field,
)
from app.inputs import whole_number
from app.timeutil import to_local, to_utc
from rewards import kudos
from rewards.models import REWARD_KINDS, Reward, RewardDepartment, RewardLocation, RewardVariant

MAX_REWARD_NUMBER = 1_000_000  # costs, stock, limits: far beyond real use, well inside the INTEGER columns
REWARD_NUMBER_MESSAGE = _l("Use whole numbers from 0 to 1,000,000 for costs, limits and quantities.")
ADDRESS_LABELS = {
    "name": (_l("Full name"), "name"),
    "line1": (_l("Street and number"), "address-line1"),
    "line2": (_l("Apartment, floor (optional)"), "address-line2"),
    "postcode": (_l("Postcode"), "postal-code"),
    "city": (_l("City"), "address-level2"),
    "country": (_l("Country"), "country-name"),
    "phone": (_l("Phone (optional, for the courier)"), "tel"),
}


def _reward_number(label, **kwargs) -> WholeNumberField:
    return WholeNumberField(label, low=0, high=MAX_REWARD_NUMBER, message=REWARD_NUMBER_MESSAGE,
                            render_kw={"min": 0}, **kwargs)  # fmt: skip


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class VariantsField(TextAreaField):
    """Merch variants typed one per line as ``label: stock``; ``pairs`` holds them once validated."""

    pairs: list[tuple[str, int]]

    def pre_validate(self, form) -> None:
        self.pairs = []
        for line in (self.data or "").splitlines():
            if not line.strip():
                continue
            label, _sep, stock = line.rpartition(":")
            if not label.strip():
                label, stock = line, "0"
            try:
                count = whole_number(stock)
            except ValueError:
                raise ValidationError(_l("Write each variant as “label: stock”, for example “M / Navy: 10”.")) from None
            if not 0 <= count <= MAX_REWARD_NUMBER:
                raise ValidationError(_l("Stock must be from 0 to 1,000,000."))
            self.pairs.append((label.strip()[:80], count))


class RewardForm(Form):
    """Add or edit a reward: what it is, what it costs, its stock or codes, when and to whom it is offered."""

    kind = radio_field(
        _l("Kind"),
        {
            "merch": _l("Merch (sizes or colours with stock)"),
            "gift_card": _l("Gift card (a pool of codes)"),
            "experience": _l("Experience or recognition (handled by hand)"),
        },
        default="merch",
        validate_choice=False,
        validators=[AnyOf(REWARD_KINDS, message=_l("Choose a kind of reward."))],
    )
    title = StringField(_l("Title"), filters=[_strip], render_kw={"maxlength": 120},
                        validators=[DataRequired(message=_l("Give the reward a title.")), Length(max=120)])  # fmt: skip
    description = TextAreaField(_l("Description"), filters=[_strip], validators=[Length(max=2000)],
                                render_kw={"rows": 3, "maxlength": 2000})  # fmt: skip
    cost = _reward_number(_l("Cost in points"))
    image = FileField(_l("Image"), render_kw={"accept": "image/jpeg,image/png,image/webp"})
    variants = VariantsField(_l("Merch variants, one per line: “label: stock”"), render_kw={"rows": 4})
    brand = StringField(_l("Gift card brand"), filters=[_strip], validators=[Length(max=80)],
                        render_kw={"maxlength": 80})  # fmt: skip
    denomination = StringField(_l("Gift card value (for example “50 EUR”)"), filters=[_strip],
                               validators=[Length(max=40)], render_kw={"maxlength": 40})  # fmt: skip
    quantity = _reward_number(_l("Places for an experience (empty: unlimited)"))
    limit_per_month = _reward_number(_l("Limit per person per month (empty: none)"))
    limit_total = _reward_number(_l("Limit per person in total (empty: none)"))
    low_stock_at = _reward_number(_l("Warn when stock or codes fall to"), default=5)
    starts_at = local_datetime_field(_l("Available from"))
    ends_at = local_datetime_field(_l("Available until"))
    department_ids = MultiCheckboxField(_l("Only these departments"), coerce=int)
    location_ids = MultiCheckboxField(_l("Only these locations"), coerce=int)
    requires_approval = flag_field(_l("An admin approves each redemption"), default=True)
    active = flag_field(_l("Active (shown in the catalog)"), default=True)

    @classmethod
    def data_of(cls, item: Reward, timezone: str) -> dict:
        """The form's values for an existing reward (dates in the admin's time zone)."""
        return {
            "kind": item.kind, "title": item.title, "description": item.description, "cost": item.cost,
            "variants": "".join(f"{v.label}: {v.stock}\n" for v in item.variants), "brand": item.brand,
            "denomination": item.denomination, "quantity": item.quantity, "limit_per_month": item.limit_per_month,
            "limit_total": item.limit_total, "low_stock_at": item.low_stock_at,
            "starts_at": to_local(item.starts_at, timezone), "ends_at": to_local(item.ends_at, timezone),
            "department_ids": [d.department_id for d in item.departments],
            "location_ids": [loc.location_id for loc in item.locations],
            "requires_approval": item.requires_approval, "active": item.active,
        }  # fmt: skip

    def validate_cost(self, field) -> None:
        if not field.errors and not field.data:
            raise ValidationError(_l("Set a cost of at least 1 point."))

    def validate_variants(self, field) -> None:
        if self.kind.data == "merch" and not field.errors and not field.pairs:
            raise ValidationError(_l("Add at least one variant with its stock."))

    def validate_ends_at(self, field) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The availability must end after it starts."))

    def fill(self, item: Reward, timezone: str) -> None:
        """Copy the validated values onto ``item`` (the image is the view's: it writes files)."""
        kind = self.kind.data
        item.kind, item.title, item.cost = kind, self.title.data, self.cost.data
        item.description = self.description.data or ""
        item.brand = self.brand.data or ""
        item.denomination = self.denomination.data or ""
        item.quantity = self.quantity.data if kind == "experience" else None
        item.limit_per_month = self.limit_per_month.data or None
        item.limit_total = self.limit_total.data or None
        item.low_stock_at = self.low_stock_at.data or 0
        item.requires_approval = self.requires_approval.data
        item.active = self.active.data
        item.starts_at = to_utc(self.starts_at.data, timezone)
        item.ends_at = to_utc(self.ends_at.data, timezone)
        if kind == "merch":
            wanted = self.variants.pairs
            by_label = {v.label: v for v in item.variants}
            item.variants = [
                by_label.pop(label, None) or RewardVariant(label=label, stock=stock) for label, stock in wanted
            ]
            for variant, (_label, stock) in zip(item.variants, wanted, strict=True):
                variant.stock = stock
        else:
            item.variants = []
        # The choices are the existing departments and locations, so every id here is one.
        item.departments = [RewardDepartment(department_id=i) for i in self.department_ids.data or []]
        item.locations = [RewardLocation(location_id=i) for i in self.location_ids.data or []]
        item.audience_all = not (item.departments or item.locations)


def _address_field(name: str) -> StringField:
    label, autocomplete = ADDRESS_LABELS[name]
    return StringField(label, render_kw={"autocomplete": autocomplete, "maxlength": 120})


class CodesForm(Form):
    """Gift-card codes to add to a reward's pool, as a CSV file (the service reads and checks it)."""

    codes = FileField(
        _l("CSV file, one code per line"), render_kw={"accept": ".csv,text/csv,text/plain", "required": True}
    )


class RedeemForm(Form):
    """The redeem sheet: which variant, and where it goes (an address or an office)."""

    key = HiddenField()
    variant_id = IdField(_l("Size or colour"))
    delivery = HiddenField(default="ship")
    pickup_location_id = IdField(_l("Office"))
    name = _address_field("name")
    line1 = _address_field("line1")
    line2 = _address_field("line2")
    postcode = _address_field("postcode")
    city = _address_field("city")
    country = _address_field("country")
    phone = _address_field("phone")

    def address(self, fields) -> dict[str, str]:
        """The typed address, by the service's field names."""
        return {name: self[name].data or "" for name in fields}

    @property
    def pickup(self) -> bool:
        """Whether the person chose to pick it up at an office."""
        return self.delivery.data == "pickup"


class RedemptionUpdateForm(Form):
    """An admin moves a redemption on: approve, reject (with a reason), ship (carrier, tracking), deliver."""

    action = SelectField(choices=[SelectChoice(a) for a in ("approved", "rejected", "shipped", "delivered")])
    reason = StringField(_l("Reason (the employee sees it; points are refunded)"),
                         render_kw={"maxlength": 500, "required": True})  # fmt: skip
    carrier = StringField(_l("Carrier"), render_kw={"maxlength": 60})
    tracking = StringField(_l("Tracking number"), render_kw={"maxlength": 120})


class BulkApproveForm(Form):
    """The redemptions ticked in the queue (ids that are not whole numbers are dropped)."""

    ids = IdListField()


class KudosForm(Form):
    """Send kudos: to whom, why, and optionally some points (the service checks each against the settings)."""

    key = HiddenField()
    recipient = StringField(_l("To"))
    message = TextAreaField(_l("Message"))
    points = StringField(_l("Points (optional)"))

    def show_error(self, error: kudos.KudosError) -> None:
        """Put the service's refusal next to the field it is about (above the form when it is about none)."""
        if error.field in ("recipient", "message", "points"):
            self[error.field].errors = [*self[error.field].errors, str(error)]
        else:
            self.form_errors.append(str(error))


class ShoutoutForm(KudosForm):
    """A public thank-you from the company (admin): the kudos form, told apart by its hidden ``form`` field."""

    form = HiddenField()


SETTINGS_MESSAGE = _l(
    "Use whole numbers: a monthly allowance from 0 to 100,000, from 1 to 100,000 points per kudos, "
    "and from 1 to 1,000 kudos with points between two people a month."
)


def _setting(name: str, label) -> WholeNumberField:
    low, high = kudos.SETTING_RANGES[name]
    return WholeNumberField(label, [InputRequired(message=SETTINGS_MESSAGE)], low=low, high=high,
                            message=SETTINGS_MESSAGE, render_kw={"min": low, "max": high})  # fmt: skip


class KudosSettingsForm(Form):
    """Allowance, points per kudos and pair limit, each within ``kudos.SETTING_RANGES``."""

    form = HiddenField()
    monthly_allowance = _setting("monthly_allowance", _l("Points each person can give per month"))
    max_points_per_kudos = _setting("max_points_per_kudos", _l("Most points in one kudos"))
    pair_limit = _setting("pair_limit", _l("Kudos with points between the same two people per month (both directions)"))

    def values(self) -> dict[str, int | None]:
        """The typed settings by name."""
        return {name: self[name].data for name in kudos.SETTING_RANGES}
