"""Admin screens for the content library: posts, campaigns, employee suggestions, feeds."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from app import audit
from app.analytics.services import campaign_ab
from app.content import bp, engagement, services
from app.content.forms import CampaignForm, LinkForm, PostForm, RejectSuggestionForm, default_publish_at
from app.content.models import POST_STATUSES, Campaign, FeedItem, FeedSource, Post, Share, Suggestion
from app.extensions import db
from app.inputs import arg_int
from app.media import ImageError, delete_media, save_resized_image
from app.org.models import Department, Location
from app.security import roles_required
from app.timeutil import to_local, to_utc

admin_required = roles_required("admin")
IMAGE_WIDTHS = {"phone": 1080, "preview": 640}
IMAGE_MAX_BYTES = 8 * 1024 * 1024


def _get(model, obj_id: int):
    obj = db.session.get(model, obj_id)
    if obj is None:
        abort(404)
    return obj


def _choices(form: PostForm) -> None:
    form.campaign_id.choices = [SelectChoice(0, _("— none —"))] + [
        SelectChoice(c.id, c.name) for c in db.session.scalars(select(Campaign).order_by(Campaign.name))
    ]
    form.department_ids.choices = [
        SelectChoice(d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))
    ]
    form.location_ids.choices = [
        SelectChoice(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]


def _post_data(form: PostForm, source: str = "manual") -> services.PostData:
    tz = current_user.timezone
    return services.PostData(
        title=form.title.data or "",
        url=form.url.data or "",
        body=form.body.data or "",
        captions=form.caption_values(),
        hashtags=form.hashtags.data or "",
        language=form.language.data,
        campaign_id=form.campaign_id.data or None,
        department_ids=form.department_ids.data or [],
        location_ids=form.location_ids.data or [],
        action=form.action.data,
        publish_at=to_utc(form.publish_at.data, tz),
        expire_at=to_utc(form.expire_at.data, tz),
        pinned=form.pinned.data,
        is_cta=form.is_cta.data,
        cta_deadline=to_utc(form.cta_deadline.data, tz),
        points_multiplier=form.points_multiplier.data or 100,
        source=source,
    )


def _save_image(form: PostForm, post: Post) -> None:
    upload = form.image.data
    if upload and getattr(upload, "filename", ""):
        paths = save_resized_image(upload.stream, "posts", IMAGE_WIDTHS, IMAGE_MAX_BYTES)
        delete_media(post.image_path)
        delete_media(post.preview_path)
        post.image_path, post.preview_path = paths["phone"], paths["preview"]


@bp.route("/admin/posts")
@admin_required
def admin_posts():
    """The library: every post, filterable by status."""
    status = request.args.get("status", "")
    query = select(Post).order_by(Post.created_at.desc(), Post.id.desc())
    if status in POST_STATUSES:
        query = query.where(Post.status == status)
    page = db.paginate(query, per_page=25, error_out=False)
    counts = dict(db.session.execute(select(Post.status, func.count()).group_by(Post.status)).all())
    pending = db.session.scalar(select(func.count()).select_from(Suggestion).where(Suggestion.status == "pending"))
    queued = db.session.scalar(select(func.count()).select_from(FeedItem).where(FeedItem.status == "new"))
    return render_template(
        "content/admin/posts.html", page=page, status=status, counts=counts, statuses=POST_STATUSES,
        pending=pending, queued=queued,
    )  # fmt: skip


@bp.route("/admin/posts/new", methods=["GET", "POST"])
@admin_required
def admin_new_post():
    """Write a post (optionally from an employee suggestion or a feed item)."""
    suggestion = db.session.get(Suggestion, arg_int("suggestion", 0, values=request.values))
    item = db.session.get(FeedItem, arg_int("item", 0, values=request.values))
    form = PostForm()
    _choices(form)
    if request.method == "GET":
        form.publish_at.data = default_publish_at(current_user.timezone)
        if suggestion is not None:
            form.url.data = suggestion.url
            form.captions[0].text.data = suggestion.comment
        if item is not None:
            form.url.data, form.title.data, form.body.data = item.url, item.title, item.summary
        if request.args.get("url"):
            form.url.data = request.args["url"]
    error = None
    if form.validate_on_submit():
        source = "suggestion" if suggestion else ("rss" if item else "manual")

        def create():
            post = services.create_post(_post_data(form, source), current_user)
            if item is not None:
                post.source_name = item.source.title or post.source_name
            _save_image(form, post)
            if suggestion is not None and not engagement.approve_suggestion(suggestion, post, current_user):
                raise services.ContentError(_("Another admin has already handled this suggestion."))
            if item is not None:
                item.status, item.post_id = "used", post.id
            audit.record("post.create", current_user, post, status=post.status)
            return post

        post, error = _saved(create)
        if post is not None:
            return redirect(url_for("content.admin_posts"))
    return render_template(
        "content/admin/post_form.html", form=form, post=None, error=error, suggestion=suggestion, item=item,
    ), (400 if request.method == "POST" else 200)  # fmt: skip


def _saved(write) -> tuple[Post | None, str | None]:
    """Run ``write()`` (it returns the post), commit and say so; or roll back and return the error to show."""
    try:
        post = write()
    except (services.ContentError, ImageError) as exc:
        db.session.rollback()
        return None, str(exc)
    db.session.commit()
    flash(_("“%(title)s” is saved (%(status)s).", title=post.title, status=_status_label(post.status)), "success")
    return post, None


def _status_label(status: str) -> str:
    return {
        "draft": _("draft"),
        "scheduled": _("scheduled"),
        "published": _("published"),
        "expired": _("expired"),
    }[status]


@bp.route("/admin/posts/<int:post_id>", methods=["GET", "POST"])
@admin_required
def admin_edit_post(post_id: int):
    """Edit a post and see how it performs."""
    post = _get(Post, post_id)
    tz = current_user.timezone
    form = PostForm(obj=post if request.method == "GET" else None)
    _choices(form)
    if request.method == "GET":
        form.campaign_id.data = post.campaign_id or 0
        form.department_ids.data = [d.department_id for d in post.departments]
        form.location_ids.data = [loc.location_id for loc in post.locations]
        form.action.data = {"published": "publish", "expired": "publish"}.get(post.status, post.status)
        form.publish_at.data = to_local(post.publish_at, tz) or default_publish_at(tz)
        form.expire_at.data = to_local(post.expire_at, tz)
        form.cta_deadline.data = to_local(post.cta_deadline, tz)
    error = None
    if form.validate_on_submit():

        def update():
            services.update_post(post, _post_data(form, post.source))
            _save_image(form, post)
            audit.record("post.update", current_user, post, status=post.status)
            return post

        saved, error = _saved(update)
        if saved is not None:
            return redirect(url_for("content.admin_edit_post", post_id=post.id))
    stats = db.session.execute(
        select(func.count(Share.id), func.count(func.distinct(Share.user_id))).where(Share.post_id == post.id)
    ).one()
    return render_template(
        "content/admin/post_form.html", form=form, post=post, error=error, stats=stats,
    ), (400 if request.method == "POST" else 200)  # fmt: skip


@bp.route("/admin/posts/<int:post_id>/delete", methods=["POST"])
@admin_required
def admin_delete_post(post_id: int):
    """Delete a post that nobody has shared; shared posts can only expire (their links stay alive)."""
    post = _get(Post, post_id)
    if post.share_count:
        flash(_("People have shared this post; let it expire instead, so their links keep working."), "error")
        return redirect(url_for("content.admin_edit_post", post_id=post.id))
    delete_media(post.image_path)
    delete_media(post.preview_path)
    audit.record("post.delete", current_user, post, title=post.title)
    db.session.delete(post)
    db.session.commit()
    flash(_("The post is deleted."), "success")
    return redirect(url_for("content.admin_posts"))


@bp.route("/admin/posts/preview", methods=["POST"])
@admin_required
def admin_preview():
    """Fetch a link's Open Graph preview to fill the post form (htmx)."""
    from app.fetch import FetchError, preview

    url = (LinkForm().url.data or "").strip()
    try:
        services.check_url(url)
        found = preview(url)
    except (services.ContentError, FetchError) as exc:
        return render_template("content/admin/_preview.html", error=str(exc)), 422
    return render_template("content/admin/_preview.html", preview=found)


def campaign_progress(campaign: Campaign) -> dict:
    """Shares and unique clicks so far, and the share of the goal reached (0-100)."""
    shares = db.session.scalar(
        select(func.count(Share.id)).join(Post, Post.id == Share.post_id).where(Post.campaign_id == campaign.id)
    )
    clicks = db.session.scalar(
        select(func.coalesce(func.sum(Post.click_count), 0)).where(Post.campaign_id == campaign.id)
    )
    value = shares if campaign.goal_metric == "shares" else clicks
    percent = min(100, round(100 * value / campaign.goal_target)) if campaign.goal_target else 0
    return {"shares": shares, "clicks": clicks, "value": value, "percent": percent}


@bp.route("/admin/campaigns", methods=["GET", "POST"])
@admin_required
def admin_campaigns():
    """Campaigns with their progress; create one from a template."""
    form = CampaignForm()
    error = None
    if form.validate_on_submit():
        try:
            campaign = services.create_campaign(
                form.name.data, form.kind.data, form.goal_metric.data, form.goal_target.data or 0,
                to_utc(form.ends_at.data, current_user.timezone), form.description.data or "",
                points_multiplier=form.points_multiplier.data or 100,
            )  # fmt: skip
        except services.ContentError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            audit.record("campaign.create", current_user, campaign)
            db.session.commit()
            flash(_("Campaign “%(name)s” is created. Add posts to it from the post editor.", name=campaign.name),
                  "success")  # fmt: skip
            return redirect(url_for("content.admin_campaign", campaign_id=campaign.id))
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc())).all()
    return render_template(
        "content/admin/campaigns.html", form=form, error=error,
        campaigns=[(c, campaign_progress(c)) for c in campaigns],
    ), (400 if request.method == "POST" else 200)  # fmt: skip


@bp.route("/admin/campaigns/<int:campaign_id>")
@admin_required
def admin_campaign(campaign_id: int):
    """A campaign: goal progress, its posts, and the A/B comparison for caption tests."""
    campaign = _get(Campaign, campaign_id)
    posts = db.session.scalars(select(Post).where(Post.campaign_id == campaign.id).order_by(Post.created_at)).all()
    return render_template(
        "content/admin/campaign.html", campaign=campaign, progress=campaign_progress(campaign), posts=posts,
        ab=campaign_ab(campaign) if campaign.kind == "ab_test" else None,
    )  # fmt: skip


@bp.route("/admin/suggestions")
@admin_required
def admin_suggestions():
    """Employee suggestions waiting for a decision (and the latest decided ones)."""
    pending = db.session.scalars(
        select(Suggestion).where(Suggestion.status == "pending").order_by(Suggestion.created_at)
    ).all()
    decided = db.session.scalars(
        select(Suggestion).where(Suggestion.status != "pending").order_by(Suggestion.reviewed_at.desc()).limit(20)
    ).all()
    return render_template("content/admin/suggestions.html", pending=pending, decided=decided)


@bp.route("/admin/suggestions/<int:suggestion_id>/reject", methods=["POST"])
@admin_required
def admin_reject_suggestion(suggestion_id: int):
    """Reject a suggestion with a reason the employee sees."""
    suggestion = _get(Suggestion, suggestion_id)
    try:
        done = engagement.reject_suggestion(suggestion, current_user, RejectSuggestionForm().reason.data or "")
    except services.ContentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Rejected; the employee sees your reason.") if done else _("Already handled."), "info")
    return redirect(url_for("content.admin_suggestions"))


@bp.route("/admin/feeds", methods=["GET", "POST"])
@admin_required
def admin_feeds():
    """RSS and Atom sources, and what they found for the library."""
    from app.content import feeds

    error = None
    form = LinkForm()
    if form.is_submitted():
        try:
            source = feeds.add_source((form.url.data or "").strip())
        except (feeds.FeedError, services.ContentError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            audit.record("feed.add", current_user, source)
            db.session.commit()
            if source.last_error:
                flash(_("The feed is added, but reading it failed: %(error)s", error=source.last_error), "error")
            else:
                flash(_("The feed is added and read."), "success")
            return redirect(url_for("content.admin_feeds"))
    sources = db.session.scalars(select(FeedSource).order_by(FeedSource.created_at)).all()
    items = db.session.scalars(
        select(FeedItem).where(FeedItem.status == "new").order_by(FeedItem.published_at.desc(), FeedItem.id.desc())
        .limit(100)
    ).all()  # fmt: skip
    return render_template(
        "content/admin/feeds.html", sources=sources, items=items, error=error,
        poll_minutes=current_app.config["FEED_POLL_MINUTES"],
    ), (400 if error else 200)  # fmt: skip


@bp.route("/admin/feeds/<int:source_id>/poll", methods=["POST"])
@admin_required
def admin_poll_feed(source_id: int):
    """Read a feed now."""
    from app.content import feeds

    source = _get(FeedSource, source_id)
    result = feeds.poll_source(source)
    db.session.commit()
    if result.error:
        flash(_("Reading the feed failed: %(error)s", error=result.error), "error")
    else:
        flash(ngettext("%(num)d new item found.", "%(num)d new items found.", result.new), "success")
    return redirect(url_for("content.admin_feeds"))


@bp.route("/admin/feeds/items/<int:item_id>/dismiss", methods=["POST"])
@admin_required
def admin_dismiss_item(item_id: int):
    """Dismiss a suggested feed item."""
    item = _get(FeedItem, item_id)
    if item.status == "new":
        item.status = "dismissed"
        db.session.commit()
    return redirect(url_for("content.admin_feeds"))
