"""Rewards for admins: the catalog editor, gift-card codes, the fulfilment queue and the shipping export."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from app import audit
from app.extensions import db
from app.inputs import arg_int
from app.media import ImageError, delete_media, save_resized_image
from app.org.models import Department, Location
from app.security import roles_required
from rewards import bp, services
from rewards.forms import BulkApproveForm, CodesForm, RedemptionUpdateForm, RewardForm
from rewards.models import REDEMPTION_STATUSES, Redemption, Reward

admin_required = roles_required("admin")


def _reward_form(item: Reward | None) -> RewardForm:
    """The reward editor, filled from ``item`` (what was posted wins), its audience choices set."""
    form = RewardForm(data=RewardForm.data_of(item, current_user.timezone) if item else None)
    form.department_ids.choices = [
        SelectChoice(d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))
    ]
    form.location_ids.choices = [
        SelectChoice(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]
    return form


def _save_image(form: RewardForm, item: Reward) -> bool:
    """Store an uploaded image as a phone-sized copy and a preview; False (error beside the field) if unreadable."""
    upload = form.image.data
    if not upload or not getattr(upload, "filename", None):
        return True
    try:
        paths = save_resized_image(upload.stream, "rewards", {"phone": 1080, "preview": 640}, 8 * 1024 * 1024)
    except ImageError as exc:
        form.image.errors = [*form.image.errors, str(exc)]
        return False
    delete_media(item.image_path)
    delete_media(item.preview_path)
    item.image_path, item.preview_path = paths["phone"], paths["preview"]
    return True


def _form_page(form: RewardForm, item: Reward | None, **extra):
    return render_template(
        "rewards/admin/form.html", form=form, reward=item, codes_form=CodesForm(formdata=None),
        codes_left=services.codes_left(item.id) if item and item.id else 0, **extra,
    )  # fmt: skip


@bp.route("/admin/rewards")
@admin_required
def admin_rewards():
    """The catalog for admins, with low-stock and few-codes-left warnings."""
    rows = db.session.scalars(select(Reward).order_by(Reward.active.desc(), Reward.cost)).all()
    return render_template(
        "rewards/admin/list.html",
        rows=[(r, services.low_stock(r), services.codes_left(r.id) if r.kind == "gift_card" else None) for r in rows],
    )


@bp.route("/admin/rewards/new", methods=["GET", "POST"])
@admin_required
def admin_new_reward():
    """Add a reward."""
    form = _reward_form(None)
    if form.validate_on_submit():
        item = Reward(kind=form.kind.data, title="", cost=1)
        form.fill(item, current_user.timezone)
        if _save_image(form, item):
            db.session.add(item)
            db.session.flush()
            audit.record("reward.create", current_user, item)
            db.session.commit()
            flash(_("“%(title)s” is in the catalog.", title=item.title), "success")
            return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
        db.session.rollback()
    return _form_page(form, None), (400 if form.is_submitted() else 200)


@bp.route("/admin/rewards/<int:reward_id>", methods=["GET", "POST"])
@admin_required
def admin_edit_reward(reward_id: int):
    """Edit a reward; upload gift-card codes."""
    item = db.get_or_404(Reward, reward_id)
    form = _reward_form(item)
    if form.validate_on_submit():
        form.fill(item, current_user.timezone)
        if _save_image(form, item):
            db.session.flush()
            audit.record("reward.update", current_user, item)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
        db.session.rollback()
        item = db.get_or_404(Reward, reward_id)
    return _form_page(form, item), (400 if form.is_submitted() else 200)


@bp.route("/admin/rewards/<int:reward_id>/codes", methods=["POST"])
@admin_required
def admin_upload_codes(reward_id: int):
    """Upload gift-card codes from CSV: validated as a whole, nothing imported on error."""
    item = db.get_or_404(Reward, reward_id)
    upload = CodesForm().codes.data
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file of codes."), "error")
        return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
    added, errors = services.import_codes(item, upload.read(5 * 1024 * 1024 + 1))
    if errors:
        db.session.rollback()
        return _form_page(_reward_form(item), item, code_errors=errors), 400
    audit.record("reward.codes", current_user, item, added=added)
    db.session.commit()
    flash(_("%(n)d codes added; %(left)d left.", n=added, left=services.codes_left(item.id)), "success")
    return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))


def _queue_query():
    query = select(Redemption).order_by(Redemption.created_at, Redemption.id)
    status = request.args.get("status", "requested")
    if status in REDEMPTION_STATUSES:
        query = query.where(Redemption.status == status)
    reward_id = arg_int("reward")
    if reward_id:
        query = query.where(Redemption.reward_id == reward_id)
    location_id = arg_int("location")
    if location_id:
        from app.accounts.models import User

        query = query.where(Redemption.user_id.in_(select(User.id).where(User.location_id == location_id)))
    return query, status


@bp.route("/admin/redemptions")
@admin_required
def admin_queue():
    """Redemptions to approve, reject or ship, filterable by status, reward and location."""
    query, status = _queue_query()
    page = db.paginate(query, per_page=50, error_out=False)
    return render_template(
        "rewards/admin/queue.html", page=page, status=status, statuses=REDEMPTION_STATUSES,
        revealed=services.revealed_among([r.id for r in page.items]),
        rewards=db.session.scalars(select(Reward).order_by(Reward.title)).all(),
        locations=db.session.scalars(select(Location).order_by(Location.name)).all(),
        reward_id=arg_int("reward"), location_id=arg_int("location"), update_form=RedemptionUpdateForm(formdata=None),
    )  # fmt: skip


@bp.route("/admin/redemptions/<int:redemption_id>", methods=["POST"])
@admin_required
def admin_update_redemption(redemption_id: int):
    """Approve, reject (with a reason), ship (carrier, tracking) or mark delivered."""
    item = db.session.get(Redemption, redemption_id)
    if item is None:
        abort(404)
    form = RedemptionUpdateForm()
    if not form.validate():
        abort(400)  # only the queue's buttons post here, each with a known action
    try:
        done = services.set_status(
            item, form.action.data, current_user, note=form.reason.data or "", carrier=form.carrier.data or "",
            tracking=form.tracking.data or "",
        )  # fmt: skip
    except services.RewardError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(request.referrer or url_for("rewards.admin_queue"))
    db.session.commit()
    flash(_("Updated.") if done else _("Someone else already handled this one."), "success" if done else "info")
    return redirect(url_for("rewards.admin_queue", status=request.args.get("back", "requested")))


@bp.route("/admin/redemptions/bulk-approve", methods=["POST"])
@admin_required
def admin_bulk_approve():
    """Approve every selected requested redemption."""
    ids = BulkApproveForm().ids.data or []
    approved = 0
    for item in db.session.scalars(select(Redemption).where(Redemption.id.in_(ids))):
        approved += services.set_status(item, "approved", current_user)
    db.session.commit()
    flash(_("%(n)d approved.", n=approved), "success")
    return redirect(url_for("rewards.admin_queue"))


@bp.route("/admin/redemptions/export.csv")
@admin_required
def admin_export():
    """Shipping orders for the merch vendor: approved merch redemptions, as CSV."""
    query = (
        select(Redemption)
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.status == "approved", Reward.kind == "merch")
        .order_by(Redemption.id)
    )
    body = services.shipping_orders_csv(db.session.scalars(query).all())
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=herald-shipping-orders.csv"})  # fmt: skip
