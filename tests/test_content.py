"""The content library and the feed: publishing windows, audiences, captions, filters, campaigns."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import events
from app.accounts.models import User
from app.content import services
from app.content.models import Post
from app.extensions import db
from app.timeutil import utcnow
from tests.helpers import make_post


def feed_titles(client, query="") -> list[str]:
    html = client.get("/feed" + query).get_data(as_text=True)
    return re.findall(r'<h2 id="post-\d+-title"><a [^>]+>([^<]+)</a>', html)


def test_published_post_appears_in_the_feed(app, client, auth, users):
    make_post(app, "Q3 results: up 20%")
    auth.login(users["employee"])
    assert feed_titles(client) == ["Q3 results: up 20%"]


def test_drafts_and_future_posts_stay_hidden_until_their_time(app, client, auth, users):
    make_post(app, "Draft", action="draft")
    make_post(app, "Tomorrow", action="schedule", publish_at=utcnow() + timedelta(days=1))
    auth.login(users["employee"])
    assert feed_titles(client) == []


def test_expired_posts_leave_the_feed(app, client, auth, users):
    post_id = make_post(app, "Short-lived", expire_at=utcnow() + timedelta(hours=1))
    auth.login(users["employee"])
    assert feed_titles(client) == ["Short-lived"]
    with app.app_context():
        db.session.get(Post, post_id).expire_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert feed_titles(client) == []


def test_the_scheduling_task_publishes_and_expires_once(app):
    received = []
    events.post_published.connect(lambda sender, post: received.append(post.id), weak=False)
    try:
        due = make_post(app, "Due", action="schedule", publish_at=utcnow() + timedelta(hours=1))
        old = make_post(app, "Old", expire_at=utcnow() + timedelta(hours=1))
        received.clear()
        later = utcnow() + timedelta(hours=2)
        with app.app_context():
            assert services.publish_due(later) == (1, 1)
            assert services.publish_due(later) == (0, 0)  # a re-run changes nothing
            db.session.commit()
            assert db.session.get(Post, due).status == "published"
            assert db.session.get(Post, old).status == "expired"
        assert received == [due]
    finally:
        events.post_published.receivers.clear()


def test_scheduling_in_the_past_is_refused(app_ctx):
    with pytest.raises(services.ContentError, match="in the future"):
        services.create_post(
            services.PostData(title="T", url="https://example.com", action="schedule",
                              publish_at=utcnow() - timedelta(minutes=1)),
            None,
        )  # fmt: skip


def test_bad_urls_are_refused_with_a_clear_message(app_ctx):
    for url in ("javascript:alert(1)", "ftp://example.com/x", "example.com", "https://user:pw@example.com/"):
        with pytest.raises(services.ContentError):
            services.create_post(services.PostData(title="T", url=url, action="publish"), None)


def test_audience_by_department_and_location(app, client, auth, factory):
    sales = factory.department("Sales")
    berlin = factory.location("Berlin", "Europe/Berlin")
    in_sales = factory.user("s@example.com", "Sam Sales", department_id=sales)
    in_berlin = factory.user("b@example.com", "Ben Berlin", location_id=berlin)
    elsewhere = factory.user("o@example.com", "Olga Other")
    make_post(app, "For sales", department_ids=[sales])
    make_post(app, "For Berlin", location_ids=[berlin])
    make_post(app, "For all")
    auth.login(in_sales)
    assert sorted(feed_titles(client)) == ["For all", "For sales"]
    auth.login(in_berlin)
    assert sorted(feed_titles(client)) == ["For Berlin", "For all"]
    auth.login(elsewhere)
    assert feed_titles(client) == ["For all"]
    with app.app_context():
        hidden = db.session.scalar(select(Post).where(Post.title == "For sales"))
    assert client.get(f"/posts/{hidden.id}").status_code == 404


def test_pinned_first_then_newest(app, client, auth, users):
    make_post(app, "Old news")
    make_post(app, "Pinned", pinned=True)
    make_post(app, "Fresh")
    auth.login(users["employee"])
    assert feed_titles(client) == ["Pinned", "Fresh", "Old news"]


def test_infinite_scroll_pages_through_htmx(app, client, auth, users):
    for i in range(25):
        make_post(app, f"Post {i:02d}")
    auth.login(users["employee"])
    first = client.get("/feed").get_data(as_text=True)
    assert len(re.findall(r'class="card post-card"', first)) == 10
    assert 'hx-get="/feed?filter=all&amp;page=2" hx-trigger="revealed"' in first
    second = client.get("/feed?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in second and len(re.findall(r'class="card post-card"', second)) == 10
    third = client.get("/feed?page=3", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert len(re.findall(r'class="card post-card"', third)) == 5 and "hx-trigger" not in third


def test_feed_filters(app, client, auth, users):
    campaign = None
    with app.test_request_context(method="POST"):
        campaign = services.create_campaign("Hiring", "share", "shares", 50, None).id
        db.session.commit()
    make_post(app, "Plain")
    make_post(app, "Act now", is_cta=True, cta_deadline=utcnow() + timedelta(days=2))
    shared = make_post(app, "In campaign", campaign_id=campaign)
    auth.login(users["employee"])
    client.post(f"/posts/{shared}/share", data={"network": "linkedin"}, headers={"Accept": "application/json"})
    assert feed_titles(client, "?filter=cta") == ["Act now"]
    assert feed_titles(client, "?filter=campaigns") == ["In campaign"]
    assert feed_titles(client, "?filter=mine") == ["In campaign"]
    assert sorted(feed_titles(client, "?filter=new")) == ["Act now", "Plain"]


def test_empty_filter_says_so(app, client, auth, users):
    make_post(app, "Plain")
    auth.login(users["employee"])
    assert "No posts match this filter right now." in client.get("/feed?filter=cta").get_data(as_text=True)


def test_captions_are_personal_and_placeholders_filled(app, client, auth, factory):
    make_post(
        app,
        "Launch",
        hashtags="launch, news",
        captions=[("generic", "A", "{first_name} here: we launched! {hashtags}"),
                  ("generic", "A", "Big day for us, says {name}. {hashtags}"),
                  ("generic", "A", "Have a look at {title} {hashtags}")],
    )  # fmt: skip
    seen = set()
    for i in range(12):
        uid = factory.user(f"p{i}@example.com", f"Pat{i} Person")
        auth.login(uid)
        html = client.get("/feed").get_data(as_text=True)
        caption = re.search(r'name="caption" rows="4">([^<]*)</textarea>', html).group(1)
        assert "{" not in caption and "#launch #news" in caption
        seen.add(caption.split(":")[0].split(",")[0][:12])
        again = client.get("/feed").get_data(as_text=True)
        assert re.search(r'name="caption" rows="4">([^<]*)</textarea>', again).group(1) == caption  # stable
    assert len(seen) >= 2  # colleagues do not all get the same caption


def test_unknown_placeholder_is_refused(app_ctx):
    with pytest.raises(services.ContentError, match=r"\{firstname\}"):
        services.create_post(
            services.PostData(title="T", url="https://example.com", action="publish",
                              captions=[("generic", "A", "Hi {firstname}")]),
            None,
        )  # fmt: skip


def test_ab_variants_are_random_but_consistent(app, factory):
    user_ids = [factory.user(f"ab{i}@example.com", f"AB {i}") for i in range(40)]
    with app.test_request_context(method="POST"):
        campaign = services.create_campaign("Caption test", "ab_test", "clicks", 100, None)
        post = services.create_post(
            services.PostData(title="T", url="https://example.com", action="publish", campaign_id=campaign.id,
                              captions=[("generic", "A", "Variant A"), ("generic", "B", "Variant B")]),
            None,
        )  # fmt: skip
        db.session.commit()
        variants = {}
        for user_id in user_ids:
            user = db.session.get(User, user_id)
            first = services.pick_caption(post, user)
            assert services.pick_caption(post, user) == first
            assert first[0] == f"Variant {first[1]}"
            variants[user.id] = first[1]
        counts = {v: list(variants.values()).count(v) for v in "AB"}
        assert counts["A"] >= 10 and counts["B"] >= 10


def test_admin_creates_a_post_through_the_form(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post(
        "/admin/posts/new",
        data={"url": "https://example.com/news", "title": "Hello world", "body": "Summary", "language": "en",
              "campaign_id": "0", "action": "publish", "hashtags": "a b",
              "caption-0-network": "linkedin", "caption-0-variant": "A", "caption-0-text": "Read {link}"},
    )  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        post = db.session.scalar(select(Post))
        assert (post.status, post.hashtags, post.source_name) == ("published", "#a #b", "example.com")
        assert [(c.network, c.text) for c in post.captions] == [("linkedin", "Read {link}")]


def test_admin_schedules_in_their_own_time_zone(app, client, auth, factory):
    admin = factory.user("adm@example.com", "Adm", roles=("employee", "admin"), timezone="Europe/Warsaw")
    auth.login(admin)
    future = (utcnow() + timedelta(days=3)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Warsaw"))
    local = future.strftime("%Y-%m-%dT09:00")
    client.post(
        "/admin/posts/new",
        data={"url": "https://example.com/a", "title": "Later", "language": "en", "campaign_id": "0",
              "action": "schedule", "publish_at": local},
    )  # fmt: skip
    with app.app_context():
        post = db.session.scalar(select(Post))
        assert post.status == "scheduled"
        assert post.publish_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Warsaw")).hour == 9


def test_admin_form_errors_change_nothing(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post(
        "/admin/posts/new",
        data={"url": "not a url", "title": "X", "language": "en", "campaign_id": "0", "action": "publish"},
    )
    assert response.status_code == 400
    assert "Enter a full web address" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Post)) is None


def test_post_image_is_resized_into_phone_and_preview(app, client, auth, users):
    import io

    from PIL import Image

    auth.login(users["admin"])
    buf = io.BytesIO()
    Image.new("RGB", (2400, 1260), (10, 120, 200)).save(buf, "JPEG")
    buf.seek(0)
    response = client.post(
        "/admin/posts/new",
        data={"url": "https://example.com/a", "title": "With image", "language": "en", "campaign_id": "0",
              "action": "publish", "image": (buf, "photo.jpg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        post = db.session.scalar(select(Post))
        phone, preview = post.image_path, post.preview_path
    sizes = [Image.open(io.BytesIO(client.get(f"/media/{p}").data)).size for p in (phone, preview)]
    assert sizes == [(1080, 567), (640, 336)]


def test_shared_posts_cannot_be_deleted_only_expired(app, client, auth, users):
    post_id = make_post(app, "Shared")
    auth.login(users["employee"])
    client.post(f"/posts/{post_id}/share", data={"network": "x"}, headers={"Accept": "application/json"})
    auth.login(users["admin"])
    response = client.post(f"/admin/posts/{post_id}/delete", follow_redirects=True)
    assert "let it expire instead" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Post, post_id) is not None


def test_periodic_tasks_are_registered_and_run(app):
    from app.content import tasks
    from app.tasks import huey

    names = {t.__name__ for t in huey._registry._periodic_tasks}
    assert {"publish_scheduled", "forget_visitor_salts", "poll_feeds"} <= {n.rsplit(".", 1)[-1] for n in names}
    due = make_post(app, "Due", action="schedule", publish_at=utcnow() + timedelta(seconds=1))
    with app.app_context():
        db.session.get(Post, due).publish_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    with app.app_context():
        assert tasks.publish_scheduled.call_local() == (1, 0)
        db.session.commit()
        assert db.session.get(Post, due).status == "published"


def test_old_visitor_salts_are_forgotten(app):
    from datetime import date

    from app.tracking.clicks import forget_old_salts
    from app.tracking.models import VisitorSalt

    today = utcnow().date()
    with app.app_context():
        for days in (0, 1, 2, 3, 10):
            db.session.add(VisitorSalt(day=today - timedelta(days=days), salt=f"s{days}"))
        db.session.commit()
        assert forget_old_salts() == 2
        db.session.commit()
        kept = sorted((today - s.day).days for s in db.session.scalars(select(VisitorSalt)))
    assert kept == [0, 1, 2] and isinstance(today, date)


def test_postgresql_keeps_a_cached_plan_for_the_first_feed_page(app, users):
    """The hot first page reuses its plan instead of planning every execution (0.47 -> 0.29 ms of server CPU).

    With the page size or an OFFSET as a parameter, PostgreSQL's generic plan looked dearer
    than a fresh one and it planned the query anew on every page view.
    """
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's plan cache")
    for i in range(12):
        make_post(app, f"Post {i:02d}")
    with app.app_context():
        user = db.session.get(User, users["employee"])
        for _ in range(15):  # psycopg prepares after 5 runs; PostgreSQL decides on a generic plan after 5 more
            posts, has_more = services.feed_page(user)
        assert len(posts) == 10 and has_more
        sql = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %(feed)s"
        plans = db.session.connection().exec_driver_sql(sql, {"feed": "%FROM post LEFT%"}).all()
    assert plans and plans[0].generic_plans > 0, plans
