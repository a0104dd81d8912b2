"""Employee pages: a post, sharing, likes and comments, suggestions, my activity; the redirect's 404."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select

from app.content import bp, cards, engagement, services, sharing
from app.content.forms import CaptionDraftForm, CommentForm, ShareForm, SuggestForm
from app.content.models import Comment, Post, Share, Suggestion
from app.content.networks import network_label
from app.extensions import db, htmx
from app.security import login_required, roles_required
from app.tracking.models import TrackedLink


def visible_post_or_404(post_id: int) -> Post:
    """A post the current user may see, or the 404 page."""
    post = db.session.get(Post, post_id)
    if post is None or not services.can_see(current_user, post):
        abort(404)
    return post


def card_context(posts) -> dict:
    """What the card template needs about the viewer for a list of posts (one query)."""
    return cards.viewer_marks(current_user, [p.id for p in posts])


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.route("/posts/<int:post_id>")
@login_required
def post(post_id: int):
    """One post with its comments; ``?share=1`` (a call to action's push) opens its share buttons."""
    item = visible_post_or_404(post_id)
    return render_template(
        "content/post.html",
        post=item,
        comments=engagement.comments_for(item),
        open_share=request.args.get("share") == "1",
        **card_context([item]),
    )


@bp.route("/posts/<int:post_id>/card")
@login_required
def card(post_id: int):
    """The card partial (htmx refreshes it after a share)."""
    item = visible_post_or_404(post_id)
    return render_template("content/_card.html", post=item, **card_context([item]))


@bp.route("/posts/<int:post_id>/share", methods=["POST"])
@login_required
def share(post_id: int):
    """Record a share; answer JSON for the share script, or go straight to the network without it."""
    item = db.session.get(Post, post_id)
    if item is None:
        abort(404)
    form = ShareForm()
    try:
        result = sharing.share_post(item, current_user, form.network.data or "", form.edited_caption())
    except services.ContentError as exc:
        db.session.rollback()
        if wants_json():
            return jsonify(error=str(exc)), 409
        flash(str(exc), "error")
        return redirect(url_for("main.feed"))
    if form.caption.data is not None:
        sharing.keep_caption(item, current_user, form.caption.data, form.original.data)
    db.session.commit()
    payload = {
        "network": result.network,
        "link": result.link,
        "text": result.text,
        "intent_url": result.intent_url,
        "first": result.first,
        "share_count": result.share_count,
        "share_count_label": ngettext("%(num)d share", "%(num)d shares", result.share_count),
        "message": _("Shared. Every click on your link counts for you.")
        if result.first
        else _("Shared again. Points count once per network."),
    }
    if wants_json():
        return jsonify(payload)
    if result.intent_url:
        return redirect(result.intent_url, code=303)
    return render_template("content/share_done.html", post=item, result=result)


@bp.route("/posts/<int:post_id>/caption", methods=["POST"])
@login_required
def keep_caption(post_id: int):
    """Keep my wording of a post's caption for next time (the share script sends it as I type)."""
    item = visible_post_or_404(post_id)
    form = CaptionDraftForm()
    kept = sharing.keep_caption(item, current_user, form.caption.data, form.original.data)
    db.session.commit()
    message = _("Your caption is kept for next time.") if kept else _("The suggested caption is back.")
    if wants_json():
        return jsonify(kept=kept is not None, message=message)
    flash(message, "success")
    return redirect(url_for("content.post", post_id=item.id))


@bp.route("/posts/<int:post_id>/like", methods=["POST"])
@login_required
def like(post_id: int):
    """Like or unlike (htmx swaps the button)."""
    item = visible_post_or_404(post_id)
    liked = engagement.toggle_like(item, current_user)
    db.session.commit()
    db.session.refresh(item)
    if htmx:
        return render_template("content/_like.html", post=item, liked=liked)
    return redirect(url_for("content.post", post_id=item.id))


@bp.route("/posts/<int:post_id>/comments", methods=["POST"])
@login_required
def add_comment(post_id: int):
    """Add a comment."""
    item = visible_post_or_404(post_id)
    try:
        engagement.add_comment(item, current_user, CommentForm().body.data or "")
    except services.ContentError as exc:
        db.session.rollback()
        if htmx:
            return render_template(
                "content/_comments.html", post=item, comments=engagement.comments_for(item), error=str(exc)
            ), 400
        flash(str(exc), "error")
        return redirect(url_for("content.post", post_id=item.id))
    db.session.commit()
    if htmx:
        return render_template("content/_comments.html", post=item, comments=engagement.comments_for(item))
    return redirect(url_for("content.post", post_id=item.id) + "#comments")


def _comment_or_404(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.removed_at is not None:
        abort(404)
    return comment


@bp.route("/comments/<int:comment_id>/edit", methods=["POST"])
@login_required
def edit_comment(comment_id: int):
    """The author changes their comment (15 minutes)."""
    comment = _comment_or_404(comment_id)
    if comment.user_id != current_user.id:
        abort(404)  # someone else's comment: not something this person can edit
    try:
        engagement.edit_comment(comment, current_user, CommentForm().body.data or "")
    except services.ContentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
    return redirect(url_for("content.post", post_id=comment.post_id) + "#comments")


@bp.route("/comments/<int:comment_id>/remove", methods=["POST"])
@roles_required("admin")
def remove_comment(comment_id: int):
    """An admin removes a comment."""
    comment = _comment_or_404(comment_id)
    engagement.remove_comment(comment, current_user)
    db.session.commit()
    flash(_("The comment is removed."), "success")
    return redirect(url_for("content.post", post_id=comment.post_id) + "#comments")


@bp.route("/suggest", methods=["GET", "POST"])
@login_required
def suggest():
    """Suggest a link for the library; see what happened to my earlier suggestions."""
    form = SuggestForm()
    if form.is_submitted():
        try:
            engagement.suggest(current_user, form.url.data or "", form.comment.data or "")
        except services.ContentError as exc:
            db.session.rollback()
            form.url.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("Thanks! An admin will review your suggestion."), "success")
            return redirect(url_for("content.suggest"))
    mine = db.session.scalars(
        select(Suggestion).where(Suggestion.user_id == current_user.id).order_by(Suggestion.created_at.desc())
    ).all()
    return render_template("content/suggest.html", suggestions=mine, form=form), (400 if form.url.errors else 200)


@bp.route("/me/activity")
@login_required
def activity():
    """My shares and the clicks they earned."""
    rows = db.session.execute(
        select(Share, Post, TrackedLink)
        .join(Post, Post.id == Share.post_id)
        .join(TrackedLink, TrackedLink.id == Share.link_id)
        .where(Share.user_id == current_user.id)
        .order_by(Share.last_shared_at.desc())
        .limit(100)
    ).all()
    totals = db.session.execute(
        select(func.count(Share.id), func.coalesce(func.sum(TrackedLink.click_count), 0))
        .join(TrackedLink, TrackedLink.id == Share.link_id)
        .where(Share.user_id == current_user.id)
    ).one()
    return render_template("content/activity.html", rows=rows, total_shares=totals[0], total_clicks=totals[1])


bp.add_app_template_filter(network_label, "network_label")


@bp.app_template_filter("format_local")
def format_local(value) -> str:
    """A timestamp in the viewer's time zone and language."""
    from flask_babel import format_datetime

    return format_datetime(value, "short") if value else ""


@bp.app_template_filter("local_input")
def local_input(value) -> str:
    """An aware timestamp as the viewer's local ``datetime-local`` input value."""
    from flask_login import current_user as viewer

    from app.timeutil import to_local

    return to_local(value, viewer.timezone).strftime("%Y-%m-%dT%H:%M") if value else ""


bp.add_app_template_global(cards.card_views, "card_views")
bp.add_app_template_global(engagement.linkify, "linkify")
bp.add_app_template_global(engagement.can_edit, "can_edit")
