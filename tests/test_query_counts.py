"""How many SQL statements the hot pages send: a regression fails here, not only in a benchmark.

Figures per dialect. On SQLite Herald issues ``BEGIN`` itself (deferred for reads), so it is
counted; on PostgreSQL the read-only pages run without a transaction (autocommit) and the
driver's own transaction control is not a statement (see the ``count_queries`` fixture).
"""

from __future__ import annotations

import pytest

from app import caches
from app.extensions import db
from app.tracking import redirect
from app.tracking.clicks import SaltBook
from tests.helpers import code_of, give_points, make_post, share, visit


@pytest.fixture
def dialect(app):
    """``sqlite`` or ``postgresql``: the database this run uses."""
    with app.app_context():
        return db.engine.dialect.name


def on(dialect: str, sqlite: int, postgresql: int) -> int:
    """The figure for this run's database."""
    return {"sqlite": sqlite, "postgresql": postgresql}[dialect]


# --- the feed -------------------------------------------------------------------------------------------------


def test_the_feed_page_reads_the_viewer_and_one_page_of_posts(app, client, auth, users, dialect, count_queries):
    posts = [make_post(app, f"Post {n}", url=f"https://example.com/{n}") for n in range(3)]
    auth.login(users["employee"])
    share(client, posts[0], "linkedin")
    client.post(f"/posts/{posts[1]}/like")
    caches.clear(app)

    with count_queries() as first:
        assert client.get("/feed").status_code == 200
    with count_queries() as again:
        assert client.get("/feed").status_code == 200

    # SQLite: BEGIN; the signed-in person; the page of posts with their counts and the viewer's
    # own shares and likes (one statement). PostgreSQL: the same two SELECTs, no transaction.
    # Nothing the cards show is read per card. A first view after caches clear also reads which
    # survey waves are open (the Surveys tab's badge; kept for 30 s per process, none open here).
    assert first.total == on(dialect, sqlite=4, postgresql=3), first
    assert again.total == on(dialect, sqlite=3, postgresql=2), again


def test_the_feed_page_sends_as_many_statements_for_more_posts(app, client, auth, users, count_queries):
    auth.login(users["employee"])
    make_post(app, "Only post")
    client.get("/feed")
    with count_queries() as one_post:
        client.get("/feed")
    for n in range(5):
        make_post(app, f"Post {n}", url=f"https://example.com/{n}")
    client.get("/feed")
    with count_queries() as six_posts:
        client.get("/feed")
    assert six_posts.total == one_post.total, six_posts


# --- the leaderboard ------------------------------------------------------------------------------------------


def test_the_leaderboard_reads_the_top_and_caches_the_score_distribution(
    app, client, auth, users, dialect, count_queries
):
    for user_id, points in ((users["employee"], 30), (users["admin"], 20), (users["hr"], 10)):
        give_points(app, user_id, points)
    auth.login(users["employee"])
    caches.clear(app)

    with count_queries() as first:
        assert client.get("/leaderboard").status_code == 200
    with count_queries() as again:
        assert client.get("/leaderboard").status_code == 200

    # First view after caches clear. SQLite: BEGIN; the signed-in person; the program's point rules
    # (cached per process); the top of the board; the distribution of scores that ranks people
    # outside the top (cached per board for a while). PostgreSQL: the same four SELECTs, no BEGIN.
    assert first.total == on(dialect, sqlite=6, postgresql=5), first  # + the open survey waves (the tab badge)
    # Repeat view: rules and distribution come from the caches; the viewer is in the top, so their
    # own score needs no read. SQLite: BEGIN, the person, the top. PostgreSQL: the two SELECTs.
    assert again.total == on(dialect, sqlite=3, postgresql=2), again


def test_a_viewer_outside_the_top_costs_one_more_statement(app, client, auth, users, dialect, count_queries):
    give_points(app, users["admin"], 20)
    auth.login(users["employee"])  # no points: not on the board
    client.get("/leaderboard")

    with count_queries() as counted:
        assert client.get("/leaderboard").status_code == 200

    # SQLite: BEGIN; the signed-in person; the top; the viewer's own score. PostgreSQL: no BEGIN.
    assert counted.total == on(dialect, sqlite=4, postgresql=3), counted


# --- the tracked-link redirect --------------------------------------------------------------------------------


@pytest.fixture
def two_links(app, client, auth, users):
    """Codes of two tracked links of a published post, the redirect's process knowing today's salt."""
    post_id = make_post(app)
    auth.login(users["employee"])
    codes = [code_of(share(client, post_id, network)["link"]) for network in ("linkedin", "x")]
    assert visit(app, codes[1]).status_code == 302  # today's visitor salt is known from here on
    return codes


def test_a_redirect_looks_its_code_up_once_then_serves_from_the_cache(app, two_links, dialect, count_queries):
    code = two_links[0]

    with count_queries() as miss:
        assert visit(app, code).status_code == 302
    with count_queries() as hit:
        assert visit(app, code).status_code == 302

    # A code not yet cached: one SELECT of link, post and campaign on the redirect's own
    # autocommit connection; the click goes to the spool file, not the database.
    assert miss.total == on(dialect, sqlite=1, postgresql=1), miss
    # A cached code: no statement at all.
    assert hit.total == 0, hit


def test_the_first_redirect_of_the_day_also_creates_the_visitor_salt(
    app, client, auth, users, dialect, count_queries, monkeypatch
):
    post_id = make_post(app)
    auth.login(users["employee"])
    code = code_of(share(client, post_id)["link"])
    monkeypatch.setattr(redirect, "salts", SaltBook())  # a process that has not clicked today

    with count_queries() as counted:
        assert visit(app, code).status_code == 302

    # The lookup; then the salt: read it (none yet), insert it, read the one that won a race.
    # SQLite adds Herald's BEGIN before each of the three (BEGIN IMMEDIATE before the INSERT).
    assert counted.total == on(dialect, sqlite=7, postgresql=4), counted
