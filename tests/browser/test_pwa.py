"""Herald installs as an app and keeps working offline, through its service worker."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from .helpers import ARGS, CHROMIUM, PHONE, Console, sign_in, wait_for_service_worker, wait_until


def test_installable(playwright, live_server, tmp_path):
    # An ordinary (incognito) context always reports "in-incognito": use a real profile.
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, **PHONE
    )
    console = Console()
    context.on("console", console.on_console)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(live_server.url + "/login")
        wait_for_service_worker(page)

        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"] == live_server.url + "/manifest.webmanifest"
        assert manifest["errors"] == []
        data = json.loads(manifest["data"])
        assert (data["display"], data["start_url"], data["scope"]) == ("standalone", "/feed?source=pwa", "/")
        assert console.csp_violations() == []
    finally:
        context.close()


def test_offline_pages_come_from_the_service_worker(page, context, live_server, factory, console):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    # The first visit came before the worker; this one goes through it, and it keeps a copy.
    response = page.reload()
    assert response.from_service_worker
    wait_until(page, "async () => Boolean(await caches.match(location.href))")

    context.set_offline(True)
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi Erin")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    # A page never opened on this phone: the offline page, still from the worker.
    response = page.goto(live_server.url + "/leaderboard")
    assert response is not None
    assert response.from_service_worker
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()

    # Back online, the network answers again.
    context.set_offline(False)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leaderboard")


def test_the_offline_page_cache_keeps_only_the_newest_pages(page, context, live_server, factory, console):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    for n in range(30):
        page.goto(f"{live_server.url}/feed?visit={n}")
    page_urls = (
        "async () => (await (await caches.open((await caches.keys()).find((k) => k.startsWith('herald-pages-'))))"
        ".keys()).map((r) => r.url)"
    )
    wait_until(page, f"async () => (await ({page_urls})()).includes('{live_server.url}/feed?visit=29')")
    urls = page.evaluate(page_urls)
    assert len(urls) == 25
    assert f"{live_server.url}/feed?visit=29" in urls and f"{live_server.url}/feed?visit=0" not in urls
    assert console.csp_violations() == []
