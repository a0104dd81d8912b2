from tests.browser.conftest import run_axe, sign_in, describe, wait_for_service_worker


def test_explore(page, live_server, factory, console):
    factory.user("e@example.com", "Erin Employee", password="long-enough-pass")
    page.goto(live_server.url + "/login")
    try:
        v = run_axe(page)
        print(describe(v))
    except Exception as exc:
        print("AXE FAILED", exc)
    print(console.messages)
    sign_in(page, live_server, "e@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    print(page.evaluate("navigator.serviceWorker.controller.state"))
    console.messages.clear()
