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
from typing import NamedTuple

from flask import current_app, get_template_attribute, request, url_for
from flask_babel import get_locale, get_timezone
from markupsafe import Markup
from sqlalchemy import String, Text, bindparam, literal, select, union_all

from app import request_translations
from app.content.models import CaptionDraft, PostLike, Share
from app.content.services import pick_caption, render_caption
from app.extensions import db


def gettext(string: str, translations=None, **variables) -> str:
    """``gettext`` from this request's translations (Flask-Babel looks them up anew on every call)."""
    text = (translations or request_translations()).ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, translations=None) -> str:
    """``ngettext`` from this request's translations, with ``num`` filled in."""
    return (translations or request_translations()).ungettext(singular, plural, num) % {"num": num}


CACHE_SIZE = 4096  # cards per worker process (a few MB)
PARTS_TEMPLATE = "content/_card_parts.html"


class CardPost(NamedTuple):
    """The post fields a card's cached parts show (nothing that changes with clicks, likes or comments).

    A named tuple: cheap to build and hash on every card of every page."""

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
    share_summary: str
    share_url: str
    caption_url: str
    share_copied: str
    share_label: Markup
    share_buttons: Markup
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
        share_summary=gettext("Share"),
        share_url=url_for("content.share", post_id=post.id),
        caption_url=url_for("content.keep_caption", post_id=post.id),
        share_copied=gettext("Copied: paste it wherever you share."),
        share_label=macro("share_label")(post),
        share_buttons=macro("share_buttons")(),
        like_label=gettext("Like"),
        post_url=url_for("content.post", post_id=post.id),
        like_url=url_for("content.like", post_id=post.id),
    )


def forget(app) -> None:
    """Drop the rendered card parts of ``app`` (they are keyed by every field they show: only tests need this)."""
    app.extensions.pop("herald.card_parts", None)


def _cache(app):
    cached = app.extensions.get("herald.card_parts")
    if cached is None:
        cached = app.extensions["herald.card_parts"] = lru_cache(maxsize=CACHE_SIZE)(_render_parts)
    return cached


def render_setting() -> tuple[str, str, str]:
    """What besides the post the cached parts depend on: language, time zone, script root."""
    return str(get_locale()), str(get_timezone()), request.script_root


def card_parts(post, setting: tuple[str, str, str] | None = None) -> CardParts:
    """The post-only parts of ``post``'s card, rendered for this request's language and time zone."""
    campaign = post.campaign
    key = CardPost(
        post.id,
        post.title,
        post.body or "",
        post.preview_path,
        post.source_name or "",
        bool(post.pinned),
        bool(post.is_cta),
        post.cta_deadline,
        campaign.name if campaign is not None else None,
    )
    return _cache(current_app._get_current_object())(key, *(setting or render_setting()))


_VIEWER_MARKS = union_all(
    select(Share.post_id, Share.network, literal(None, Text)).where(
        Share.user_id == bindparam("user_id"), Share.post_id.in_(bindparam("post_ids", expanding=True))
    ),
    select(PostLike.post_id, literal(None, String), literal(None, Text)).where(
        PostLike.user_id == bindparam("user_id"), PostLike.post_id.in_(bindparam("post_ids", expanding=True))
    ),
    select(CaptionDraft.post_id, literal(None, String), CaptionDraft.text).where(
        CaptionDraft.user_id == bindparam("user_id"), CaptionDraft.post_id.in_(bindparam("post_ids", expanding=True))
    ),
)


def viewer_marks(viewer, post_ids: list[int]) -> dict:
    """For the cards of ``post_ids``: the networks ``viewer`` shared each to, the posts they like, their captions.

    One query for a page of cards (shares, likes and kept captions in one UNION ALL).
    """
    shared: dict[int, set[str]] = {}
    liked: set[int] = set()
    drafts: dict[int, str] = {}
    if post_ids:
        params = {"user_id": viewer.id, "post_ids": list(post_ids)}
        for post_id, network, draft in db.session.connection().execute(_VIEWER_MARKS, params):
            if draft is not None:
                drafts[post_id] = draft
            elif network is None:
                liked.add(post_id)
            else:
                shared.setdefault(post_id, set()).add(network)
    return {"shared": shared, "liked": liked, "drafts": drafts}


def card_caption(post, viewer) -> str:
    """The caption suggested to this viewer on the card (their variant, placeholders filled).

    ``{link}`` stays visible, so the editor shows where the tracked link will go.
    """
    template, _variant = pick_caption(post, viewer, "generic")
    return render_caption(template, post, viewer, "{link}")


@dataclass(frozen=True, slots=True)
class CardView:
    """Everything one card shows one viewer: the cached parts plus what is theirs or changes often."""

    post: object
    parts: CardParts
    caption: str  # what the caption box holds: the viewer's kept wording, or the suggestion
    suggested: str
    shares_label: str
    clicks_label: str
    comments_label: str
    shared_note: str | None
    liked: bool


def card_views(posts, viewer, shared: dict[int, set[str]], liked: set[int], drafts=None) -> list[CardView]:
    """The cards for ``posts`` as ``viewer`` sees them (``drafts``: their kept captions, unless posts carry them).

    Built in Python rather than template expressions: a template call costs several times
    a plain function call, and a feed page makes about a hundred of them for ten cards.
    """
    from app.content.networks import network_label

    t = request_translations()  # once per page, not once per label
    viewer = viewer._get_current_object() if hasattr(viewer, "_get_current_object") else viewer
    views = []
    setting = render_setting()
    drafts = drafts or {}  # the feed's posts carry their draft; a template may pass an undefined value
    for post in posts:
        mine = shared.get(post.id)
        note = None
        if mine:
            networks = ", ".join(network_label(n) for n in sorted(mine))
            note = gettext("Your shares: %(networks)s.", t, networks=networks)
        suggested = card_caption(post, viewer)
        views.append(
            CardView(
                post=post,
                parts=card_parts(post, setting),
                caption=getattr(post, "draft", None) or drafts.get(post.id) or suggested,
                suggested=suggested,
                shares_label=ngettext("%(num)d share", "%(num)d shares", post.share_count, t),
                clicks_label=ngettext("%(num)d click", "%(num)d clicks", post.click_count, t),
                comments_label=ngettext("%(num)d comment", "%(num)d comments", post.comment_count, t),
                shared_note=note,
                liked=post.id in liked,
            )
        )
    return views
