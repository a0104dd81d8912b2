"""The one admin navigation: which admin section a page belongs to, decided by its endpoint.

Admin pages live in several feature packages (people in ``admin``, posts in ``content``, points
in ``gamification``, ...). This is the single list of their sections, so every admin page shows
the same navigation with its section marked, and the tab bar knows an admin page lights up no
employee tab (``area``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user


@dataclass(frozen=True)
class Section:
    """One admin section: its landing endpoint, the endpoint prefixes it owns, its own pages."""

    key: str
    label: object  # a lazy string
    endpoint: str
    prefixes: tuple[str, ...]
    role: str = "admin"
    pages: tuple[tuple[str, object], ...] = field(default=())
    pages_label: object = None


# In the order shown. A page belongs to the section with the longest prefix of its endpoint, so
# "content.admin_campaigns" is Campaigns (not Content) and "admin.dashboard" Overview (not People).
SECTIONS: tuple[Section, ...] = (
    Section("overview", _l("Overview"), "admin.dashboard", ("admin.dashboard",)),
    Section(
        "content", _l("Content"), "content.admin_posts",
        ("content.admin_", "notifications.admin_"),
        pages=(("content.admin_posts", _l("Posts")), ("content.admin_new_post", _l("New post")),
               ("content.admin_suggestions", _l("Suggestions")), ("content.admin_feeds", _l("Feeds"))),
        pages_label=_l("Content sections"),
    ),
    Section("campaigns", _l("Campaigns"), "content.admin_campaigns", ("content.admin_campaign",)),
    Section(
        "points", _l("Points"), "gamification.admin_rules", ("gamification.admin_",),
        pages=(("gamification.admin_rules", _l("Rules")), ("gamification.admin_adjust", _l("Adjust points")),
               ("gamification.admin_badges", _l("Badges"))),
        pages_label=_l("Points sections"),
    ),
    Section(
        "rewards", _l("Rewards"), "rewards.admin_rewards", ("rewards.admin_",),
        pages=(("rewards.admin_rewards", _l("Catalog")), ("rewards.admin_new_reward", _l("New reward")),
               ("rewards.admin_queue", _l("Redemptions")), ("rewards.admin_kudos", _l("Kudos"))),
        pages_label=_l("Rewards sections"),
    ),
    Section(
        "people", _l("People"), "admin.users", ("admin.", "privacy.admin_"),
        pages=(("admin.users", _l("People")), ("admin.import_users", _l("Import")),
               ("admin.departments", _l("Departments")), ("admin.locations", _l("Locations"))),
        pages_label=_l("People sections"),
    ),
    Section("analytics", _l("Analytics"), "analytics.dashboard", ("analytics.",)),
    Section("surveys", _l("Surveys"), "surveys.hr_home", ("surveys.hr_",), role="hr"),
)  # fmt: skip


def section_of(endpoint: str | None) -> Section | None:
    """The admin section ``endpoint`` belongs to, or None for an employee page."""
    if not endpoint:
        return None
    best, length = None, 0
    for section in SECTIONS:
        for prefix in section.prefixes:
            if endpoint.startswith(prefix) and len(prefix) > length:
                best, length = section, len(prefix)
    return best


def area_of(endpoint: str | None) -> str | None:
    """Which work area of the tab bar a page is in: "admin", "hr" (surveys for HR) or None (employee)."""
    section = section_of(endpoint)
    if section is None:
        return None
    return "hr" if section.role == "hr" else "admin"


def install(app: Flask) -> None:
    """Make ``admin_nav()`` (the sections the viewer may open, and the current one) a template global."""

    def admin_nav() -> dict | None:
        """The viewer's admin sections and the current one, or None off admin pages (or with one section)."""
        current = section_of(request.endpoint)
        if current is None or not current_user.is_authenticated:
            return None
        sections = [s for s in SECTIONS if current_user.has_role(s.role)]
        if len(sections) < 2:  # HR alone: the survey pages have their own navigation
            return None
        return {"sections": sections, "current": current}

    app.jinja_env.globals.update(admin_nav=admin_nav, admin_area=lambda: area_of(request.endpoint))
