"""What HR starts from: the built-in dimensions, the question kinds and the survey templates.

Texts are lazy translations: a survey made from a template takes them in the language of the
person who made it, and from then on they are that survey's own (HR may edit them).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

BUILTIN_DIMENSIONS = {
    "recognition": _l("Recognition"),
    "growth": _l("Growth"),
    "workload": _l("Workload"),
    "manager": _l("Manager"),
    "culture": _l("Culture"),
    "communication": _l("Communication"),
    "advocacy": _l("Advocacy program"),
    "engagement": _l("Engagement"),
}

KIND_LABELS = {
    "enps": _l("eNPS (0-10)"),
    "likert": _l("Agreement (1-5)"),
    "rating": _l("Rating (1-5)"),
    "single": _l("Single choice"),
    "multi": _l("Multiple choice"),
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
}

LIKERT_LABELS = (
    _l("Strongly disagree"), _l("Disagree"), _l("Neither agree nor disagree"), _l("Agree"), _l("Strongly agree"),
)  # fmt: skip
RATING_LABELS = (_l("Very poor"), _l("Poor"), _l("Fair"), _l("Good"), _l("Excellent"))

ENPS_TEXT = _l("How likely are you to recommend %(company)s as a place to work?")
ENPS_REASON = _l("What is the main reason for your score?")


@dataclass(frozen=True)
class Q:
    """A template question: kind, text, dimension key, required, options."""

    kind: str
    text: object
    dimension: str | None = None
    required: bool = True
    options: tuple = ()


@dataclass(frozen=True)
class Template:
    key: str
    title: object
    description: object
    intro: object
    questions: tuple[Q, ...]
    recurrence: str = "once"
    days_open: int = 7


def _enps(reason: bool = True) -> tuple[Q, ...]:
    first = Q("enps", ENPS_TEXT, "engagement")
    return (first, Q("long_text", ENPS_REASON, "engagement", required=False)) if reason else (first,)


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            "enps_pulse",
            _l("eNPS pulse"),
            _l("Two questions, one minute: the employee Net Promoter Score and its reason."),
            _l("Two quick questions about working here."),
            _enps(),
            recurrence="monthly",
            days_open=5,
        ),
        Template(
            "satisfaction",
            _l("Employee satisfaction"),
            _l("Twelve agreement statements over the dimensions, eNPS and one open question."),
            _l("Tell us how work is going. It takes about four minutes."),
            (
                Q("likert", _l("I receive recognition when I do good work."), "recognition"),
                Q("likert", _l("My contributions are valued by my team."), "recognition"),
                Q("likert", _l("I have opportunities to learn and grow here."), "growth"),
                Q("likert", _l("I can see a future for myself at this company."), "growth"),
                Q("likert", _l("My workload is manageable."), "workload"),
                Q("likert", _l("I can switch off from work in my free time."), "workload"),
                Q("likert", _l("My manager gives me useful feedback."), "manager"),
                Q("likert", _l("My manager cares about my wellbeing."), "manager"),
                Q("likert", _l("I feel I belong here."), "culture"),
                Q("likert", _l("People here treat each other with respect."), "culture"),
                Q("likert", _l("I know what is going on in the company."), "communication"),
                Q("likert", _l("I am proud to share news about the company."), "advocacy"),
                *_enps(reason=False),
                Q("long_text", _l("What one thing would make working here better?"), None, required=False),
            ),
            recurrence="quarterly",
            days_open=14,
        ),
        Template(
            "advocacy_feedback",
            _l("Advocacy program feedback"),
            _l("How employees feel about sharing, points and rewards."),
            _l("Help us make sharing company news easier and more rewarding."),
            (
                Q("rating", _l("How would you rate the advocacy program overall?"), "advocacy"),
                Q("likert", _l("Sharing company content takes little time."), "advocacy"),
                Q("likert", _l("The content offered is worth sharing with my network."), "advocacy"),
                Q("likert", _l("The rewards are worth the effort."), "recognition"),
                Q(
                    "multi",
                    _l("What would make you share more often?"),
                    "advocacy",
                    required=False,
                    options=(_l("Better content"), _l("Better rewards"), _l("More time"), _l("Reminders")),
                ),
                Q("long_text", _l("Anything else you would like to tell us?"), "advocacy", required=False),
            ),
        ),
        Template(
            "onboarding",
            _l("Onboarding check-in"),
            _l("For people in their first months: tools, welcome, clarity."),
            _l("A short check-in on your first weeks with us."),
            (
                Q("likert", _l("I had what I needed to do my job from day one."), "workload"),
                Q("likert", _l("I know what is expected of me."), "manager"),
                Q("likert", _l("My colleagues made me feel welcome."), "culture"),
                Q(
                    "single",
                    _l("How was your first week overall?"),
                    "culture",
                    options=(_l("Better than expected"), _l("As expected"), _l("Worse than expected")),
                ),
                Q("short_text", _l("What was the most confusing part?"), "communication", required=False),
            ),
        ),
    )
}
