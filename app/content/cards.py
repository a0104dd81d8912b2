"""The feed card, rendered fast.

A feed page shows ten cards. Most of a card (image, tags, title, body, the share
sheet's form and buttons, its links) depends only on the post, the language and the
time zone, yet costs the bulk of the rendering: ``url_for``, ``gettext`` and filters.
``card_parts`` renders those parts once per process and reuses them. The cache key
is every value the parts are rendered from, so an edited post is simply another key:
there is nothing to invalidate, and nothing about a viewer is ever cached. Counts,
the caption picked for the viewer, their likes and shares are rendered per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from flask import current_app, get_template_attribute, request, url_for
from flask_babel import get_locale, get_timezone, gettext
from markupsafe import Markup
from sqlalchemy import String, bindparam, literal, select, union_all

from app.content.models import PostLike, Share
from app.content.services import pick_caption, render_caption
from app.extensions import db

CACHE_SIZE = 4096  # cards per worker process (a few MB)
PARTS_TEMPLATE = "content/_card_parts.html"


@dataclass(frozen=True, slots=True)
class CardPost:
    """The post fields a card's cached parts show (nothing that changes with clicks, likes or comments)."""

    id: int
    title: str
    body: str
    preview_path: str | None
    source_name: str
    pinned: bool
    is_cta: bool
    cta_deadline: datetime | None
    campaign_name: str | None


@dataclass(frozen=True, slots=True)
class CardParts:
    """Rendered, escaped HTML pieces of one card, and its links."""

    head: Markup
    share_open: Markup
    share_label: Markup
    share_close: Markup
    like_label: str
    post_url: str
    like_url: str


def _render_parts(post: CardPost, locale: str, timezone: str, script_root: str) -> CardParts:
    """Render a card's post-only parts (``locale``, ``timezone``, ``script_root`` only key the cache)."""

    def macro(name: str):
        # Macros of an autoescaping template return Markup: escaped already, safe to insert as is.
        return get_template_attribute(PARTS_TEMPLATE, name)

    return CardParts(
        head=macro("head")(post),
        share_open=macro("share_open")(post),
        share_label=macro("share_label")(post),
        share_close=macro("share_close")(),
        like_label=gettext("Like"),
        post_url=url_for("content.post", post_id=post.id),
        like_url=url_for("content.like", post_id=post.id),
    )


def _cache(app):
    cached = app.extensions.get("herald.card_parts")
    if cached is None:
        cached = app.extensions["herald.card_parts"] = lru_cache(maxsize=CACHE_SIZE)(_render_parts)
    return cached


def card_parts(post) -> CardParts:
    """The post-only parts of ``post``'s card, rendered for this request's language and time zone."""
    campaign = post.campaign
    key = CardPost(
        id=post.id,
        title=post.title,
        body=post.body or "",
        preview_path=post.preview_path,
        source_name=post.source_name or "",
        pinned=bool(post.pinned),
        is_cta=bool(post.is_cta),
        cta_deadline=post.cta_deadline,
        campaign_name=campaign.name if campaign is not None else None,
    )
    return _cache(current_app._get_current_object())(key, str(get_locale()), str(get_timezone()), request.script_root)


_VIEWER_MARKS = union_all(
    select(Share.post_id, Share.network).where(
        Share.user_id == bindparam("user_id"), Share.post_id.in_(bindparam("post_ids", expanding=True))
    ),
    select(PostLike.post_id, literal(None, String)).where(
        PostLike.user_id == bindparam("user_id"), PostLike.post_id.in_(bindparam("post_ids", expanding=True))
    ),
)


def viewer_marks(viewer, post_ids: list[int]) -> dict:
    """For the cards of ``post_ids``: the networks ``viewer`` shared each to, and the posts they like.

    One query for a page of cards (shares and likes in one UNION ALL).
    """
    shared: dict[int, set[str]] = {}
    liked: set[int] = set()
    if post_ids:
        params = {"user_id": viewer.id, "post_ids": list(post_ids)}
        for post_id, network in db.session.connection().execute(_VIEWER_MARKS, params):
            if network is None:
                liked.add(post_id)
            else:
                shared.setdefault(post_id, set()).add(network)
    return {"shared": shared, "liked": liked}


def card_caption(post, viewer) -> str:
    """The caption this viewer is offered on the card (their variant, placeholders filled, no link yet)."""
    template, _variant = pick_caption(post, viewer, "generic")
    return render_caption(template, post, viewer, None)


def clear_cache(app) -> None:
    """Forget every rendered card part (tests; a deploy that changes templates restarts workers anyway)."""
    cached = app.extensions.get("herald.card_parts")
    if cached is not None:
        cached.cache_clear()
