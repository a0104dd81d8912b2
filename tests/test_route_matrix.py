"""Every registered route, for anonymous, employee, admin and HR users.

A new route fails this test until it is classified in ``ACCESS``, so no page
ships without a decided role check.
"""

from __future__ import annotations

import pytest

from app.accounts.models import User
from app.extensions import db
from tests.conftest import Auth

PUBLIC, LOGIN, ADMIN, HR = "public", "login", "admin", "hr"

ACCESS = {
    "static": PUBLIC,
    "main.index": PUBLIC,
    "main.offline": PUBLIC,
    "main.manifest": PUBLIC,
    "main.service_worker": PUBLIC,
    "main.healthz": PUBLIC,
    "main.feed": LOGIN,
    "gamification.board": LOGIN,
    "gamification.privacy": LOGIN,
    "gamification.points": LOGIN,
    "gamification.balance": LOGIN,
    "gamification.admin_rules": ADMIN,
    "gamification.admin_adjust": ADMIN,
    "gamification.admin_badges": ADMIN,
    "main.media": LOGIN,
    "accounts.login": PUBLIC,
    "accounts.request_magic_link": PUBLIC,
    "accounts.magic_landing": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.forgot_password": PUBLIC,
    "accounts.reset_password": PUBLIC,
    "accounts.accept_invite": PUBLIC,
    "accounts.me": LOGIN,
    "admin.dashboard": ADMIN,
    "admin.users": ADMIN,
    "admin.new_user": ADMIN,
    "admin.edit_user": ADMIN,
    "admin.deactivate_user": ADMIN,
    "admin.reactivate_user": ADMIN,
    "admin.resend_invite": ADMIN,
    "admin.import_users": ADMIN,
    "admin.import_template": ADMIN,
    "admin.departments": ADMIN,
    "admin.update_department": ADMIN,
    "admin.delete_department": ADMIN,
    "admin.locations": ADMIN,
    "admin.update_location": ADMIN,
    "admin.delete_location": ADMIN,
    "tracking.redirect_link": PUBLIC,
    "content.post": LOGIN,
    "content.card": LOGIN,
    "content.share": LOGIN,
    "content.keep_caption": LOGIN,
    "content.like": LOGIN,
    "content.add_comment": LOGIN,
    "content.edit_comment": LOGIN,
    "content.remove_comment": ADMIN,
    "content.suggest": LOGIN,
    "content.activity": LOGIN,
    "content.admin_posts": ADMIN,
    "content.admin_new_post": ADMIN,
    "content.admin_edit_post": ADMIN,
    "content.admin_delete_post": ADMIN,
    "content.admin_preview": ADMIN,
    "content.admin_campaigns": ADMIN,
    "content.admin_campaign": ADMIN,
    "content.admin_suggestions": ADMIN,
    "content.admin_reject_suggestion": ADMIN,
    "content.admin_feeds": ADMIN,
    "content.admin_poll_feed": ADMIN,
    "content.admin_dismiss_item": ADMIN,
    "rewards.catalog": LOGIN,
    "rewards.kudos_wall": LOGIN,
    "rewards.kudos_people": LOGIN,
    "rewards.admin_kudos": ADMIN,
    "rewards.reward": LOGIN,
    "rewards.redeem": LOGIN,
    "rewards.mine": LOGIN,
    "rewards.redemption": LOGIN,
    "rewards.cancel": LOGIN,
    "rewards.reveal": LOGIN,
    "rewards.admin_rewards": ADMIN,
    "rewards.admin_new_reward": ADMIN,
    "rewards.admin_edit_reward": ADMIN,
    "rewards.admin_upload_codes": ADMIN,
    "rewards.admin_queue": ADMIN,
    "rewards.admin_update_redemption": ADMIN,
    "rewards.admin_bulk_approve": ADMIN,
    "rewards.admin_export": ADMIN,
    "surveys.inbox": LOGIN,
    "surveys.answer": LOGIN,
    "surveys.thanks": LOGIN,
    "surveys.hr_home": HR,
    "surveys.hr_new_survey": HR,
    "surveys.hr_survey": HR,
    "surveys.hr_add_question": HR,
    "surveys.hr_question": HR,
    "surveys.hr_delete_question": HR,
    "surveys.hr_move_question": HR,
    "surveys.hr_reorder": HR,
    "surveys.hr_add_dimension": HR,
    "surveys.hr_preview": HR,
    "surveys.hr_launch": HR,
    "surveys.hr_copy": HR,
    "surveys.hr_archive": HR,
    "surveys.hr_close_wave": HR,
    "surveys.hr_reopen_wave": HR,
    "surveys.hr_results": HR,
    "surveys.hr_trend": HR,
    "surveys.hr_export": HR,
    "surveys.hr_export_responses": HR,
    "surveys.hr_you_said": HR,
    "notifications.centre": LOGIN,
    "notifications.open_notification": LOGIN,
    "notifications.read": LOGIN,
    "notifications.read_all": LOGIN,
    "notifications.settings": LOGIN,
    "notifications.subscribe": LOGIN,
    "notifications.unsubscribe": LOGIN,
    "notifications.remove_device": LOGIN,
    "notifications.admin_cta": ADMIN,
    "notifications.admin_cta_panel": ADMIN,
    "notifications.digest_unsubscribe": PUBLIC,  # the signed token in the URL is the authority
    "analytics.dashboard": ADMIN,
    "analytics.content": ADMIN,
    "analytics.export": ADMIN,
    "analytics.report_settings": ADMIN,
    "analytics.business": ADMIN,
    "analytics.delete_business": ADMIN,
    "analytics.api_conversions": PUBLIC,  # the Bearer token is the authority (401 without one)
    "analytics.conversion_pixel": PUBLIC,  # records nothing unless attribution is on; never says why
    "analytics.admin_tokens": ADMIN,
    "analytics.admin_revoke_token": ADMIN,
    "analytics.admin_conversions": ADMIN,
    "analytics.admin_conversions_template": ADMIN,
    "analytics.admin_settings": ADMIN,
    "privacy.my_data": LOGIN,
    "privacy.admin_export": ADMIN,
    "privacy.admin_erase": ADMIN,
}

ROLES_OF = {"employee": {"employee"}, "admin": {"employee", "admin"}, "hr": {"employee", "hr"}}


def allowed(access: str, who: str | None) -> bool:
    if access == PUBLIC:
        return True
    if who is None:
        return False
    return access == LOGIN or access in ROLES_OF[who]


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - ACCESS.keys() == set(), "classify new routes in ACCESS"
    assert ACCESS.keys() - endpoints == set(), "ACCESS lists routes that no longer exist"


def test_declared_roles_match_the_classification(app):
    for endpoint, view in app.view_functions.items():
        declared = getattr(view, "required_roles", None)
        expected = {PUBLIC: None, LOGIN: (), ADMIN: ("admin",), HR: ("hr",)}[ACCESS[endpoint]]
        assert declared == expected, endpoint


@pytest.fixture
def targets(app, factory):
    """Real ids and files for URL parameters."""
    from app.org.models import Department, Location

    target = factory.user("target@example.com", "Target Person")
    dept = factory.department("Empty Team")
    loc = factory.location("Empty Office")
    with app.app_context():
        user = db.session.get(User, target)
        user.avatar_path = "avatars/test.webp"
        db.session.commit()
        assert db.session.get(Department, dept) and db.session.get(Location, loc)
    media = app.config["MEDIA_ROOT"] + "/avatars"
    import os

    os.makedirs(media, exist_ok=True)
    with open(media + "/test.webp", "wb") as fh:
        fh.write(b"RIFF0000WEBP")
    content = _content_targets(app, target)
    from tests.helpers import make_survey_targets

    with app.app_context():
        content |= make_survey_targets(db.session.get(User, target))
        from app.content.models import Post
        from tests.helpers import make_notification_targets

        content |= make_notification_targets(db.session.get(Post, content["post_id"]), db.session.get(User, target))
        from tests.helpers import make_analytics_targets

        content |= make_analytics_targets()
    return {"user_id": target, "obj_id": None, "_dept": dept, "_loc": loc, "token": "not-a-real-token",
            "filename": "avatars/test.webp", **content}  # fmt: skip


def _content_targets(app, user_id):
    """A live post with a comment, a tracked link, a campaign, a suggestion and a feed item."""
    from app.content import engagement, services, sharing
    from app.content.models import FeedItem, FeedSource

    with app.test_request_context(method="POST"):
        user = db.session.get(User, user_id)
        campaign = services.create_campaign("Launch", "share", "shares", 10, None)
        post = services.create_post(
            services.PostData(title="Hello", url="https://example.com/a", action="publish", campaign_id=campaign.id),
            user,
        )
        comment = engagement.add_comment(post, user, "Nice")
        link = sharing.share_post(post, user, "linkedin").link
        suggestion = engagement.suggest(user, "https://example.com/b", "")
        source = FeedSource(url="https://example.com/feed.xml", title="Blog")
        db.session.add(source)
        db.session.flush()
        item = FeedItem(source_id=source.id, guid="1", url="https://example.com/c", title="Item")
        db.session.add(item)
        db.session.commit()
        from rewards.models import Redemption, Reward

        reward = Reward(kind="experience", title="Lunch", cost=1)
        db.session.add(reward)
        db.session.flush()
        redemption = Redemption(user_id=user.id, reward_id=reward.id, cost=1, idempotency_key="matrix-key-1",
                                month="2026-11")  # fmt: skip
        db.session.add(redemption)
        db.session.commit()
        return {"reward_id": reward.id, "redemption_id": redemption.id, "post_id": post.id, "comment_id": comment.id,
                "campaign_id": campaign.id,
                "code": link.rsplit("/", 1)[1], "suggestion_id": suggestion.id, "source_id": source.id,
                "item_id": item.id}  # fmt: skip


def build_url(app, rule, targets):
    values = {}
    for arg in rule.arguments:
        if arg == "obj_id":
            values[arg] = targets["_dept"] if "department" in rule.endpoint else targets["_loc"]
        else:
            values[arg] = targets[arg]
    with app.test_request_context():
        from flask import url_for

        if rule.endpoint == "static":
            return url_for("static", filename="css/app.css")
        return url_for(rule.endpoint, **values)


@pytest.mark.parametrize("who", [None, "employee", "hr", "admin"])
def test_route_role_matrix(app, users, targets, who):
    client = app.test_client()
    failures = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        url = build_url(app, rule, targets)
        access = ACCESS[rule.endpoint]
        for method in sorted(rule.methods & {"GET", "POST"}):
            if who is not None:  # again each time: the sign-out route ends the session
                Auth(app, client).login(users[who])
            response = client.open(url, method=method)
            code = response.status_code
            if allowed(access, who):
                ok = (
                    code < 500
                    and code != 403
                    and not (code == 302 and response.headers["Location"].startswith("/login?"))
                )
            elif who is None:
                ok = code == 302 and response.headers["Location"].startswith("/login")
            else:
                ok = code == 403
            if not ok:
                failures.append(f"{who or 'anonymous'} {method} {url} ({rule.endpoint}, {access}) -> {code}")
    assert failures == []


def test_anonymous_is_sent_to_sign_in_with_next(client):
    response = client.get("/admin/users?q=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fadmin%2Fusers%3Fq%3Dx"


def test_forbidden_page_is_friendly(client, auth, users):
    auth.login(users["employee"])
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "not available to your account" in response.get_data(as_text=True)


def test_json_clients_get_json_errors(client, auth, users):
    auth.login(users["employee"])
    response = client.get("/admin/", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "This page is not available to your account."
    assert client.get("/no-such-page", headers={"Accept": "application/json"}).get_json()["status"] == 404
