"""The feed card and page shell reuse rendered parts: what people see must still be current and their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.accounts.models import User
from app.content import services
from app.content.models import Campaign, Post
from app.extensions import db
from app.gamification import ledger
from tests.helpers import make_post


def page(client, path="/feed") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def card(html: str, post_id: int) -> str:
    """The HTML of one card on a page."""
    match = re.search(rf'<article class="card post-card" id="post-{post_id}".*?</article>', html, re.S)
    assert match, f"no card for post {post_id}"
    return match.group(0)


def edit(app, post_id: int, **changes) -> None:
    with app.test_request_context(method="POST"):
        post = db.session.get(Post, post_id)
        data = services.PostData(
            title=changes.get("title", post.title),
            url=post.url,
            body=changes.get("body", post.body),
            action="publish",
            pinned=changes.get("pinned", post.pinned),
            campaign_id=post.campaign_id,
        )
        services.update_post(post, data)
        db.session.commit()


def test_an_edited_post_shows_its_new_title_body_and_pin_at_once(app, client, auth, users):
    post_id = make_post(app, "Old title", body="Old body")
    auth.login(users["employee"])
    before = card(page(client), post_id)
    assert "Old title" in before and "Old body" in before and "Pinned" not in before
    edit(app, post_id, title="New title", body="New body", pinned=True)
    after = card(page(client), post_id)
    assert "New title" in after and "New body" in after and "Pinned" in after
    assert "Old title" not in after and "Old body" not in after


def test_a_renamed_campaign_shows_on_its_cards(app, client, auth, users):
    with app.test_request_context(method="POST"):
        campaign_id = services.create_campaign("Spring push", "share", "shares", 10, None).id
        db.session.commit()
    post_id = make_post(app, "Campaign post", campaign_id=campaign_id)
    auth.login(users["employee"])
    assert "Spring push" in card(page(client), post_id)
    with app.app_context():
        db.session.get(Campaign, campaign_id).name = "Summer push"
        db.session.commit()
    html = card(page(client), post_id)
    assert "Summer push" in html and "Spring push" not in html


def test_each_viewer_gets_their_language_time_zone_likes_and_shares(app, client, auth, factory):
    deadline = datetime(2030, 1, 15, 22, 30, tzinfo=UTC)
    post_id = make_post(app, "Sign the petition", is_cta=True, cta_deadline=deadline)
    warsaw = factory.user("pl@example.com", "Piotr Polak", locale="pl", timezone="Europe/Warsaw")
    new_york = factory.user("ny@example.com", "Nina York", locale="en", timezone="America/New_York")

    auth.login(warsaw)
    client.post(f"/posts/{post_id}/like", data={"csrf_token": ""})  # CSRF is off in tests
    client.post(f"/posts/{post_id}/share", data={"network": "linkedin"})
    polish = card(page(client), post_id)
    assert "Udostępnij" in polish and "do 15.01.2030, 23:30" in polish  # 22:30 UTC is 23:30 in Warsaw
    assert 'aria-pressed="true"' in polish and "LinkedIn" in polish.split('class="shared-note"')[1]

    auth.login(new_york)
    english = card(page(client), post_id)
    assert ">Share</summary>" in english and "Udostępnij" not in english
    assert "1/15/30, 5:30" in english  # 17:30 in New York
    assert 'aria-pressed="false"' in english and 'class="shared-note"' not in english
    assert "1 share" in english  # counts are current, not cached


def test_the_tab_bar_follows_roles_and_balance(app, client, auth, users):
    auth.login(users["admin"])
    assert 'class="tab tab-extra' in page(client)  # the admin's Admin tab
    auth.login(users["employee"])
    html = page(client)
    assert "/admin" not in html.split('class="tabbar"')[1].split("</nav>")[0]
    assert re.search(r'data-balance aria-hidden="true">0<', html)
    with app.app_context():
        ledger.award(db.session.get(User, users["employee"]), "admin_adjustment", 25, "test:balance")
        db.session.commit()
    assert re.search(r'data-balance aria-hidden="true">25<', page(client))


def test_the_current_tab_is_marked_on_every_page(client, auth, users):
    auth.login(users["employee"])
    for path, label in (("/feed", "Feed"), ("/leaderboard", "Leaderboard"), ("/me", "Me")):
        nav = page(client, path).split('class="tabbar"')[1].split("</nav>")[0]
        active = r'<a [^>]*class="tab[^"]* active"[^>]*aria-current="page">.*?<span>([^<]+)</span>'
        current = re.findall(active, nav, re.S)
        assert current == [label], path


def test_every_card_offers_its_own_posts_captions(app, client, auth, users):
    first = make_post(app, "First", captions=[("generic", "A", "Only about the first")])
    second = make_post(app, "Second", captions=[("generic", "A", "Only about the second")])
    auth.login(users["employee"])
    html = page(client)
    assert "Only about the first" in card(html, first) and "Only about the second" not in card(html, first)
    assert "Only about the second" in card(html, second) and "Only about the first" not in card(html, second)


def test_a_request_that_changes_points_shows_the_new_balance(app, users):
    """The Me tab's balance comes with the signed-in user on GET; after a POST it is read again."""
    from flask import g
    from flask_login import login_user

    from app.gamification.routes import inject_balance

    with app.test_request_context("/rewards", method="POST"):
        user = db.session.get(User, users["employee"])
        login_user(user)
        g.herald_balance_at_sign_in = 0
        ledger.award(user, "admin_adjustment", 40, "test:post-balance")
        assert inject_balance() == {"my_balance": 40}
    with app.test_request_context("/feed", method="GET"):
        login_user(db.session.get(User, users["employee"]))
        g.herald_balance_at_sign_in = 40
        assert inject_balance() == {"my_balance": 40}
