"""Sharing: share records and share-intent URLs (the tracked links themselves: app.tracking.links)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app import events, rawsql
from app.accounts.models import User
from app.content.models import NETWORKS, CaptionDraft, Post, Share
from app.content.services import ContentError, can_see, pick_caption, render_caption
from app.extensions import db
from app.timeutil import utcnow
from app.tracking.links import get_or_create_link, link_url

MAX_CAPTION = 3000
X_LIMIT = 280
# X shortens every link to t.co and counts it as 23 characters, however long it is.
X_LINK_LENGTH = 23


def x_length(text: str, link: str) -> int:
    """How long X counts a post of ``text`` with ``link`` (in the text, or added after it).

    Characters are counted as code points: X's double weight for some scripts and emoji is left out.
    """
    if link and link in text:
        return len(text.replace(link, "x" * X_LINK_LENGTH))
    return len(text) + (1 if text else 0) + X_LINK_LENGTH


def check_length(network: str, text: str, link: str) -> None:
    """Raise ContentError when ``text`` is too long for ``network`` (only X has a limit a caption reaches)."""
    if network == "x" and (length := x_length(text, link)) > X_LIMIT:
        raise ContentError(
            _(
                "Too long for X: %(count)d of %(limit)d characters (a link counts as %(link)d). "
                "Shorten your caption, then share.",
                count=length,
                limit=X_LIMIT,
                link=X_LINK_LENGTH,
            )
        )


def _plain(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def keep_caption(post: Post, user: User, text: str | None, suggested: str | None) -> str | None:
    """Keep ``user``'s own wording of ``post``'s caption for next time; returns what is kept.

    Going back to the suggestion (or emptying the box) forgets the draft, so the card offers
    the suggested caption again, and an edited suggestion reaches the person once more.
    """
    text = _plain(text)[:MAX_CAPTION]
    if not text or text == _plain(suggested):
        db.session.execute(delete(CaptionDraft).where(CaptionDraft.user_id == user.id, CaptionDraft.post_id == post.id))
        return None
    now = utcnow()
    keep = rawsql.dialect_insert(db.session.get_bind().dialect)(CaptionDraft.__table__).values(
        user_id=user.id, post_id=post.id, text=text, updated_at=now
    )
    # One statement: a second tab keeping its wording at the same moment overwrites, never fails.
    db.session.execute(
        keep.on_conflict_do_update(index_elements=["user_id", "post_id"], set_={"text": text, "updated_at": now})
    )
    return text


def share_intent_url(network: str, text: str, link: str, title: str) -> str | None:
    """Where the browser goes to share on ``network`` (None: copy or the native share sheet)."""
    with_link = text if link in text else f"{text}\n{link}".strip()
    if network == "linkedin":
        return "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": link})
    if network == "x":
        if link in text and not text.endswith(link):  # a {link} in the middle stays where it was put
            return "https://x.com/intent/post?" + urlencode({"text": text})
        return "https://x.com/intent/post?" + urlencode({"text": text.replace(link, "").strip(), "url": link})
    if network == "facebook":
        return "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": link})
    if network == "whatsapp":
        return "https://wa.me/?" + urlencode({"text": with_link})
    if network == "email":
        return f"mailto:?subject={quote(title)}&body={quote(with_link)}"
    return None


@dataclass
class ShareResult:
    """What the phone needs to finish a share."""

    network: str
    link: str
    text: str
    intent_url: str | None
    first: bool
    share_count: int


def share_post(post: Post, user: User, network: str, edited_text: str | None = None) -> ShareResult:
    """Record a share and return the caption, tracked link and intent URL.

    The share record (and the ``share`` event that earns points) is written once
    per (post, employee, network); re-sharing works but only counts ``times`` up.
    """
    if network not in NETWORKS:
        raise ContentError(_("Choose where to share."))
    if not can_see(user, post):
        raise ContentError(_("This post is no longer available to share."))
    template, variant = pick_caption(post, user, network)
    link = get_or_create_link(post, user, network, variant)
    url = link_url(link.code)
    if edited_text is not None and edited_text.strip():
        template = edited_text.strip()[:MAX_CAPTION]
    text = render_caption(template, post, user, url)
    check_length(network, text, url)
    if "{link}" not in template and network in ("whatsapp", "email", "copy", "native"):
        text = f"{text}\n{url}" if network != "native" else text
    now = utcnow()
    first = False
    try:
        with db.session.begin_nested():
            db.session.add(
                Share(post_id=post.id, user_id=user.id, network=network, link_id=link.id, variant=variant,
                      created_at=now, last_shared_at=now)
            )  # fmt: skip
        first = True
    except IntegrityError:
        db.session.execute(
            update(Share)
            .where(Share.post_id == post.id, Share.user_id == user.id, Share.network == network)
            .values(times=Share.times + 1, last_shared_at=now)
            .execution_options(synchronize_session=False)
        )
    if first:
        db.session.execute(
            update(Post)
            .where(Post.id == post.id)
            .values(share_count=Post.share_count + 1)
            .execution_options(synchronize_session=False)
        )
        share_row = db.session.scalar(
            select(Share).where(Share.post_id == post.id, Share.user_id == user.id, Share.network == network)
        )
        events.share.send(current_app._get_current_object(), share=share_row, post=post, user=user, first=True)
    db.session.refresh(post, ["share_count"])
    return ShareResult(
        network=network,
        link=url,
        text=text,
        intent_url=share_intent_url(network, text, url, post.title),
        first=first,
        share_count=post.share_count,
    )
