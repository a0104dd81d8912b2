"""RSS and Atom sources polled from a real local web server into the suggested queue."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.content import feeds
from app.content.feeds import FeedError, PollResult, add_source, poll_due_sources, poll_source
from app.content.models import FeedItem, FeedSource
from app.extensions import db
from tests.helpers import Site

MALFORMED = "The feed could not be read: it is not valid RSS or Atom."
NOT_A_FEED = "That address does not answer with an RSS or Atom feed."

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>Example  News</title>
  <link>https://news.example.com/</link>
  <description>All the news</description>
  <item>
    <title>First &amp; foremost</title>
    <link>https://news.example.com/first</link>
    <guid isPermaLink="false">news-1</guid>
    <pubDate>Tue, 03 Jun 2025 09:39:21 GMT</pubDate>
    <description><![CDATA[<p>Hello <b>world</b> &amp; friends</p><script>alert(1)</script>]]></description>
    <media:content url="https://cdn.example.com/first.jpg" type="image/jpeg" medium="image"/>
  </item>
  <item>
    <title>Second</title>
    <link>https://news.example.com/second</link>
    <pubDate>Wed, 04 Jun 2025 12:00:00 +0200</pubDate>
    <description>Plain text summary</description>
    <enclosure url="https://cdn.example.com/podcast.mp3" type="audio/mpeg" length="1"/>
    <enclosure url="https://cdn.example.com/second.png" type="image/png" length="1"/>
  </item>
  <item>
    <title>No link at all</title>
    <guid isPermaLink="false">news-3</guid>
    <description>Skipped: nothing to share.</description>
  </item>
  <item>
    <title>A script link</title>
    <link>javascript:alert(1)</link>
    <guid isPermaLink="false">news-4</guid>
  </item>
</channel>
</rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
  <title type="html">Team &lt;b&gt;Blog&lt;/b&gt;</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2025-06-05T10:00:00Z</updated>
  <entry>
    <title>Atom entry</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link rel="alternate" href="/blog/atom-entry"/>
    <updated>2025-06-05T10:00:00+02:00</updated>
    <summary type="html">&lt;p&gt;An &lt;em&gt;Atom&lt;/em&gt; summary&lt;/p&gt;</summary>
    <media:thumbnail url="/img/atom.png"/>
  </entry>
  <entry>
    <title>Content only</title>
    <id>tag:example.com,2025:2</id>
    <link href="https://blog.example.com/content-only"/>
    <published>2025-06-01T08:00:00Z</published>
    <updated>2025-06-02T08:00:00Z</updated>
    <content type="html">&lt;p&gt;Body text&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Linkless</title>
    <id>tag:example.com,2025:3</id>
    <updated>2025-06-02T08:00:00Z</updated>
  </entry>
</feed>"""


def rss(items, title="Changing feed"):
    """An RSS 2.0 document with ``items`` as (guid, title) pairs."""
    body = "".join(
        f"<item><title>{t}</title><link>https://example.com/{g}</link><guid isPermaLink='false'>{g}</guid></item>"
        for g, t in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


def _conditional(site, etag=None, last_modified=None):
    """A feed that answers 304 when the request carries the current ETag / Last-Modified."""

    def route(handler):
        site.conditional_hits += 1
        if (etag and handler.headers.get("If-None-Match") == etag) or (
            last_modified and handler.headers.get("If-Modified-Since") == last_modified
        ):
            handler.send_response(304)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        Site.send(handler, 200, rss([("c1", "One"), ("c2", "Two")]).encode(), "application/rss+xml", headers)

    return route


@pytest.fixture
def site(app, tmp_path):
    """A local web site serving feeds (allow-listed); ``site.changing`` is the live content of /changing.xml."""
    server = Site()
    server.page("/rss.xml", RSS, content_type="application/rss+xml; charset=utf-8")
    server.page("/atom.xml", ATOM, content_type="application/atom+xml")
    server.page("/text-xml.xml", rss([("t1", "Text XML")]), content_type="text/xml")
    server.page("/page.html", "<html><title>A page</title></html>")
    server.page("/missing.xml", "gone", status=404, content_type="text/plain")
    server.page("/not-a-feed.xml", '<?xml version="1.0"?><note><to>Tove</to></note>', content_type="application/xml")
    truncated = rss([("b1", "Complete one"), ("b2", "Complete two"), ("b3", "Cut off")])
    server.page("/broken.xml", truncated[: truncated.index("Cut off") + 3], content_type="application/rss+xml")
    # If the body were handed to feedparser as bytes, it would open this path as a local file.
    local = tmp_path / "local-feed.xml"
    local.write_text(rss([("secret", "Read from the server's disk")]))
    server.page("/path.xml", str(local), content_type="application/xml")
    server.changing = [("a1", "Alpha"), ("a2", "Beta")]
    server.routes["/changing.xml"] = lambda h: Site.send(h, 200, rss(server.changing).encode(), "application/rss+xml")
    server.conditional_hits = 0
    server.routes["/etag.xml"] = _conditional(server, etag='"v1"')
    server.routes["/modified.xml"] = _conditional(server, last_modified="Wed, 04 Jun 2025 10:00:00 GMT")
    app.config["FETCH_ALLOW_HOSTS"] = ["127.0.0.1"]
    yield server
    server.stop()


def _items(source_id=None):
    query = select(FeedItem).order_by(FeedItem.url)
    if source_id is not None:
        query = query.where(FeedItem.source_id == source_id)
    return db.session.scalars(query).all()


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_rss_entries_become_items_once(app_ctx, site):
    source = add_source(f"{site.url}/rss.xml")
    db.session.commit()
    assert source.last_error == ""
    assert source.title == "Example News"
    assert source.last_polled_at is not None
    first, second = _items(source.id)  # the linkless and javascript: entries are skipped

    assert (first.guid, first.url, first.title) == ("news-1", "https://news.example.com/first", "First & foremost")
    assert first.summary == "Hello world & friends"  # tags and the script's text are gone
    assert first.image_url == "https://cdn.example.com/first.jpg"
    assert first.published_at == datetime(2025, 6, 3, 9, 39, 21, tzinfo=UTC)
    assert first.status == "new"

    assert second.guid == "https://news.example.com/second"  # no guid: the link
    assert second.image_url == "https://cdn.example.com/second.png"  # the image enclosure, not the audio
    assert second.published_at == datetime(2025, 6, 4, 10, 0, tzinfo=UTC)
    assert second.summary == "Plain text summary"

    assert poll_source(source) == PollResult(new=0, error="")
    db.session.commit()
    assert _count(FeedItem) == 2


def test_atom_entries_become_items_once(app_ctx, site):
    source = add_source(f"{site.url}/atom.xml")
    db.session.commit()
    assert source.title == "Team Blog"
    atom, content_only = sorted(_items(source.id), key=lambda item: item.title)
    assert atom.title == "Atom entry"
    assert atom.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert atom.url == f"{site.url}/blog/atom-entry"  # relative link, resolved against the feed's address
    assert atom.summary == "An Atom summary"
    assert atom.image_url == f"{site.url}/img/atom.png"
    assert atom.published_at == datetime(2025, 6, 5, 8, 0, tzinfo=UTC)
    assert content_only.summary == "Body text"
    assert content_only.published_at == datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # published wins over updated

    assert poll_source(source).new == 0
    db.session.commit()
    assert _count(FeedItem) == 2


def test_text_xml_is_accepted(app_ctx, site):
    source = add_source(f"{site.url}/text-xml.xml")
    db.session.commit()
    assert source.last_error == ""
    assert [item.title for item in _items()] == ["Text XML"]


def test_a_new_entry_is_added_on_the_next_poll(app_ctx, site):
    source = add_source(f"{site.url}/changing.xml")
    db.session.commit()
    assert [item.guid for item in _items()] == ["a1", "a2"]
    site.changing = [("a3", "Gamma"), *site.changing]
    assert poll_source(source).new == 1
    db.session.commit()
    assert [item.guid for item in _items()] == ["a1", "a2", "a3"]
    site.changing = site.changing[:1]  # entries falling off the feed stay in the queue
    assert poll_source(source).new == 0
    db.session.commit()
    assert _count(FeedItem) == 3


def test_the_same_guid_in_two_sources_is_two_items(app_ctx, site):
    add_source(f"{site.url}/changing.xml")
    site.routes["/copy.xml"] = site.routes["/changing.xml"]
    add_source(f"{site.url}/copy.xml")
    db.session.commit()
    assert _count(FeedItem) == 4


def test_malformed_feed_records_an_error_and_imports_nothing(app_ctx, site):
    source = add_source(f"{site.url}/broken.xml")
    db.session.commit()
    assert source.last_error == MALFORMED
    assert _count(FeedItem) == 0  # not even the complete entries before the break
    assert db.session.scalars(select(FeedSource.url)).all() == [f"{site.url}/broken.xml"]  # still listed
    assert poll_source(source) == PollResult(new=0, error=MALFORMED)


def test_a_feed_that_breaks_later_keeps_its_items_and_recovers(app_ctx, site):
    source = add_source(f"{site.url}/changing.xml")
    db.session.commit()
    good = site.routes["/changing.xml"]
    site.routes["/changing.xml"] = site.routes["/broken.xml"]
    assert poll_source(source).error == MALFORMED
    db.session.commit()
    assert source.last_error == MALFORMED
    assert _count(FeedItem) == 2
    site.routes["/changing.xml"] = good
    site.changing = [*site.changing, ("a3", "Gamma")]
    assert poll_source(source) == PollResult(new=1, error="")
    db.session.commit()
    assert source.last_error == ""


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/page.html", NOT_A_FEED),
        ("/not-a-feed.xml", NOT_A_FEED),
        ("/missing.xml", "The page answered with an error (HTTP 404)."),
    ],
)
def test_unusable_addresses_are_recorded_not_raised(app_ctx, site, path, message):
    source = add_source(f"{site.url}{path}")
    db.session.commit()
    assert source.last_error == message
    assert _count(FeedItem) == 0


def test_feed_body_is_never_opened_as_a_local_file(app_ctx, site):
    source = add_source(f"{site.url}/path.xml")
    db.session.commit()
    assert source.last_error in (MALFORMED, NOT_A_FEED)
    assert _count(FeedItem) == 0


def test_private_feed_address_is_recorded(app, app_ctx, site):
    app.config["FETCH_ALLOW_HOSTS"] = []
    source = add_source(f"{site.url}/rss.xml")
    db.session.commit()
    assert source.last_error == "That address points to a private network, which Herald does not fetch."
    assert site.requests == []


@pytest.mark.parametrize(("path", "header"), [("/etag.xml", "If-None-Match"), ("/modified.xml", "If-Modified-Since")])
def test_not_modified_counts_as_nothing_new(app_ctx, site, path, header):
    source = add_source(f"{site.url}{path}")
    db.session.commit()
    assert _count(FeedItem) == 2
    assert source.etag == ('"v1"' if path == "/etag.xml" else None)
    polled_at = source.last_polled_at

    assert poll_source(source, now=polled_at + timedelta(hours=1)) == PollResult(new=0, error="")
    db.session.commit()
    assert header in site.requests[-1][1]
    assert site.conditional_hits == 2
    assert source.last_polled_at == polled_at + timedelta(hours=1)
    assert _count(FeedItem) == 2


def test_add_source_refuses_a_duplicate(app_ctx, site):
    add_source(f"{site.url}/rss.xml")
    db.session.commit()
    with pytest.raises(FeedError) as err:
        add_source(f"  {site.url.replace('http://', 'HTTP://')}/rss.xml ")
    assert str(err.value) == "That feed is already in the list."
    db.session.rollback()
    assert _count(FeedSource) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed.xml", "Enter a web address that starts with http:// or https://."),
        ("", "Enter a web address that starts with http:// or https://."),
        ("https://user:pw@example.com/feed", "Herald does not fetch addresses that contain a user name or password."),
    ],
)
def test_add_source_refuses_bad_addresses(app_ctx, url, message):
    with pytest.raises(FeedError) as err:
        add_source(url)
    assert str(err.value) == message
    assert _count(FeedSource) == 0


def test_long_summaries_are_capped(app_ctx, site):
    long_text = "<p>" + "lorem ipsum " * 200 + "</p>"
    site.page(
        "/long.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>L</title><item><title>Long</title>'
        f"<link>https://example.com/long</link><description><![CDATA[{long_text}]]></description></item>"
        f"</channel></rss>",
        content_type="application/rss+xml",
    )
    add_source(f"{site.url}/long.xml")
    db.session.commit()
    (item,) = _items()
    assert len(item.summary) == 1000 and item.summary.endswith("…")
    assert "<" not in item.summary


def _source(url, polled_minutes_ago=None, active=True, now=None):
    source = FeedSource(
        url=url,
        active=active,
        last_polled_at=None if polled_minutes_ago is None else now - timedelta(minutes=polled_minutes_ago),
    )
    db.session.add(source)
    return source


def test_poll_due_sources_skips_recently_polled_and_inactive(app, app_ctx, site):
    app.config["FEED_POLL_MINUTES"] = 30
    now = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    never = _source(f"{site.url}/rss.xml", now=now)
    recent = _source(f"{site.url}/atom.xml", polled_minutes_ago=10, now=now)
    stale = _source(f"{site.url}/changing.xml", polled_minutes_ago=120, now=now)
    _source(f"{site.url}/text-xml.xml", active=False, now=now)
    db.session.commit()

    assert poll_due_sources(now) == 4  # rss 2 + changing 2
    db.session.commit()
    assert sorted(site.paths()) == ["/changing.xml", "/rss.xml"]
    assert never.last_polled_at == now and stale.last_polled_at == now
    assert recent.last_polled_at == now - timedelta(minutes=10)

    assert poll_due_sources(now + timedelta(minutes=5)) == 0  # nothing is due again yet
    db.session.commit()
    assert len(site.requests) == 2

    site.changing = [*site.changing, ("a3", "Gamma")]
    assert poll_due_sources(now + timedelta(minutes=31)) == 3  # all three are due: atom 2 + the new a3
    db.session.commit()
    assert len(site.requests) == 5
    assert _count(FeedItem) == 7


def test_poll_due_sources_inside_an_open_transaction(app, app_ctx, site):
    now = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    _source(f"{site.url}/rss.xml", now=now)
    db.session.flush()  # the caller's transaction is open: the due list is read inside it
    assert poll_due_sources(now) == 2
    db.session.commit()
    assert _count(FeedItem) == 2


def test_poll_due_sources_records_errors_and_carries_on(app, app_ctx, site):
    now = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    broken = _source(f"{site.url}/broken.xml", now=now)
    _source(f"{site.url}/rss.xml", now=now)
    db.session.commit()
    assert poll_due_sources(now) == 2
    db.session.commit()
    assert broken.last_error == MALFORMED
    assert broken.last_polled_at == now  # not retried on every run


def test_poll_feeds_task_is_idempotent(app, app_ctx, site):
    from app.content.tasks import poll_feeds

    _source(f"{site.url}/rss.xml", now=datetime.now(UTC))
    db.session.commit()
    assert poll_feeds.call_local() == 2
    db.session.commit()
    assert poll_feeds.call_local() == 0
    db.session.commit()
    assert _count(FeedItem) == 2


def test_an_entry_inserted_by_a_concurrent_poller_is_skipped(app_ctx, site, monkeypatch):
    """The Python-side check can lose a race; the unique constraint and a savepoint per row make it harmless."""
    source = FeedSource(url=f"{site.url}/changing.xml")
    db.session.add(source)
    db.session.flush()
    db.session.add(FeedItem(source_id=source.id, guid="a1", url="https://example.com/a1", title="Alpha"))
    db.session.commit()
    monkeypatch.setattr(feeds, "_existing_guids", lambda source_id, guids: set())  # as if checked before it landed

    assert poll_source(source) == PollResult(new=1, error="")
    db.session.commit()
    assert [item.guid for item in _items()] == ["a1", "a2"]
    assert source.last_error == "" and source.title == "Changing feed"


def test_two_pollers_at_once_import_each_entry_once(app, site):
    with app.app_context():
        source = FeedSource(url=f"{site.url}/changing.xml")
        db.session.add(source)
        db.session.commit()
        source_id = source.id
    barrier = threading.Barrier(2)
    results, errors = [], []

    def poll():
        try:
            with app.app_context():
                barrier.wait(5)
                result = poll_source(db.session.get(FeedSource, source_id))
                db.session.commit()
                results.append(result)
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(result.new for result in results) == [0, 2]
    with app.app_context():
        assert _count(FeedItem) == 2
