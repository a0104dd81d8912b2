"""Gamification forms: leaderboard privacy, and the admin's rules, point adjustments and badges."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired

from app.forms import Form, WholeNumberField, flag_field, radio_field
from app.gamification import badges, ledger
from app.gamification.rules import DEFAULT_RULES

MAX_RULE = 100_000
RULES_MESSAGE = _l("Use whole numbers from 0 to 100,000; daily caps must be at least 1.")
ACTION_LABELS = {
    "share": _l("Share (once per post and network)"),
    "click": _l("Each unique click earned"),
    "like": _l("Like"),
    "comment": _l("Comment"),
    "survey": _l("Survey completed"),
    "cta_bonus": _l("Call to action met before its deadline (bonus)"),
    "suggestion": _l("Suggestion approved"),
    "streak_milestone": _l("Streak milestone"),
    "conversion": _l("Conversion reported through the person’s link (not by the pixel)"),
}
# Daily caps: (cap, what it counts, label, lowest value).
CAPS = [
    ("share", "count", _l("Shares that earn points per day"), 1),
    ("click", "points", _l("Most points from clicks per day"), 1),
    ("like", "count", _l("Likes that earn points per day"), 0),
    ("comment", "count", _l("Comments that earn points per day"), 0),
    ("conversion", "count", _l("Conversions that earn points per day"), 0),
    ("total", "points", _l("Most points in total per day"), 1),
]


class PrivacyForm(Form):
    """Hide me from public leaderboards ("1") or show me again (anything else)."""

    hide = HiddenField()


def _rule(name: str, label, low: int = 0) -> WholeNumberField:
    return WholeNumberField(label, low=low, high=MAX_RULE, message=RULES_MESSAGE, name=name,
                            render_kw={"min": low, "max": MAX_RULE})  # fmt: skip


class RulesForm(Form):
    """Points per action, daily caps, streak period and leaderboard switches.

    The fields keep the page's names (``points-share``, ``cap-click-points``...); a
    number left out keeps its current value.
    """

    streak_period = radio_field(
        _l("Streaks"),
        {
            "weekly": _l("Weekly: share at least once a week (recommended; no pressure to post daily)"),
            "daily": _l("Daily"),
        },
        default="weekly",
        name="streak-period",
        validate_choice=False,
        validators=[AnyOf(("daily", "weekly"), message=RULES_MESSAGE)],
    )
    boards_individual = flag_field(_l("Show individual boards"), name="boards-individual")
    boards_teams = flag_field(_l("Show team boards"), name="boards-teams")

    def action_fields(self) -> list:
        """The points-per-action fields, in the page's order."""
        return [self[f"points_{action}"] for action in DEFAULT_RULES["points"]]

    def cap_fields(self) -> list:
        """The daily-cap fields, in the page's order."""
        return [self[f"cap_{cap}_{unit}"] for cap, unit, _label, _low in CAPS]

    @staticmethod
    def data_of(rules: dict) -> dict:
        """The form's values for the rules in force."""
        data = {f"points_{action}": value for action, value in rules["points"].items()}
        data |= {f"cap_{cap}_{unit}": rules["caps"][cap][unit] for cap, unit, _label, _low in CAPS}
        return data | {
            "streak_period": rules["streak"]["period"],
            "boards_individual": rules["boards"]["individual"],
            "boards_teams": rules["boards"]["teams"],
        }

    def rules(self, current: dict) -> dict:
        """The new rules: what was typed, and the current value of any number left out."""

        def number(field, old: int) -> int:
            return old if field.data is None else field.data

        return {
            "points": {a: number(self[f"points_{a}"], v) for a, v in current["points"].items()},
            "caps": {
                cap: {unit: number(self[f"cap_{cap}_{unit}"], current["caps"][cap][unit])}
                for cap, unit, _label, _low in CAPS
            },
            "streak": {**current["streak"], "period": self.streak_period.data},
            "boards": {"individual": self.boards_individual.data, "teams": self.boards_teams.data},
        }


for _action in DEFAULT_RULES["points"]:
    setattr(RulesForm, f"points_{_action}", _rule(f"points-{_action}", ACTION_LABELS.get(_action, _action)))
for _cap, _unit, _label, _low in CAPS:
    setattr(RulesForm, f"cap_{_cap}_{_unit}", _rule(f"cap-{_cap}-{_unit}", _label, _low))


class AdjustForm(Form):
    """Add or remove points for one person, with the reason they see."""

    key = HiddenField()
    email = StringField(_l("Person’s e-mail"), render_kw={"type": "email", "required": True})
    delta = WholeNumberField(
        _l("Points (negative to remove)"),
        [InputRequired(message=_l("Enter a whole number of points from -1,000,000 to 1,000,000."))],
        low=-ledger.MAX_ADJUSTMENT, high=ledger.MAX_ADJUSTMENT,
        message=_l("Enter a whole number of points from -1,000,000 to 1,000,000."), render_kw={"required": True},
    )  # fmt: skip
    note = StringField(_l("Reason (the person sees it)"), render_kw={"required": True, "maxlength": 300})


class BadgeForm(Form):
    """An admin's own badge: a condition from the list and a threshold (the service checks the rest)."""

    name = StringField(_l("Name"), render_kw={"maxlength": 80, "required": True})
    description = StringField(_l("Description"), render_kw={"maxlength": 500})
    condition = SelectField(
        _l("Condition"), choices=[SelectChoice(k, v) for k, v in badges.CONDITIONS.items()], validate_choice=False
    )
    threshold = WholeNumberField(_l("Threshold"), message=_l("The threshold must be a whole number."),
                                 render_kw={"min": 1, "required": True})  # fmt: skip
