"""The shell adapts to the screen: five thumb tabs on a phone, a side rail with work areas on a desktop."""

from __future__ import annotations

from playwright.sync_api import expect

from .helpers import PASSWORD, sign_in


def test_admin_with_hr_keeps_five_tabs_on_a_phone(page, live_server, factory, console):
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin", "hr"), password=PASSWORD)
    sign_in(page, live_server, "ada@example.com")
    page.goto(live_server.url + "/feed")
    tabs = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(tabs).to_have_count(5)
    for box in (tabs.nth(i).bounding_box() for i in range(5)):
        assert box["width"] >= 44 and box["height"] >= 44
    areas = page.get_by_role("navigation", name="Work areas")
    areas.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(live_server.url + "/admin/")
    areas.get_by_role("link", name="HR").click()
    expect(page).to_have_url(live_server.url + "/hr/")


def test_desktop_shows_a_side_rail_with_the_work_areas(browser, live_server, factory):
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin"), password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, live_server, "ada@example.com")
    page.goto(live_server.url + "/feed")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link")).to_have_count(6)
    box = main_nav.bounding_box()
    assert box["x"] == 0 and box["height"] >= 700  # a rail down the left side, not a bottom bar
    expect(page.get_by_role("navigation", name="Work areas")).to_be_hidden()
    main_nav.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(live_server.url + "/admin/")
    context.close()
