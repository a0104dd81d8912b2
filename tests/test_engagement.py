"""Likes, comments, employee suggestions and campaigns."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import events
from app.content import services
from app.content.models import Comment, Post, Suggestion
from app.extensions import db
from app.timeutil import utcnow
from tests.helpers import code_of, flush, make_post, share, visit


def test_like_toggles_and_counts_once(app, client, auth, users):
    post_id = make_post(app)
    liked = []
    handler = lambda sender, **kw: liked.append(kw["user"].id)  # noqa: E731
    events.like.connect(handler)
    try:
        auth.login(users["employee"])
        first = client.post(f"/posts/{post_id}/like", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'aria-pressed="true"' in first and '<span class="count">1</span>' in first
        second = client.post(f"/posts/{post_id}/like", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'aria-pressed="false"' in second and '<span class="count">0</span>' in second
        client.post(f"/posts/{post_id}/like", headers={"HX-Request": "true"})
    finally:
        events.like.disconnect(handler)
    with app.app_context():
        assert db.session.get(Post, post_id).like_count == 1
    assert liked == [users["employee"], users["employee"]]


def test_comments_are_plain_text_with_links_made_clickable(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    body = 'Great! <script>alert(1)</script> see https://example.com/a?b=1&c=2. <img src=x onerror="alert(2)">'
    response = client.post(f"/posts/{post_id}/comments", data={"body": body}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img" not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="nofollow noopener">' in html
    assert "1 comment" in html
    with app.app_context():
        assert db.session.get(Post, post_id).comment_count == 1


def test_empty_comment_gets_a_message(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    response = client.post(f"/posts/{post_id}/comments", data={"body": "   "}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "Write something first." in response.get_data(as_text=True)


def test_authors_edit_for_15_minutes_then_not(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    client.post(f"/posts/{post_id}/comments", data={"body": "Frist"})
    with app.app_context():
        comment_id = db.session.scalar(select(Comment.id))
    client.post(f"/comments/{comment_id}/edit", data={"body": "First"})
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment.body == "First" and comment.edited_at is not None
        comment.created_at = utcnow() - timedelta(minutes=16)
        db.session.commit()
    response = client.post(f"/comments/{comment_id}/edit", data={"body": "Changed later"}, follow_redirects=True)
    assert "can be edited for 15 minutes" in response.get_data(as_text=True)
    auth.login(users["hr"])
    assert client.post(f"/comments/{comment_id}/edit", data={"body": "Not mine"}).status_code == 404
    with app.app_context():
        assert db.session.get(Comment, comment_id).body == "First"


def test_admins_remove_comments(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    client.post(f"/posts/{post_id}/comments", data={"body": "Off-topic"})
    with app.app_context():
        comment_id = db.session.scalar(select(Comment.id))
    assert client.post(f"/comments/{comment_id}/remove").status_code == 403
    auth.login(users["admin"])
    client.post(f"/comments/{comment_id}/remove")
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "Off-topic" not in page and "No comments yet" in page
    with app.app_context():
        assert db.session.get(Post, post_id).comment_count == 0
        assert db.session.get(Comment, comment_id).removed_by_id == users["admin"]


def test_suggestion_approved_into_a_post(app, client, auth, users):
    approved = []
    handler = lambda sender, **kw: approved.append((kw["suggestion"].id, kw["user"].id))  # noqa: E731
    events.suggestion_approved.connect(handler)
    try:
        auth.login(users["employee"])
        response = client.post("/suggest", data={"url": "https://example.com/story", "comment": "Nice story"})
        assert response.status_code == 302
        again = client.post("/suggest", data={"url": "https://example.com/story"})
        assert again.status_code == 400 and "already suggested" in again.get_data(as_text=True)
        with app.app_context():
            suggestion_id = db.session.scalar(select(Suggestion.id))
        auth.login(users["admin"])
        form = client.get(f"/admin/posts/new?suggestion={suggestion_id}").get_data(as_text=True)
        assert 'value="https://example.com/story"' in form and "Nice story" in form
        response = client.post(
            "/admin/posts/new",
            data={"suggestion": suggestion_id, "url": "https://example.com/story", "title": "A story",
                  "language": "en", "campaign_id": "0", "action": "publish"},
        )  # fmt: skip
        assert response.status_code == 302
    finally:
        events.suggestion_approved.disconnect(handler)
    with app.app_context():
        suggestion = db.session.get(Suggestion, suggestion_id)
        assert suggestion.status == "approved"
        assert db.session.get(Post, suggestion.post_id).source == "suggestion"
    assert approved == [(suggestion_id, users["employee"])]
    auth.login(users["employee"])
    assert "Approved" in client.get("/suggest").get_data(as_text=True)


def test_rejection_needs_a_reason_the_employee_sees(app, client, auth, users):
    auth.login(users["employee"])
    client.post("/suggest", data={"url": "https://example.com/meh"})
    with app.app_context():
        suggestion_id = db.session.scalar(select(Suggestion.id))
    auth.login(users["admin"])
    response = client.post(f"/admin/suggestions/{suggestion_id}/reject", data={"reason": ""}, follow_redirects=True)
    assert "Tell the employee why" in response.get_data(as_text=True)
    client.post(f"/admin/suggestions/{suggestion_id}/reject", data={"reason": "Competitor content"})
    client.post(f"/admin/suggestions/{suggestion_id}/reject", data={"reason": "Twice"})
    with app.app_context():
        suggestion = db.session.get(Suggestion, suggestion_id)
        assert (suggestion.status, suggestion.reason) == ("rejected", "Competitor content")
    auth.login(users["employee"])
    assert "Not this time: Competitor content" in client.get("/suggest").get_data(as_text=True)


def test_campaign_progress_and_ab_results(app, client, auth, users, factory):
    auth.login(users["admin"])
    response = client.post(
        "/admin/campaigns",
        data={"name": "Caption duel", "kind": "ab_test", "goal_metric": "shares", "goal_target": "4"},
    )
    assert response.status_code == 302
    with app.app_context():
        campaign_id = db.session.scalar(select(services.Campaign.id))
    post_id = make_post(
        app, "Duel", campaign_id=campaign_id,
        captions=[("generic", "A", "Short {link}"), ("generic", "B", "Long and lovely {link}")],
    )  # fmt: skip
    variants = {}
    for i in range(6):
        uid = factory.user(f"d{i}@example.com", f"D {i}")
        auth.login(uid)
        result = share(client, post_id, "linkedin")
        variants[uid] = result["text"].split()[0]
        visit(app, code_of(result["link"]), ip=f"198.51.100.{i + 10}")
    flush(app)
    auth.login(users["admin"])
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "100% of the goal" in page  # 6 shares of 4
    a = sum(1 for v in variants.values() if v == "Short")
    b = len(variants) - a
    assert f'<tr><th scope="row">A</th><td>{a}</td><td>{a}</td>' in page
    assert f'<tr><th scope="row">B</th><td>{b}</td><td>{b}</td>' in page
    assert "Not enough data yet" in page  # 6 shares: no verdict (app.analytics.services.ab_test)


def test_campaign_needs_a_name(client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/campaigns", data={"name": "", "kind": "share", "goal_metric": "shares"})
    assert response.status_code == 400
