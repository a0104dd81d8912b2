"""Admin sections (app/admin_nav.py): every admin URL belongs to one, employee pages to none."""

from __future__ import annotations

import pytest

from app.admin_nav import area_of, section_of


def test_every_admin_and_hr_url_belongs_to_a_section(app):
    """A new admin page cannot escape the admin navigation (or light up an employee tab)."""
    loose = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/admin", "/hr")) and section_of(rule.endpoint) is None
    ]
    assert loose == []


@pytest.mark.parametrize(
    ("endpoint", "section"),
    [
        ("admin.dashboard", "overview"),
        ("admin.edit_user", "people"),
        ("privacy.admin_erase", "people"),
        ("content.admin_edit_post", "content"),
        ("notifications.admin_cta", "content"),
        ("content.admin_campaign", "campaigns"),
        ("content.admin_campaigns", "campaigns"),
        ("gamification.admin_badges", "points"),
        ("rewards.admin_kudos", "rewards"),
        ("analytics.business", "analytics"),
        ("surveys.hr_results", "surveys"),
    ],
)
def test_a_page_belongs_to_the_section_with_the_longest_prefix(endpoint, section):
    assert section_of(endpoint).key == section


@pytest.mark.parametrize(
    "endpoint", ["main.feed", "gamification.board", "rewards.catalog", "rewards.reward", "surveys.inbox", "accounts.me"]
)
def test_employee_pages_are_in_no_work_area(endpoint):
    assert section_of(endpoint) is None and area_of(endpoint) is None


def test_survey_pages_for_hr_are_the_hr_area():
    assert area_of("surveys.hr_home") == "hr" and area_of("rewards.admin_queue") == "admin"
