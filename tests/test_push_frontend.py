"""What the push front end needs from the server: the quiet re-send of a subscription, the worker's
texts, the post page opened on its share buttons, and the points multiplier on posts and campaigns.

The browser side is tested in Chromium (tests/browser/test_push_flow.py).
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from app.content.models import Campaign, Post
from app.extensions import db
from app.notifications.models import PushSubscription
from tests.helpers import make_post

ENDPOINT = "https://push.example.com/send/phone-1"
NEWER = "https://push.example.com/send/phone-2"
KEYS = {"p256dh": "B" * 87, "auth": "A" * 22}


def subscribe(client, endpoint=ENDPOINT, **extra):
    """POST /push/subscribe as push.js does; the JSON answer and the status."""
    response = client.post(
        "/push/subscribe",
        data={"endpoint": endpoint, **KEYS, "device": "Chrome on Android", **extra},
        headers={"Accept": "application/json"},
    )
    return response.get_json(), response.status_code


def devices_of(app, user_id) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (d.endpoint, d.device)
            for d in db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == user_id))
        ]


def test_a_tap_subscribes_and_the_quiet_resend_only_refreshes(app, client, auth, users):
    auth.login(users["employee"])
    assert subscribe(client) == ({"ok": True}, 200)
    assert devices_of(app, users["employee"]) == [(ENDPOINT, "Chrome on Android")]
    # The app starts again: the same subscription is refreshed, not doubled.
    assert subscribe(client, refresh="1") == ({"ok": True}, 200)
    assert devices_of(app, users["employee"]) == [(ENDPOINT, "Chrome on Android")]


def test_the_quiet_resend_never_brings_back_a_removed_device(app, client, auth, users):
    auth.login(users["employee"])
    subscribe(client)
    client.post("/push/unsubscribe")  # "Turn off on all devices", from another phone
    assert subscribe(client, refresh="1") == ({"ok": False, "removed": True}, 200)
    assert subscribe(client, refresh="1", previous=ENDPOINT) == ({"ok": False, "removed": True}, 200)
    assert devices_of(app, users["employee"]) == []
    # A tap on "Turn on notifications" does bring it back.
    assert subscribe(client) == ({"ok": True}, 200)
    assert devices_of(app, users["employee"]) == [(ENDPOINT, "Chrome on Android")]


def test_a_subscription_the_push_service_changed_replaces_the_old_one(app, client, auth, users):
    auth.login(users["employee"])
    subscribe(client)
    with app.app_context():
        first = db.session.scalar(select(PushSubscription.id))
    assert subscribe(client, NEWER, refresh="1", previous=ENDPOINT) == ({"ok": True}, 200)
    assert devices_of(app, users["employee"]) == [(NEWER, "Chrome on Android")]
    with app.app_context():
        assert db.session.scalar(select(PushSubscription.id)) == first  # the same device, moved


def test_someone_elses_previous_endpoint_is_left_alone(app, client, auth, users):
    auth.login(users["hr"])
    subscribe(client)
    auth.login(users["employee"])
    assert subscribe(client, NEWER, refresh="1", previous=ENDPOINT) == ({"ok": True}, 200)
    assert devices_of(app, users["hr"]) == [(ENDPOINT, "Chrome on Android")]
    assert devices_of(app, users["employee"]) == [(NEWER, "Chrome on Android")]


def test_a_phone_that_changed_hands_stops_getting_the_first_persons_pushes(app, client, auth, users):
    auth.login(users["hr"])
    subscribe(client)
    auth.login(users["employee"])  # signed in on the same phone: its browser sends the subscription again
    assert subscribe(client, refresh="1") == ({"ok": False, "removed": True}, 200)
    assert devices_of(app, users["hr"]) == [] and devices_of(app, users["employee"]) == []


def test_the_worker_says_something_in_every_language_for_a_push_it_cannot_read(client):
    body = client.get("/sw.js").get_data(as_text=True)
    assert "__FALLBACK__" not in body
    fallback = json.loads(re.search(r"const FALLBACK = (\{.*?\});", body).group(1))
    assert set(fallback) == {"en", "pl"}
    assert fallback["en"] == {"title": "Herald", "body": "Something new is waiting for you in Herald."}
    assert fallback["pl"]["body"] != fallback["en"]["body"]
    for url in ("/static/js/push.js", "/static/icons/badge-96.png"):
        assert f'"{url}"' in body  # precached: the shell loads push.js on every page
        assert client.get(url).status_code == 200
    assert 'addEventListener("push"' in body and 'addEventListener("notificationclick"' in body


def test_signed_in_pages_load_push_js_and_name_the_subscribe_url(client, auth, users):
    assert "js/push.js" not in client.get("/login").get_data(as_text=True)
    auth.login(users["employee"])
    page = client.get("/feed").get_data(as_text=True)
    assert '<script src="/static/js/push.js" type="module"></script>' in page
    assert '<meta name="herald-push" content="/push/subscribe" data-device="{browser} on {os}">' in page


def test_a_call_to_actions_link_opens_the_post_on_its_share_buttons(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    assert '<details class="share-sheet">' in client.get(f"/posts/{post_id}").get_data(as_text=True)
    page = client.get(f"/posts/{post_id}?share=1").get_data(as_text=True)
    assert '<details class="share-sheet" open data-open-on-load>' in page
    assert client.get(f"/posts/{post_id}?share=junk").status_code == 200


def test_published_posts_offer_send_as_call_to_action(app, client, auth, users):
    published = make_post(app, title="Live one")
    draft = make_post(app, title="Draft one", action="draft")
    auth.login(users["admin"])
    listing = client.get("/admin/posts").get_data(as_text=True)
    assert f'href="/admin/posts/{published}/cta"' in listing
    assert f'href="/admin/posts/{draft}/cta"' not in listing
    assert f'href="/admin/posts/{published}/cta"' in client.get(f"/admin/posts/{published}").get_data(as_text=True)
    assert "/cta" not in client.get(f"/admin/posts/{draft}").get_data(as_text=True).split("<form", 1)[0]


def _post_form(**extra) -> dict:
    return {
        "url": "https://example.com/x",
        "title": "Doubled",
        "language": "en",
        "action": "publish",
        "campaign_id": "0",
        **extra,
    }


def test_the_post_form_sets_the_points_multiplier(app, client, auth, users):
    auth.login(users["admin"])
    assert client.post("/admin/posts/new", data=_post_form(points_multiplier="250")).status_code == 302
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.title == "Doubled"))
        assert post.points_multiplier == 250
        post_id = post.id
    page = client.get(f"/admin/posts/{post_id}").get_data(as_text=True)
    assert re.search(r'name="points_multiplier"[^>]*value="250"', page)
    for wrong in ("99", "1001", "1.5", "lots"):
        response = client.post(f"/admin/posts/{post_id}", data=_post_form(points_multiplier=wrong))
        assert response.status_code == 400
        assert "Use a multiplier from 100 to 1000 percent." in response.get_data(as_text=True)
    # Left empty: the usual points.
    assert client.post(f"/admin/posts/{post_id}", data=_post_form(points_multiplier="")).status_code == 302
    with app.app_context():
        assert db.session.get(Post, post_id).points_multiplier == 100


def test_the_campaign_form_sets_the_points_multiplier(app, client, auth, users):
    auth.login(users["admin"])
    form = {"name": "Launch week", "kind": "share", "goal_metric": "shares", "goal_target": "10"}
    response = client.post("/admin/campaigns", data={**form, "points_multiplier": "2000"})
    assert response.status_code == 400
    assert "Use a multiplier from 100 to 1000 percent." in response.get_data(as_text=True)
    assert client.post("/admin/campaigns", data={**form, "points_multiplier": "150"}).status_code == 302
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.points_multiplier == 150
        campaign_id = campaign.id
    assert "Points: 150%" in client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)


def test_sharing_a_post_set_to_200_percent_earns_twice_the_points(app, client, auth, users):
    from tests.helpers import balance, share

    auth.login(users["admin"])
    client.post("/admin/posts/new", data=_post_form(title="Usual"))
    client.post("/admin/posts/new", data=_post_form(title="Doubled", points_multiplier="200"))
    with app.app_context():
        ids = dict(db.session.execute(select(Post.title, Post.id)).all())
    auth.login(users["employee"])
    share(client, ids["Usual"])
    usual = balance(app, users["employee"])
    share(client, ids["Doubled"])
    assert usual > 0 and balance(app, users["employee"]) - usual == 2 * usual
