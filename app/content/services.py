"""The content library: posts, captions, audiences, publishing windows, campaigns and the feed.

Services change state and flush; the request or task commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, exists, func, literal_column, or_, select, update

from app import events, rawsql
from app.accounts.models import User
from app.audience import Audience
from app.content.models import (
    CAMPAIGN_KINDS,
    Campaign,
    Caption,
    CaptionDraft,
    Post,
    PostDepartment,
    PostLike,
    PostLocation,
    Share,
)
from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

FEED_PAGE_SIZE = 10
FEED_FILTERS = ("all", "new", "cta", "campaigns", "mine")
PLACEHOLDERS = ("first_name", "name", "title", "link", "hashtags")
MULTIPLIER_LOW, MULTIPLIER_HIGH = 100, 1000  # points multiplier of a post or campaign, percent
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


class ContentError(ValueError):
    """A user-facing problem with content (the message is translated)."""


def slugify(text: str, max_length: int = 60) -> str:
    """A URL-safe slug: ``Q3 results: up 20%!`` -> ``q3-results-up-20``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-") or "post"


def unique_slug(model, text: str) -> str:
    """A slug not yet used by ``model`` (a short random suffix when taken)."""
    base = slugify(text)
    slug = base
    while db.session.scalar(select(exists().where(model.slug == slug))):
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


def check_url(url: str) -> str:
    """Return a cleaned http(s) URL or raise ContentError."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise ContentError(_("Enter a full web address starting with https://."))
    if parts.username or parts.password:
        raise ContentError(_("Addresses with a user name or password are not allowed."))
    return url


def normalize_hashtags(text: str) -> str:
    """``growth, #Hiring  remote`` -> ``#growth #Hiring #remote``."""
    tags = [t.lstrip("#") for t in re.split(r"[\s,;]+", text or "") if t.strip("#")]
    seen, out = set(), []
    for tag in tags:
        clean = re.sub(r"[^\w]", "", tag)
        if clean and clean.lower() not in seen:
            seen.add(clean.lower())
            out.append("#" + clean)
    return " ".join(out)[:300]


@dataclass
class PostData:
    """What an admin submits for a post (already validated by the form)."""

    title: str
    url: str
    body: str = ""
    captions: list[tuple[str, str, str]] = field(default_factory=list)  # (network, variant, text)
    hashtags: str = ""
    language: str = "en"
    campaign_id: int | None = None
    department_ids: list[int] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    action: str = "draft"  # draft | publish | schedule
    publish_at: datetime | None = None
    expire_at: datetime | None = None
    pinned: bool = False
    is_cta: bool = False
    cta_deadline: datetime | None = None
    points_multiplier: int = 100  # percent of the usual points for sharing it
    source: str = "manual"
    source_name: str = ""


def _validate(data: PostData) -> None:
    if not data.title.strip():
        raise ContentError(_("Give the post a title."))
    data.url = check_url(data.url)
    now = utcnow()
    if data.action == "schedule" and (data.publish_at is None or data.publish_at <= now):
        raise ContentError(_("Choose a publication time in the future."))
    if data.expire_at is not None:
        start = data.publish_at if data.action == "schedule" else now
        if data.expire_at <= start:
            raise ContentError(_("The post must expire after it is published."))
    if data.cta_deadline is not None and not data.is_cta:
        data.cta_deadline = None
    if not MULTIPLIER_LOW <= data.points_multiplier <= MULTIPLIER_HIGH:
        raise ContentError(_("The points multiplier is from 100% to 1000%."))
    for _network, _variant, text in data.captions:
        unknown = set(_PLACEHOLDER_RE.findall(text)) - set(PLACEHOLDERS)
        if unknown:
            raise ContentError(
                _(
                    "Unknown placeholder %(names)s. Use %(valid)s.",
                    names=", ".join("{" + n + "}" for n in sorted(unknown)),
                    valid=", ".join("{" + n + "}" for n in PLACEHOLDERS),
                )
            )


def _apply(post: Post, data: PostData) -> None:
    post.title = data.title.strip()[:200]
    post.url = data.url
    post.body = data.body.strip()
    post.hashtags = normalize_hashtags(data.hashtags)
    post.language = data.language or "en"
    post.campaign_id = data.campaign_id or None
    post.pinned = data.pinned
    post.is_cta = data.is_cta
    post.cta_deadline = data.cta_deadline
    post.points_multiplier = data.points_multiplier
    post.expire_at = data.expire_at
    post.source = data.source
    post.source_name = data.source_name or (urlsplit(data.url).hostname or "").removeprefix("www.")
    post.captions = [
        Caption(network=network, variant=variant, text=text.strip())
        for network, variant, text in data.captions
        if text.strip()
    ]
    post.departments = [PostDepartment(department_id=i) for i in sorted(set(data.department_ids))]
    post.locations = [PostLocation(location_id=i) for i in sorted(set(data.location_ids))]
    post.audience_all = not (data.department_ids or data.location_ids)
    now = utcnow()
    if data.action == "publish":
        was_live = post.status == "published"
        post.status = "published"
        if not was_live or post.publish_at is None or post.publish_at > now:
            post.publish_at = now
    elif data.action == "schedule":
        post.status = "scheduled"
        post.publish_at = data.publish_at
    else:
        post.status = "draft"


def create_post(data: PostData, actor: User | None) -> Post:
    """Create a post (draft, published now, or scheduled)."""
    _validate(data)
    post = Post(slug=unique_slug(Post, data.title), created_by_id=getattr(actor, "id", None))
    db.session.add(post)
    _apply(post, data)
    db.session.flush()
    if post.status == "published":
        events.post_published.send(current_app._get_current_object(), post=post)
    return post


def update_post(post: Post, data: PostData) -> Post:
    """Change a post; publishing a draft announces it like a new post."""
    was_published = post.status == "published"
    _validate(data)
    _apply(post, data)
    db.session.flush()
    if post.status == "published" and not was_published:
        events.post_published.send(current_app._get_current_object(), post=post)
    return post


def publish_due(now: datetime | None = None) -> tuple[int, int]:
    """Publish scheduled posts whose time has come and expire posts past ``expire_at``.

    Guarded updates make a re-run (or two workers at once) harmless. Returns
    (published, expired).
    """
    now = now or utcnow()
    due_ids = db.session.scalars(select(Post.id).where(Post.status == "scheduled", Post.publish_at <= now)).all()
    published = 0
    for post_id in due_ids:
        result = db.session.execute(
            update(Post)
            .where(Post.id == post_id, Post.status == "scheduled")
            .values(status="published")
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            published += 1
            events.post_published.send(current_app._get_current_object(), post=db.session.get(Post, post_id))
    expired = db.session.execute(
        update(Post)
        .where(Post.status == "published", Post.expire_at.is_not(None), Post.expire_at <= now)
        .values(status="expired")
        .execution_options(synchronize_session=False)
    ).rowcount
    return published, expired


def live_condition(now: datetime):
    """SQL condition: published and inside the publication window (even before the task has run)."""
    return and_(
        # Two comparisons, not IN: an IN list is expanded per execution, which the feed's
        # statement prepared once (app.rawsql) cannot do.
        or_(Post.status == "published", Post.status == "scheduled"),
        Post.publish_at.is_not(None),
        Post.publish_at <= now,
        or_(Post.expire_at.is_(None), Post.expire_at > now),
    )


POST_AUDIENCE = Audience(
    Post.audience_all, Post.id, PostDepartment.post_id, PostDepartment.department_id, PostLocation.post_id,
    PostLocation.location_id,
)  # fmt: skip


def audience_condition(user: User):
    """SQL condition: the post is for everyone, or for the user's department or location."""
    return POST_AUDIENCE.includes(user)


def _filtered(query, filter_name: str, user_id):
    """``query`` narrowed by a feed filter, newest first with pinned posts on top."""
    shared_by_me = exists().where(Share.post_id == Post.id, Share.user_id == user_id)
    if filter_name == "new":
        query = query.where(~shared_by_me)
    elif filter_name == "cta":
        query = query.where(Post.is_cta.is_(True))
    elif filter_name == "campaigns":
        query = query.where(Post.campaign_id.is_not(None))
    elif filter_name == "mine":
        query = query.where(shared_by_me)
    return query.order_by(Post.pinned.desc(), Post.publish_at.desc(), Post.id.desc())


@dataclass(frozen=True, slots=True)
class FeedCampaign:
    """What a feed card needs of a post's campaign."""

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class FeedCaption:
    """A suggested caption, as the feed reads it."""

    network: str
    variant: str
    text: str


@dataclass(slots=True)
class FeedPost:
    """A post as a feed card shows it, read with two plain queries instead of the ORM.

    A feed page is the most requested page, and loading ten ``Post`` objects with their
    campaign and captions through the ORM was a large share of its time. It offers the
    attributes the card, ``pick_caption`` and ``render_caption`` use, under the same names.
    """

    id: int
    title: str
    body: str
    hashtags: str
    source_name: str
    preview_path: str | None
    pinned: bool
    is_cta: bool
    cta_deadline: datetime | None
    campaign_id: int | None
    campaign: FeedCampaign | None
    share_count: int
    click_count: int
    like_count: int
    comment_count: int
    captions: list[FeedCaption] = field(default_factory=list)
    # The viewer's own marks, read in the same query: do they like it, where did they share it.
    liked: bool = False
    shared_to: frozenset[str] = frozenset()
    draft: str | None = None  # their own wording of the caption, kept from last time


_FEED_COLUMNS = (
    Post.id,
    Post.title,
    Post.body,
    Post.hashtags,
    Post.source_name,
    Post.preview_path,
    Post.pinned,
    Post.is_cta,
    Post.cta_deadline,
    Post.campaign_id,
    Campaign.name.label("campaign_name"),
    Campaign.kind.label("campaign_kind"),
    Post.share_count,
    Post.click_count,
    Post.like_count,
    Post.comment_count,
)


def _labelled(columns, names):
    """``columns`` labelled ``names``: feed rows are read by name."""
    return [column.label(name) for column, name in zip(columns, names, strict=True)]


def _captions_json(dialect: str):
    """A post's captions as one JSON array of [id, network, variant, text] (in no particular order).

    Read inside the feed query (one round trip less per page, which PostgreSQL feels most).
    """
    if dialect == "postgresql":
        aggregate = func.json_agg(func.json_build_array(Caption.id, Caption.network, Caption.variant, Caption.text))
    else:
        aggregate = func.json_group_array(func.json_array(Caption.id, Caption.network, Caption.variant, Caption.text))
    return select(aggregate).where(Caption.post_id == Post.id).correlate(Post).scalar_subquery()


def _viewer_columns(dialect: str):
    """Whether the viewer (``:user_id``) likes each post, the networks they shared it to, their own caption."""
    # A scalar subquery, not EXISTS: PostgreSQL turned the EXISTS into a hashed scan of every
    # like of the viewer; this is a primary-key probe per card on both databases.
    liked = (
        select(PostLike.post_id)
        .where(PostLike.post_id == Post.id, PostLike.user_id == bindparam("user_id"))
        .correlate(Post)
        .limit(literal_column("1"))
        .scalar_subquery()
    )
    aggregate = func.string_agg if dialect == "postgresql" else func.group_concat
    networks = aggregate(Share.network, ",")
    shared = (
        select(networks)
        .where(Share.post_id == Post.id, Share.user_id == bindparam("user_id"))
        .correlate(Post)
        .scalar_subquery()
    )
    draft = (
        select(CaptionDraft.text)
        .where(CaptionDraft.user_id == bindparam("user_id"), CaptionDraft.post_id == Post.id)
        .correlate(Post)
        .scalar_subquery()
    )
    return liked, shared, draft


@lru_cache(maxsize=128)
def _feed_statement(dialect: str, filter_name: str, has_department: bool, has_location: bool, first_page: bool):
    """The feed page query for one filter, built once: only bound parameters change between requests.

    Building the expression and its cache key anew cost more than running it on SQLite.
    The page size is a literal and the first page has no OFFSET: with either as a parameter,
    PostgreSQL's generic plan for the prepared statement assumes it skips a tenth of the posts,
    looks dearer than planning anew, and so every execution was planned again (figures in
    docs/performance.md, session 6).
    """
    query = (
        select(
            *_FEED_COLUMNS,
            _captions_json(dialect).label("captions"),
            *(
                column.label(name)
                for column, name in zip(_viewer_columns(dialect), ("liked", "shared_to", "draft"), strict=True)
            ),
        )
        .select_from(Post)
        .outerjoin(Campaign, Campaign.id == Post.campaign_id)
        .where(
            live_condition(bindparam("now", type_=UTCDateTime())),
            POST_AUDIENCE.condition(
                bindparam("department_id") if has_department else None,
                bindparam("location_id") if has_location else None,
            ),
        )
    )
    query = _filtered(query, filter_name, bindparam("user_id")).limit(literal_column(str(FEED_PAGE_SIZE + 1)))
    if not first_page:
        query = query.offset(bindparam("offset"))
    # Run on the driver's cursor: SQLAlchemy's execution and result machinery cost more
    # than the query itself. Rows come back as plain tuples, read by name through a named tuple.
    return rawsql.Prepared(query), namedtuple("FeedRow", query.selected_columns.keys())


@lru_cache(maxsize=4)
def _deadline_processor(dialect):
    """Turns the driver's value of ``post.cta_deadline`` into an aware UTC datetime (what the ORM returns)."""
    return rawsql.result_processor(Post.__table__.c.cta_deadline.type, dialect)


def feed_page(user: User, filter_name: str = "all", page: int = 1) -> tuple[list[FeedPost], bool]:
    """One page of the feed and whether another follows."""
    if filter_name not in FEED_FILTERS:
        filter_name = "all"
    page = max(page, 1)
    params = {
        "now": utcnow(),
        "user_id": user.id,
        "department_id": user.department_id,
        "location_id": user.location_id,
        "offset": (page - 1) * FEED_PAGE_SIZE,
    }
    with rawsql.cursor(db.session) as raw:
        statement, row_type = _feed_statement(
            raw.dialect.name, filter_name, user.department_id is not None, user.location_id is not None, page == 1
        )
        rows = statement.execute(raw, params).fetchall()
    deadline = _deadline_processor(raw.dialect)
    posts = []
    for r in map(row_type._make, rows[:FEED_PAGE_SIZE]):
        captions = r.captions
        if isinstance(captions, str):  # SQLite answers JSON as text; psycopg decodes it
            captions = json.loads(captions)
        posts.append(
            FeedPost(
                id=r.id,
                title=r.title,
                body=r.body or "",
                hashtags=r.hashtags or "",
                source_name=r.source_name or "",
                preview_path=r.preview_path,
                pinned=bool(r.pinned),
                is_cta=bool(r.is_cta),
                cta_deadline=deadline(r.cta_deadline) if deadline is not None else r.cta_deadline,
                campaign_id=r.campaign_id,
                campaign=FeedCampaign(r.campaign_name, r.campaign_kind) if r.campaign_id is not None else None,
                share_count=r.share_count,
                click_count=r.click_count,
                like_count=r.like_count,
                comment_count=r.comment_count,
                captions=[FeedCaption(*c[1:]) for c in sorted(captions or (), key=itemgetter(0))],
                liked=r.liked is not None,
                shared_to=frozenset(r.shared_to.split(",")) if r.shared_to else frozenset(),
                draft=r.draft,
            )
        )
    return posts, len(rows) > FEED_PAGE_SIZE


def can_see(user: User, post: Post, now: datetime | None = None) -> bool:
    """True when ``post`` is live and in ``user``'s audience."""
    now = now or utcnow()
    return bool(
        db.session.scalar(select(exists().where(Post.id == post.id, live_condition(now), audience_condition(user))))
    )


def _stable_choice(key: str, n: int) -> int:
    """A choice that looks random but is the same every time for the same key (keyed with the secret)."""
    return _keyed_digest(current_app.config["SECRET_KEY"], key) % n


def forget_caches() -> None:
    """Drop the cached caption fills and keyed choices (pure functions of their arguments)."""
    _fill_caption.cache_clear()
    _keyed_digest.cache_clear()


@lru_cache(maxsize=65536)
def _keyed_digest(secret: str, key: str) -> int:
    """HMAC-SHA256 of ``key`` as a number (cached: every feed card asks again for the same keys)."""
    return int.from_bytes(hmac.new(secret.encode(), key.encode(), hashlib.sha256).digest()[:8], "big")


def variant_for(post: Post, user: User) -> str:
    """The caption variant this employee gets: A or B at random but consistently in an A/B test, else A."""
    if post.campaign is not None and post.campaign.kind == "ab_test":
        has_b = any(c.variant == "B" for c in post.captions)
        if has_b:
            return "AB"[_stable_choice(f"ab:{post.campaign_id}:{user.id}", 2)]
    return "A"


def pick_caption(post: Post, user: User, network: str = "generic") -> tuple[str, str]:
    """The caption template (and variant) for this employee and network.

    Several captions may be suggested per network; each employee gets one of
    them (stable per employee), so a hundred colleagues do not post the same words.
    Networks without their own captions fall back to the generic ones, then to any.
    """
    variant = variant_for(post, user)
    pool = [c for c in post.captions if c.variant == variant] or list(post.captions)
    for wanted in (network, "generic"):
        matches = [c for c in pool if c.network == wanted]
        if matches:
            break
    else:
        matches = pool
    if not matches:
        return post.title, variant
    return matches[_stable_choice(f"cap:{post.id}:{network}:{user.id}", len(matches))].text, variant


def render_caption(template: str, post: Post, user: User, link: str | None) -> str:
    """Fill the placeholders; ``{link}`` becomes the tracked link (or disappears when there is none yet)."""
    return _fill_caption(template, user.first_name, user.display_name, post.title, post.hashtags, link or "")


@lru_cache(maxsize=16384)
def _fill_caption(template: str, first_name: str, name: str, title: str, hashtags: str, link: str) -> str:
    """The caption text for these values (a pure function, cached: the feed fills the same ones again)."""
    values = {"first_name": first_name, "name": name, "title": title, "hashtags": hashtags, "link": link}
    text = _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    return re.sub(r"[ \t]+\n", "\n", re.sub(r"[ \t]{2,}", " ", text)).strip()


def create_campaign(
    name: str, kind: str, goal_metric: str, goal_target: int, ends_at, description="", points_multiplier: int = 100
) -> Campaign:
    """Create a campaign from one of the templates (share, call to action, A/B caption test)."""
    if not MULTIPLIER_LOW <= points_multiplier <= MULTIPLIER_HIGH:
        raise ContentError(_("The points multiplier is from 100% to 1000%."))
    if kind not in CAMPAIGN_KINDS:
        raise ContentError(_("Unknown campaign type."))
    if not name.strip():
        raise ContentError(_("Give the campaign a name."))
    if goal_target < 0:
        raise ContentError(_("The goal cannot be negative."))
    campaign = Campaign(
        name=name.strip()[:120],
        slug=unique_slug(Campaign, name),
        kind=kind,
        goal_metric=goal_metric if goal_metric in ("shares", "clicks") else "shares",
        goal_target=goal_target,
        ends_at=ends_at,
        description=description.strip(),
        points_multiplier=points_multiplier,
    )
    db.session.add(campaign)
    db.session.flush()
    return campaign
