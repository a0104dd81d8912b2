"""Forms of the conversion pages: a new API token, the conversions CSV, and the analytics settings."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import Field, StringField
from wtforms.validators import DataRequired, Length, Regexp
from wtforms.widgets import TextInput

from app.analytics.services import DEFAULT_SETTINGS
from app.content.networks import network_label
from app.forms import Form, flag_field
from app.tracking.links import ATTRIBUTION_PARAM_RE

COST_NETWORKS = tuple(DEFAULT_SETTINGS["cost_per_click"])
MAX_COST_PER_CLICK = Decimal("10000")
_MONEY_RE = re.compile(r"[0-9]{1,5}(?:[.,][0-9]{1,2})?")


class TokenForm(Form):
    """A name for a new API token (the site or system that will use it)."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Give the token a name, such as the site that will use it.")), Length(max=120)],
        render_kw={"maxlength": 120, "required": True, "autocomplete": "off"},
    )


class ConversionImportForm(Form):
    """Upload a conversions CSV."""

    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a CSV file.")), FileAllowed(["csv", "txt"], _l("Upload a .csv file."))],
    )


class MoneyField(Field):
    """An amount from 0 to 10,000 with at most two decimals (a point or a comma); None when left empty."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs) -> None:
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:.2f}"

    def process_formdata(self, valuelist) -> None:
        self.data = None
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            return
        if not _MONEY_RE.fullmatch(text) or Decimal(text.replace(",", ".")) > MAX_COST_PER_CLICK:
            raise ValueError(_l("Enter an amount from 0 to 10,000, such as 1.50."))
        self.data = Decimal(text.replace(",", "."))


class SettingsForm(Form):
    """Cost per click per network (earned media value), the currency, and attribution in the redirect.

    The cost fields are named ``cost-<network>``; an amount left empty keeps its current value.
    """

    currency = StringField(
        _l("Currency"),
        filters=[lambda value: value.strip().upper() if isinstance(value, str) else value],
        validators=[DataRequired(),
                    Regexp(r"^[A-Z]{3}$", message=_l("Enter a three-letter currency code, such as EUR."))],
        render_kw={"maxlength": 3, "autocomplete": "off", "required": True},
    )  # fmt: skip
    attribution = flag_field(_l("Add the link’s code to the address people land on"))
    attribution_param = StringField(
        _l("Name of the query parameter"),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired(),
            Regexp(ATTRIBUTION_PARAM_RE.pattern + "$", message=_l(
                "Use 1 to 32 letters, digits, _ or -, starting with a letter and not with utm_.")),
        ],
        render_kw={"maxlength": 32, "autocomplete": "off", "required": True, "spellcheck": "false"},
    )  # fmt: skip

    def cost_fields(self) -> list:
        """The cost-per-click fields, one per network, in the settings' order."""
        return [self[f"cost_{network}"] for network in COST_NETWORKS]

    @staticmethod
    def data_of(settings: dict) -> dict:
        """The form's values for the settings in force."""
        costs = {f"cost_{n}": Decimal(str(v)) for n, v in settings["cost_per_click"].items() if n in COST_NETWORKS}
        return costs | {k: settings[k] for k in ("currency", "attribution", "attribution_param")}

    def settings(self, current: dict) -> dict:
        """The new settings: what was typed, and the current cost of any amount left out."""
        costs = {}
        for network in COST_NETWORKS:
            typed = self[f"cost_{network}"].data
            costs[network] = float(typed) if typed is not None else current["cost_per_click"][network]
        return {**current, "cost_per_click": costs, "currency": self.currency.data,
                "attribution": self.attribution.data, "attribution_param": self.attribution_param.data}  # fmt: skip


class _CostLabel:
    """The label of a network's cost field, put into words in the viewer's language when rendered."""

    def __init__(self, network: str) -> None:
        self.network = network

    def __str__(self) -> str:
        from flask_babel import gettext as _

        return _("Cost per click on %(network)s", network=network_label(self.network))


for _network in COST_NETWORKS:
    setattr(SettingsForm, f"cost_{_network}", MoneyField(_CostLabel(_network), name=f"cost-{_network}"))
