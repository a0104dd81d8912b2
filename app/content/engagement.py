"""Likes and comments inside Herald, and employee suggestions for the library."""

from __future__ import annotations

import re
from datetime import timedelta

import nh3
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app import audit, events
from app.accounts.models import User
from app.content.models import Comment, Post, PostLike, Suggestion
from app.content.services import ContentError, can_see, check_url
from app.extensions import db
from app.timeutil import utcnow

COMMENT_MAX = 2000
EDIT_WINDOW = timedelta(minutes=15)
_URL_RE = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def toggle_like(post: Post, user: User) -> bool:
    """Like or unlike; returns True when the post is now liked. The primary key makes double taps harmless."""
    if not can_see(user, post):
        raise ContentError(_("This post is no longer available."))
    removed = db.session.execute(
        delete(PostLike).where(PostLike.post_id == post.id, PostLike.user_id == user.id)
    ).rowcount
    if removed:
        db.session.execute(update(Post).where(Post.id == post.id).values(like_count=Post.like_count - removed))
        return False
    try:
        with db.session.begin_nested():
            db.session.add(PostLike(post_id=post.id, user_id=user.id))
    except IntegrityError:
        return True  # a concurrent tap liked it already
    db.session.execute(update(Post).where(Post.id == post.id).values(like_count=Post.like_count + 1))
    events.like.send(current_app._get_current_object(), post=post, user=user)
    return True


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ContentError(_("Write something first."))
    if len(body) > COMMENT_MAX:
        raise ContentError(_("Comments can be at most %(n)d characters long.", n=COMMENT_MAX))
    return body


def add_comment(post: Post, user: User, body: str) -> Comment:
    """Add a plain-text comment."""
    if not can_see(user, post):
        raise ContentError(_("This post is no longer available."))
    comment = Comment(post_id=post.id, user_id=user.id, body=_clean_body(body))
    db.session.add(comment)
    db.session.execute(update(Post).where(Post.id == post.id).values(comment_count=Post.comment_count + 1))
    db.session.flush()
    events.comment.send(current_app._get_current_object(), comment=comment, post=post, user=user)
    return comment


def can_edit(comment: Comment, user: User) -> bool:
    """Authors may edit their own comment for 15 minutes."""
    return comment.user_id == user.id and comment.removed_at is None and utcnow() - comment.created_at <= EDIT_WINDOW


def edit_comment(comment: Comment, user: User, body: str) -> None:
    """Change a comment within the edit window."""
    if not can_edit(comment, user):
        raise ContentError(_("Comments can be edited for 15 minutes after posting."))
    comment.body = _clean_body(body)
    comment.edited_at = utcnow()


def remove_comment(comment: Comment, actor: User) -> None:
    """An admin removes a comment (kept for the record, hidden from everyone)."""
    if comment.removed_at is not None:
        return
    comment.removed_at = utcnow()
    comment.removed_by_id = actor.id
    db.session.execute(update(Post).where(Post.id == comment.post_id).values(comment_count=Post.comment_count - 1))
    audit.record("comment.remove", actor, comment)


def comments_for(post: Post) -> list[Comment]:
    """Visible comments, oldest first."""
    return list(
        db.session.scalars(
            select(Comment)
            .where(Comment.post_id == post.id, Comment.removed_at.is_(None))
            .order_by(Comment.created_at, Comment.id)
        )
    )


def linkify(text: str) -> Markup:
    """Escape a comment and turn its web addresses into links (sanitized by nh3 as a last guard)."""
    out, last = [], 0
    for match in _URL_RE.finditer(text):
        out.append(escape(text[last : match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}" rel="nofollow noopener" target="_blank">{0}</a>').format(url))
        last = match.end()
    out.append(escape(text[last:]))
    html = "".join(str(part) for part in out).replace("\n", "<br>")
    cleaned = nh3.clean(html, tags={"a", "br"}, attributes={"a": {"href", "target"}}, link_rel="nofollow noopener")
    return Markup(cleaned)  # noqa: S704


def suggest(user: User, url: str, comment: str) -> Suggestion:
    """An employee suggests a link for the library."""
    url = check_url(url)
    if len(comment or "") > COMMENT_MAX:
        raise ContentError(_("The text can be at most %(n)d characters long.", n=COMMENT_MAX))
    pending = db.session.scalar(
        select(Suggestion).where(Suggestion.user_id == user.id, Suggestion.url == url, Suggestion.status == "pending")
    )
    if pending is not None:
        raise ContentError(_("You already suggested this link; an admin will look at it soon."))
    suggestion = Suggestion(user_id=user.id, url=url, comment=(comment or "").strip())
    db.session.add(suggestion)
    db.session.flush()
    return suggestion


def approve_suggestion(suggestion: Suggestion, post: Post, actor: User) -> bool:
    """Mark a suggestion approved as ``post``; exactly once, even when two admins click together."""
    done = db.session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status == "pending")
        .values(status="approved", post_id=post.id, reviewed_by_id=actor.id, reviewed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return False
    db.session.refresh(suggestion)
    audit.record("suggestion.approve", actor, suggestion, post_id=post.id)
    events.suggestion_approved.send(
        current_app._get_current_object(), suggestion=suggestion, post=post, user=suggestion.author
    )
    return True


def reject_suggestion(suggestion: Suggestion, actor: User, reason: str) -> bool:
    """Reject with a reason the employee sees; exactly once."""
    reason = (reason or "").strip()
    if not reason:
        raise ContentError(_("Tell the employee why, so they can suggest better next time."))
    done = db.session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status == "pending")
        .values(status="rejected", reason=reason[:COMMENT_MAX], reviewed_by_id=actor.id, reviewed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return False
    db.session.refresh(suggestion)
    audit.record("suggestion.reject", actor, suggestion)
    events.suggestion_rejected.send(current_app._get_current_object(), suggestion=suggestion, user=suggestion.author)
    return True
