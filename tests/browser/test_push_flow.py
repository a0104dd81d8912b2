"""Push and the notification centre in real Chromium, on a phone.

- A push delivered to the service worker through the DevTools protocol
  (``ServiceWorker.deliverPushMessage``, the payload in the Declarative Web Push shape the server
  sends) shows a notification; its click opens the post with its share buttons. Headless
  Chromium cannot click a notification: the worker's own ``notificationclick`` listener is run by
  dispatching a ``NotificationEvent`` inside the worker, which moves the open Herald window. With
  no window open, ``clients.openWindow`` needs the user activation only a real click gives, so
  that path records the address it would open (``openWindow`` replaced in the worker) and the
  test opens it.
- "Turn on notifications" on the settings page. Chromium refuses ``pushManager.subscribe`` in
  Playwright's (incognito) contexts ("Registration failed - permission denied"), and in a real
  profile it waits forever for Google's push service, which a test machine cannot reach. So the
  failure is tested as it is, and the rest with the browser's ``PushManager`` (only it) replaced
  by one that hands out a subscription: the page's request to ``/push/subscribe``, the stored
  device, turning off, and the quiet re-send on the next app start are the real ones.
- The bell's unread count and the centre's "Read" and "Mark all read".
- axe on the centre, the settings, and an admin's call-to-action form and live panel (light and
  dark); the panel's htmx polling under the Content Security Policy.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.notifications import sender, services, vapid
from app.notifications.models import Notification, PushSubscription
from tests.helpers import make_post

from .helpers import describe, run_axe, sign_in, wait_for_service_worker, wait_until

# A phone's user agent: the device list names it "Chrome on Android".
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
ENDPOINT = "https://fcm.googleapis.com/fcm/send/herald-browser-test"
FAILED = "Notifications could not be turned on. Try again in a moment."
ON = "Notifications are on for this device."
OFF = "Notifications are off for this device."

NOTIFICATIONS_OF_PAGE = """async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map((n) => ({
        title: n.title, body: n.body, tag: n.tag, lang: n.lang, dir: n.dir, icon: n.icon, badge: n.badge, data: n.data,
    }));
}"""


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """The folder's phone, with a phone's user agent."""
    return {**browser_context_args, "user_agent": PHONE_UA}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_push_manager(context) -> dict:
    """Replace the pages' ``PushManager`` (only it) with one that hands out a subscription.

    The keys are a real P-256 point and a 16-byte secret, as a browser makes them. The
    subscription lives in localStorage, so it survives reloads and new tabs like a real one.
    ``window.__push`` records what the page asked of it.
    """
    keys = {
        "p256dh": b64url(
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        ),
        "auth": b64url(b"sixteen byte key"),
    }
    script = """
    (() => {
      const ENDPOINT = __ENDPOINT__, KEYS = __KEYS__, STORE = "test-fake-push";
      window.__push = { subscribe: [], unsubscribed: 0 };
      const make = (key) => ({
        endpoint: ENDPOINT, expirationTime: null,
        options: { userVisibleOnly: true, applicationServerKey: new Uint8Array(key).buffer },
        toJSON() { return { endpoint: ENDPOINT, expirationTime: null, keys: KEYS }; },
        async unsubscribe() { localStorage.removeItem(STORE); window.__push.unsubscribed += 1; return true; },
      });
      PushManager.prototype.subscribe = async function (options) {
        const key = Array.from(new Uint8Array(options.applicationServerKey));
        window.__push.subscribe.push({ userVisibleOnly: options.userVisibleOnly, key });
        localStorage.setItem(STORE, JSON.stringify(key));
        return make(key);
      };
      PushManager.prototype.getSubscription = async function () {
        const key = localStorage.getItem(STORE);
        return key ? make(JSON.parse(key)) : null;
      };
    })();
    """.replace("__ENDPOINT__", json.dumps(ENDPOINT)).replace("__KEYS__", json.dumps(keys))
    context.add_init_script(script)
    return keys


def form_of(request) -> dict[str, str]:
    """The fields of a url-encoded POST (one value each)."""
    return {name: values[0] for name, values in parse_qs(request.post_data or "").items()}


def a_call_to_action(app, user_id: int, title: str = "We opened the Warsaw office") -> tuple[int, int]:
    """A published post sent as a call to action: (post id, the person's notification id)."""
    post_id = make_post(app, title=title)
    with app.test_request_context():
        from app.content.models import Post

        services.send_cta(
            db.session.get(Post, post_id), None, services.CtaData([], [], None, False, "Share it today", 150)
        )
        db.session.commit()
        note = db.session.scalar(
            select(Notification.id).where(Notification.user_id == user_id, Notification.cta_id.is_not(None))
        )
    return post_id, note


def push_target(context, page, live_server):
    """A DevTools session and the service worker registration's id, to deliver pushes with."""
    cdp = context.new_cdp_session(page)
    found: list[dict] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: found.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    wait_until(page, "() => true")  # let the event arrive
    for _ in range(100):
        live = [r for r in found if not r["isDeleted"] and r["scopeURL"] == live_server.url + "/"]
        if live:
            return cdp, live[0]["registrationId"]
        page.wait_for_timeout(50)
    raise AssertionError(f"no service worker registration for {live_server.url}/: {found}")


def worker_of(context):
    """The running service worker, as Playwright sees it."""
    if not context.service_workers:
        context.wait_for_event("serviceworker")
    return context.service_workers[0]


def click_notification(worker) -> None:
    """What tapping the notification does: the worker's own ``notificationclick`` listener runs.

    Headless Chromium shows notifications but cannot click them, and the DevTools protocol has
    no command for it: the event is dispatched inside the worker instead.
    """
    worker.evaluate(
        """async () => {
            const [notification] = await self.registration.getNotifications();
            self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
        }"""
    )


# --- (a) a push, its notification, its click ---------------------------------------------------------------


def test_a_push_shows_a_notification_and_its_click_opens_the_post(page, context, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    post_id, note_id = a_call_to_action(app, erin)
    with app.app_context():
        # Exactly what the sender pushes (app/notifications/tasks.py): the link opens the notification.
        payload = sender.payload(
            "Call to action: We opened the Warsaw office", "Share it today",
            services.absolute(f"/notifications/{note_id}/open"), "en", badge=1,
        )  # fmt: skip
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    # The call to action, and the day's "new posts" (publishing the post announced it).
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications: 2 unread")
    cdp, registration = push_target(context, page, live_server)
    worker = worker_of(context)
    # The App Badging API leaves no trace a test can read: record what the worker asks of it.
    worker.evaluate(
        "() => { self.__badges = []; self.navigator.setAppBadge = async (n) => { self.__badges.push(n); }; }"
    )

    cdp.send(
        "ServiceWorker.deliverPushMessage", {"origin": live_server.url, "registrationId": registration, "data": payload}
    )
    wait_until(page, f"async () => (await ({NOTIFICATIONS_OF_PAGE})()).length === 1")
    [shown] = page.evaluate(NOTIFICATIONS_OF_PAGE)
    assert shown["title"] == "Call to action: We opened the Warsaw office"
    assert shown["body"] == "Share it today"
    assert shown["data"] == {"url": f"{live_server.url}/notifications/{note_id}/open"}
    assert (shown["lang"], shown["dir"]) == ("en", "ltr")
    assert shown["icon"] == live_server.url + "/static/icons/icon-192.png"
    assert shown["badge"] == live_server.url + "/static/icons/badge-96.png"
    assert worker.evaluate("self.__badges") == [1]

    # The tap: the open Herald window goes to the notification, which leads to the post's share buttons.
    click_notification(worker)
    page.wait_for_url(f"{live_server.url}/posts/{post_id}?share=1")
    sheet = page.locator(f"#post-{post_id} details.share-sheet")
    expect(sheet).to_have_attribute("open", "")
    expect(sheet.get_by_role("button", name="LinkedIn")).to_be_in_viewport()
    assert page.evaluate(NOTIFICATIONS_OF_PAGE) == []  # the tap closed it
    with app.app_context():
        note = db.session.get(Notification, note_id)
        assert note.opened_at is not None and note.read_at is not None  # counts as opened on the CTA panel
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications: 1 unread")
    assert console.csp_violations() == []


def test_a_every_push_shows_something_and_stays_on_herald(page, context, live_server, factory, console):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    cdp, registration = push_target(context, page, live_server)

    def deliver(data: str, until: str) -> list[dict]:
        """Push ``data``; wait until the notifications shown (``shown``) make ``until`` true."""
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live_server.url, "registrationId": registration, "data": data},
        )
        wait_until(page, f"async () => {{ const shown = await ({NOTIFICATIONS_OF_PAGE})(); return {until}; }}")
        return page.evaluate(NOTIFICATIONS_OF_PAGE)

    # Unreadable: still a notification (a silent push gets the subscription revoked), in words people read.
    shown = deliver("not json at all", "shown.length === 1")
    assert shown[0]["title"] == "Herald"
    assert shown[0]["body"] == "Something new is waiting for you in Herald."
    assert shown[0]["data"] == {"url": live_server.url + "/notifications"}
    # A link to another site is kept on Herald; a tag replaces the older notification with the same tag.
    message = {"web_push": 8030, "notification": {"title": "Streak", "body": "Keep it", "navigate": "https://evil.example/feed?x=1",
                                                  "lang": "pl", "dir": "ltr", "tag": "streak"}}  # fmt: skip
    deliver(json.dumps(message), "shown.length === 2")
    again = {**message, "notification": {**message["notification"], "body": "Keep it, again"}}
    deliver(json.dumps(again), "shown.some((n) => n.body === 'Keep it, again')")
    shown = {n["tag"]: n for n in page.evaluate(NOTIFICATIONS_OF_PAGE)}
    assert len(shown) == 2
    assert shown["streak"]["data"] == {"url": live_server.url + "/feed?x=1"}
    assert (shown["streak"]["body"], shown["streak"]["lang"]) == ("Keep it, again", "pl")
    assert console.csp_violations() == []


def test_a_with_no_window_open_the_click_opens_one(page, context, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    post_id, note_id = a_call_to_action(app, erin)
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    wait_for_service_worker(page)
    cdp, registration = push_target(context, page, live_server)
    worker = worker_of(context)
    with app.app_context():
        payload = sender.payload("CTA", "Go", services.absolute(f"/notifications/{note_id}/open"), "en", badge=1)
    cdp.send(
        "ServiceWorker.deliverPushMessage", {"origin": live_server.url, "registrationId": registration, "data": payload}
    )
    wait_until(page, f"async () => (await ({NOTIFICATIONS_OF_PAGE})()).length === 1")

    # Herald closed: only a blank tab is left. A real tap lets the worker open a window; a dispatched
    # event is not a tap (Chromium refuses: "Not allowed to open a window"), so record the address.
    blank = context.new_page()
    page.close()
    worker.evaluate(
        "() => { self.__opened = []; self.clients.openWindow = async (url) => { self.__opened.push(url); }; }"
    )
    click_notification(worker)
    wait_until(blank, "() => true")
    for _ in range(100):
        opened = worker.evaluate("self.__opened")
        if opened:
            break
        blank.wait_for_timeout(50)
    assert opened == [f"{live_server.url}/notifications/{note_id}/open"]
    assert worker.evaluate("self.registration.getNotifications().then((n) => n.length)") == 0
    blank.goto(opened[0])
    assert blank.url == f"{live_server.url}/posts/{post_id}?share=1"
    expect(blank.locator(f"#post-{post_id} details.share-sheet")).to_have_attribute("open", "")
    assert console.csp_violations() == []


# --- (b) turning notifications on and off ------------------------------------------------------------------


def test_b_permission_is_asked_only_after_the_tap(page, context, live_server, factory, console):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    context.add_init_script(
        """(() => {
            window.__asked = 0;
            const ask = Notification.requestPermission.bind(Notification);
            Notification.requestPermission = (...args) => { window.__asked += 1; return ask(...args); };
        })();"""
    )
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/me/notifications")
    wait_for_service_worker(page)
    setup = page.locator("#push-setup")
    expect(setup.get_by_role("status")).to_have_text(OFF)
    expect(setup.get_by_role("button", name="Turn off on this device")).to_be_hidden()
    assert page.evaluate("window.__asked") == 0  # nothing asked on arrival
    # Headless Chromium answers the prompt nobody can see by dismissing it: the page stays "off".
    setup.get_by_role("button", name="Turn on notifications").click()
    wait_until(page, "() => window.__asked === 1")
    expect(setup.get_by_role("status")).to_have_text(OFF)
    expect(setup.get_by_role("button", name="Turn on notifications")).to_be_visible()
    assert console.csp_violations() == []


def test_b_when_the_browser_refuses_to_subscribe_the_page_says_so(page, context, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/me/notifications")
    wait_for_service_worker(page)
    posted = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    setup = page.locator("#push-setup")
    setup.get_by_role("button", name="Turn on notifications").click()
    # Chromium: "AbortError: Registration failed - permission denied" (no Push API in incognito contexts).
    expect(setup.get_by_role("status")).to_have_text(FAILED)
    expect(setup.get_by_role("button", name="Turn on notifications")).to_be_visible()
    assert any("Registration failed" in m for m in console.messages), console.messages
    assert not [url for url in posted if "/push/" in url]
    with app.app_context():
        assert db.session.scalar(select(PushSubscription).where(PushSubscription.user_id == erin)) is None
    assert console.csp_violations() == []


def test_b_turning_on_stores_this_device_and_turning_off_removes_it(page, context, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    keys = fake_push_manager(context)
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/me/notifications")
    wait_for_service_worker(page)
    assert page.viewport_size == {"width": 390, "height": 844}
    setup = page.locator("#push-setup")
    expect(setup.get_by_role("status")).to_have_text(OFF)
    turn_on = setup.get_by_role("button", name="Turn on notifications")
    box = turn_on.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44

    with page.expect_request(lambda r: r.url.endswith("/push/subscribe") and r.method == "POST") as sent:
        turn_on.click()
    fields = form_of(sent.value)
    assert fields["endpoint"] == ENDPOINT
    assert (fields["p256dh"], fields["auth"]) == (keys["p256dh"], keys["auth"])
    assert fields["device"] == "Chrome on Android"
    assert fields["csrf_token"] and sent.value.headers["x-csrftoken"] == fields["csrf_token"]
    assert "refresh" not in fields  # a tap subscribes for real
    with app.app_context():
        server_key = vapid.public_key()
    [asked] = page.evaluate("window.__push.subscribe")
    assert asked["userVisibleOnly"] is True
    assert b64url(bytes(asked["key"])) == server_key

    expect(setup.get_by_role("status")).to_have_text(ON)
    expect(setup.get_by_role("button", name="Turn off on this device")).to_be_visible()
    expect(turn_on).to_be_hidden()
    devices = page.locator("#push-devices")
    expect(devices).to_contain_text("Chrome on Android")  # the list follows without a reload
    with app.app_context():
        [row] = db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == erin)).all()
        assert (row.endpoint, row.p256dh, row.auth, row.device) == (
            ENDPOINT,
            keys["p256dh"],
            keys["auth"],
            "Chrome on Android",
        )

    # Back on the page later: still on.
    page.reload()
    expect(setup.get_by_role("status")).to_have_text(ON)

    with page.expect_request(lambda r: r.url.endswith("/push/unsubscribe") and r.method == "POST") as gone:
        setup.get_by_role("button", name="Turn off on this device").click()
    assert form_of(gone.value)["endpoint"] == ENDPOINT
    assert gone.value.headers["accept"] == "application/json"
    expect(setup.get_by_role("status")).to_have_text(OFF)
    expect(devices).to_contain_text("No device gets notifications yet.")
    assert page.evaluate("window.__push.unsubscribed") == 1
    with app.app_context():
        assert db.session.scalar(select(PushSubscription).where(PushSubscription.user_id == erin)) is None
    assert console.csp_violations() == []


def test_b_every_app_start_sends_the_subscription_again(page, context, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    fake_push_manager(context)
    context.grant_permissions(["notifications"], origin=live_server.url)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/me/notifications")
    wait_for_service_worker(page)
    page.get_by_role("button", name="Turn on notifications").click()
    expect(page.locator("#push-setup").get_by_role("status")).to_have_text(ON)

    def app_start():
        """Herald opened again: a new tab (a new session)."""
        tab = context.new_page()
        with tab.expect_request(lambda r: r.url.endswith("/push/subscribe") and r.method == "POST") as sent:
            tab.goto(live_server.url + "/feed")
        return tab, form_of(sent.value), sent.value.response().json()

    tab, fields, answer = app_start()
    assert (fields["endpoint"], fields["refresh"], answer) == (ENDPOINT, "1", {"ok": True})
    # Once per app start, not on every page.
    later = []
    tab.on("request", lambda r: later.append(r.url) if r.url.endswith("/push/subscribe") else None)
    tab.goto(live_server.url + "/leaderboard")
    tab.goto(live_server.url + "/me")
    assert later == []

    # "Turn off on all devices" from another phone: this one's next start does not bring it back.
    with app.app_context():
        services.remove_device(erin)
        db.session.commit()
    tab, fields, answer = app_start()
    assert answer == {"ok": False, "removed": True}
    wait_until(tab, "() => window.__push.unsubscribed === 1")
    with app.app_context():
        assert db.session.scalar(select(PushSubscription).where(PushSubscription.user_id == erin)) is None
    tab.goto(live_server.url + "/me/notifications")
    expect(tab.locator("#push-setup").get_by_role("status")).to_have_text(OFF)
    assert console.csp_violations() == []


IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Mobile/15E148 Safari/604.1"
)
DEVICES = [  # (user agent, touch points, the page's "{browser} on {os}"), the name
    ((IPHONE_UA, 5, None), "Safari on iPhone"),
    # iPadOS asks for the desktop site: only the touch screen tells it from a Mac.
    (("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
      "Safari/605.1.15", 5, None), "Safari on iPad"),
    (("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
      "Chrome/121.0.0.0 Mobile Safari/537.36", 5, None), "Samsung Internet on Android"),
    (("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
      "Safari/537.36 Edg/126.0.0.0", 0, None), "Edge on Windows"),
    (("Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0", 5, None), "Firefox on Android"),
    (("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
      "Safari/537.36", 0, None), "Chrome on Mac"),
    (("something else", 0, None), ""),
    ((PHONE_UA, 5, "{browser} na {os}"), "Chrome na Android"),
]  # fmt: skip


def test_b_device_names(page, live_server, factory):
    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    names = page.evaluate(
        """async (cases) => {
            const { deviceLabel } = await import("/static/js/push.js");
            return cases.map(([ua, touch, format]) => deviceLabel(ua, touch, format));
        }""",
        [list(case) for case, _name in DEVICES],
    )
    assert names == [name for _case, name in DEVICES]


def test_b_on_an_iphone_outside_the_installed_app_it_explains_the_home_screen(browser, live_server, factory):
    from .helpers import PHONE, Console

    factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    iphone = browser.new_context(
        **PHONE,
        user_agent=IPHONE_UA,
    )
    console = Console()
    iphone.on("console", console.on_console)
    # Safari outside the home screen app has no PushManager.
    iphone.add_init_script("delete window.PushManager;")
    try:
        page = iphone.new_page()
        sign_in(page, live_server, "erin@example.com")
        page.goto(live_server.url + "/me/notifications")
        setup = page.locator("#push-setup")
        expect(setup.get_by_role("status")).to_contain_text("Add to Home Screen")
        expect(setup.get_by_role("button", name="Turn on notifications")).to_be_hidden()
        expect(setup.get_by_role("button", name="Turn off on this device")).to_be_hidden()
        assert console.csp_violations() == []
    finally:
        iphone.close()


# --- (c) the bell and the centre ------------------------------------------------------------------------


def some_notifications(app, user_id: int, n: int) -> None:
    with app.test_request_context():
        person = db.session.get(User, user_id)
        for i in range(n):
            services.notify(person, "kudos", lambda i=i: services.Message(f"Kudos #{i} from Bob", "Thanks!"), "/me")
        db.session.commit()


def test_c_the_bell_counts_unread_and_the_centre_marks_them_read(page, live_server, app, factory, console):
    erin = factory.user("erin@example.com", "Erin Employee", password="long-enough-pass")
    some_notifications(app, erin, 3)
    sign_in(page, live_server, "erin@example.com")
    page.goto(live_server.url + "/feed")
    bell = page.locator("#bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: 3 unread")
    expect(bell.locator(".pill")).to_have_text("3")
    box = bell.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    assert box["x"] + box["width"] <= 390  # in the top bar, on screen

    bell.click()
    page.wait_for_url(live_server.url + "/notifications")
    items = page.locator(".notification")
    expect(items).to_have_count(3)
    expect(items.first).to_contain_text("Kudos #2 from Bob")  # newest first
    expect(page.locator(".notification.unread")).to_have_count(3)

    # "Read" on one: htmx refreshes the bell in place, the item turns read, the focus stays on it.
    items.first.get_by_role("button", name="Mark “Kudos #2 from Bob” read").click()
    expect(bell).to_have_attribute("aria-label", "Notifications: 2 unread")
    expect(page.locator(".notification.unread")).to_have_count(2)
    expect(items.first.locator(".notification-link")).to_be_focused()
    expect(items.first).not_to_contain_text("New")
    assert page.url == live_server.url + "/notifications"

    # Opening one goes to its page and marks it read.
    items.nth(1).locator(".notification-link").click()
    page.wait_for_url(live_server.url + "/me")
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications: 1 unread")

    page.goto(live_server.url + "/notifications")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_text("All caught up.")).to_be_visible()
    expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications")
    expect(page.locator("#bell .pill")).to_have_count(0)
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.get_by_role("button", name="Mark all read")).to_have_count(0)
    with app.app_context():
        assert db.session.get(User, erin).notifications_unread == 0
    assert console.csp_violations() == []


# --- (d) accessibility and the Content Security Policy ------------------------------------------------------


def an_admin_with_a_call_to_action(app, factory) -> tuple[int, int]:
    """Ada (admin) and a call to action she sent: (post id, call to action id)."""
    ada = factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin"), password="long-enough-pass")
    factory.department("Engineering")
    factory.location("Warsaw", "Europe/Warsaw")
    post_id = make_post(app, title="We opened the Warsaw office")
    with app.test_request_context():
        from app.content.models import Post
        from app.notifications.models import CallToAction

        services.send_cta(db.session.get(Post, post_id), db.session.get(User, ada),
                          services.CtaData([], [], None, True, "Share it today", 200))  # fmt: skip
        db.session.commit()
        cta_id = db.session.scalar(select(CallToAction.id))
    some_notifications(app, ada, 2)
    return post_id, cta_id


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
def test_d_notification_pages_have_no_axe_violations(page, live_server, app, factory):
    post_id, cta_id = an_admin_with_a_call_to_action(app, factory)
    sign_in(page, live_server, "ada@example.com")
    pages = {
        "/notifications": None,
        "/me/notifications": "#push-setup [data-push-status]:not(:empty)",
        f"/admin/posts/{post_id}/cta": None,
        f"/admin/cta/{cta_id}": None,
        "/admin/posts": None,
        "/admin/campaigns": None,
        f"/admin/posts/{post_id}": None,
    }
    for path, ready in pages.items():
        response = page.goto(live_server.url + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        if ready:
            expect(page.locator(ready)).to_be_visible()
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = run_axe(page)
            assert not violations, f"axe on {path} ({scheme}):\n{describe(violations)}"
    # The call-to-action form with its errors shown.
    page.goto(f"{live_server.url}/admin/posts/{post_id}/cta")
    page.get_by_label("Points multiplier (%)").fill("5000")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_text("Use a multiplier from 100 to 1000 percent.")).to_be_visible()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = run_axe(page)
        assert not violations, f"axe on the call-to-action form with errors ({scheme}):\n{describe(violations)}"


def test_d_an_admin_sends_a_call_to_action_and_the_live_panel_polls_under_the_csp(
    page, live_server, app, factory, console
):
    factory.user("ada@example.com", "Ada Admin", roles=("employee", "admin"), password="long-enough-pass")
    erin = factory.user("erin@example.com", "Erin Employee")
    post_id = make_post(app, title="We opened the Warsaw office")
    sign_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/admin/posts")
    page.get_by_role("link", name="Send “We opened the Warsaw office” as a call to action").click()
    page.wait_for_url(f"{live_server.url}/admin/posts/{post_id}/cta")
    page.get_by_label("Message (optional)").fill("Share it before Friday")
    page.get_by_label("Points multiplier (%)").fill("200")
    page.get_by_label("Urgent: push even during quiet hours and beyond the daily cap").check()
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_text("Call to action sent.")).to_be_visible()
    stats = page.locator("#cta-stats")
    figure = {name: stats.locator(".stat", has_text=name).locator("dd") for name in ("Sent", "Opened")}
    expect(figure["Sent"]).to_have_text("2")  # Ada and Erin see the post
    expect(figure["Opened"]).to_have_text("0")
    with app.app_context():
        from app.content.models import Post

        assert db.session.get(Post, post_id).points_multiplier == 200
        note = db.session.scalar(
            select(Notification).where(Notification.user_id == erin, Notification.cta_id.is_not(None))
        )
        assert note.urgent and note.body == "Share it before Friday"
        # Erin opens hers meanwhile; the panel's next poll (htmx, every 5 s) shows it.
        services.mark_read(erin, note.id, opened=True)
        db.session.commit()
    with page.expect_request(
        lambda r: r.url.endswith("/admin/cta/1") and r.headers.get("hx-request") == "true", timeout=8000
    ):
        pass
    expect(figure["Opened"]).to_have_text("1", timeout=8000)
    assert console.csp_violations() == []
