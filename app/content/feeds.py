"""RSS and Atom sources, polled into the admins' suggested queue as ``FeedItem`` rows.

A poll is all or nothing: the whole feed is parsed and every entry checked
before the first row is written, so a broken feed leaves no half-imported
items, only an error on its source. Entries are keyed by (source, guid); the
unique constraint, not the Python-side check, is what makes two pollers
running at once harmless.
"""

from __future__ import annotations

import hashlib
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from app.content.models import FeedItem, FeedSource
from app.extensions import db
from app.fetch import FetchError, FetchResult, check_url, fetch
from app.timeutil import utcnow

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
SUMMARY_MAX = 1000
TITLE_MAX = 300
SOURCE_TITLE_MAX = 200
GUID_MAX = 500
URL_MAX = 2000
ETAG_MAX = 200
MODIFIED_MAX = 100
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


class FeedError(ValueError):
    """A user-facing problem with a feed source (shown to the admin as is)."""


@dataclass
class PollResult:
    """What one poll did: how many new items it queued, or why it queued none (``error``)."""

    new: int = 0
    error: str = ""


@dataclass
class _Download:
    """A feed's answer, fetched before any database work; ``error`` is set when there is none."""

    result: FetchResult | None = None
    error: str = ""


@dataclass
class _Entry:
    guid: str
    url: str
    title: str
    summary: str
    image_url: str
    published_at: datetime | None


def _not_a_feed() -> str:
    return _("That address does not answer with an RSS or Atom feed.")


def add_source(url: str) -> FeedSource:
    """Add a feed and poll it once, so the admin sees at once whether it works.

    Refuses an address that is not http(s) or is already listed (``FeedError``).
    A failed first poll does not refuse the source: its error is recorded on it.
    """
    try:
        url = check_url(url)
    except FetchError as exc:
        raise FeedError(str(exc))
    if len(url) > URL_MAX:
        raise FeedError(_("That address is too long."))
    duplicate = _("That feed is already in the list.")
    if db.session.scalar(select(FeedSource.id).where(FeedSource.url == url)) is not None:
        raise FeedError(duplicate)
    source = FeedSource(url=url)
    try:
        with db.session.begin_nested():  # another admin adding the same feed at the same moment
            db.session.add(source)
    except IntegrityError:
        raise FeedError(duplicate)
    poll_source(source)
    return source


def _download(url: str, etag: str | None, modified: str | None) -> _Download:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        return _Download(result=fetch(url, accept=FEED_TYPES, headers=headers))
    except FetchError as exc:
        return _Download(error=_not_a_feed() if exc.code == "content_type" else str(exc))


def poll_source(source: FeedSource, *, now: datetime | None = None) -> PollResult:
    """Fetch one feed and queue its new entries; errors are recorded on the source, not raised."""
    return _store(source, _download(source.url, source.etag, source.modified), now or utcnow())


def _store(source: FeedSource, download: _Download, now: datetime) -> PollResult:
    source.last_polled_at = now
    # Updating the source's row first makes a second poller of the same source wait here until
    # this one commits (PostgreSQL row lock; SQLite has one writer anyway), so it then sees our rows.
    db.session.flush()
    if download.error:
        return _failed(source, download.error)
    result = download.result
    if result.status == 304:  # the feed has not changed since the ETag / Last-Modified we sent
        source.last_error = ""
        db.session.flush()
        return PollResult()

    # A stream, not bytes: feedparser.parse(bytes) first tries open() on them as a file path.
    parsed = feedparser.parse(
        io.BytesIO(result.body),
        response_headers={"content-type": result.headers.get("Content-Type", ""), "content-location": result.url},
    )
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if bozo is not None and not isinstance(bozo, feedparser.CharacterEncodingOverride):
        return _failed(source, _("The feed could not be read: it is not valid RSS or Atom."))
    if not parsed.get("version"):
        return _failed(source, _not_a_feed())

    entries = _valid_entries(parsed.entries, result.url)
    new = _insert_new(source, entries)

    source.last_error = ""
    source.etag = _header(result, "ETag", ETAG_MAX)
    source.modified = _header(result, "Last-Modified", MODIFIED_MAX)
    if not source.title:
        source.title = _plain(parsed.feed.get("title"), SOURCE_TITLE_MAX)
    db.session.flush()
    return PollResult(new=new)


def _failed(source: FeedSource, error: str) -> PollResult:
    source.last_error = error
    db.session.flush()
    return PollResult(error=error)


def _header(result: FetchResult, name: str, limit: int) -> str | None:
    value = (result.headers.get(name) or "").strip()
    return value if value and len(value) <= limit else None


def _plain(text: str | None, limit: int) -> str:
    """Feed HTML as plain text (templates escape it when shown), whitespace collapsed, capped."""
    text = html.unescape(nh3.clean(text or "", tags=set()))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _http_url(base: str, ref: str | None) -> str:
    ref = (ref or "").strip()
    if not ref:
        return ""
    url = urljoin(base, ref)
    return url if urlsplit(url).scheme in ("http", "https") and len(url) <= URL_MAX else ""


def _image(entry, base: str) -> str:
    candidates = []
    for media in entry.get("media_content") or ():
        kind = (media.get("type") or "").lower()
        medium = (media.get("medium") or "").lower()
        url = media.get("url") or ""
        looks_like_image = not kind and not medium and urlsplit(url).path.lower().endswith(_IMAGE_EXTENSIONS)
        if kind.startswith("image/") or medium == "image" or looks_like_image:
            candidates.append(url)
    candidates += [thumb.get("url") for thumb in entry.get("media_thumbnail") or ()]
    candidates += [
        enc.get("href") for enc in entry.get("enclosures") or () if (enc.get("type") or "").lower().startswith("image/")
    ]
    for candidate in candidates:
        url = _http_url(base, candidate)
        if url:
            return url
    return ""


def _published(entry) -> datetime | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if not stamp:
        return None
    try:
        return datetime(*stamp[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _valid_entries(raw_entries, base: str) -> list[_Entry]:
    """Every storable entry, first occurrence of each guid; entries without an http(s) link are skipped."""
    entries: dict[str, _Entry] = {}
    for entry in raw_entries:
        url = _http_url(base, entry.get("link"))
        if not url:
            continue
        guid = (entry.get("id") or "").strip() or url
        if len(guid) > GUID_MAX:
            guid = "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
        if guid in entries:
            continue
        summary = entry.get("summary") or ""
        if not summary and entry.get("content"):
            summary = entry.content[0].get("value", "")
        entries[guid] = _Entry(
            guid=guid,
            url=url,
            title=_plain(entry.get("title"), TITLE_MAX) or url[:TITLE_MAX],
            summary=_plain(summary, SUMMARY_MAX),
            image_url=_image(entry, url),
            published_at=_published(entry),
        )
    return list(entries.values())


def _insert_new(source: FeedSource, entries: list[_Entry]) -> int:
    """Insert the entries this source does not have yet; return how many were inserted.

    Each row goes in its own savepoint: should another poller have inserted the
    same guid after our check, that row alone fails on the unique constraint and
    is skipped. Rows go in guid order so two such pollers take the index locks
    in the same order.
    """
    if not entries:
        return 0
    guids = [entry.guid for entry in entries]
    existing: set[str] = set()
    for start in range(0, len(guids), 500):
        existing.update(_existing_guids(source.id, guids[start : start + 500]))
    new = 0
    for entry in sorted(entries, key=lambda e: e.guid):
        if entry.guid in existing:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(
                    FeedItem(
                        source_id=source.id,
                        guid=entry.guid,
                        url=entry.url,
                        title=entry.title,
                        summary=entry.summary,
                        image_url=entry.image_url,
                        published_at=entry.published_at,
                    )
                )
        except IntegrityError:
            continue
        new += 1
    return new


def _existing_guids(source_id: int, guids: list[str]) -> set[str]:
    query = select(FeedItem.guid).where(FeedItem.source_id == source_id, FeedItem.guid.in_(guids))
    return set(db.session.scalars(query))


def _due(now: datetime):
    cutoff = now - timedelta(minutes=current_app.config["FEED_POLL_MINUTES"])
    return (
        FeedSource.active.is_(True),
        or_(FeedSource.last_polled_at.is_(None), FeedSource.last_polled_at <= cutoff),
    )


def poll_due_sources(now: datetime | None = None) -> int:
    """Poll every active source not polled in the last ``FEED_POLL_MINUTES``; return the number of new items.

    When the session has no transaction yet (a task's case), the due list is read
    on a short connection of its own and the feeds are downloaded before the
    session's transaction starts: on SQLite that transaction holds the write
    lock, which must not wait on slow web servers.
    """
    now = now or utcnow()
    query = select(FeedSource.id, FeedSource.url, FeedSource.etag, FeedSource.modified).where(*_due(now))
    query = query.order_by(FeedSource.id)
    if db.session().in_transaction():
        due = db.session.execute(query).all()
    else:
        with db.engine.connect() as conn:
            due = conn.execute(query).all()
    downloads = [(row.id, _download(row.url, row.etag, row.modified)) for row in due]
    total = 0
    for source_id, download in downloads:
        source = db.session.get(FeedSource, source_id)
        if source is not None and source.active:
            total += _store(source, download, now).new
    return total
