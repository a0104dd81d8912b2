"""Rewards pages: the catalog and redeeming for employees; the catalog admin and fulfilment queue for admins."""

from __future__ import annotations

import secrets

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
from app.security import login_required, roles_required
from rewards import bp, services
from rewards.forms import BulkApproveForm, CodesForm, RedeemForm, RedemptionUpdateForm, RewardForm
from rewards.models import REDEMPTION_STATUSES, Redemption, Reward

admin_required = roles_required("admin")


def _reward_or_404(reward_id: int) -> Reward:
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        abort(404)
    return reward


def _own_redemption_or_404(redemption_id: int) -> Redemption:
    """Only the redeemer sees a redemption here (another employee's is a 404, not a 403: it does not exist for them)."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.user_id != current_user.id:
        abort(404)
    return redemption


@bp.route("/rewards")
@login_required
def catalog():
    """The Rewards tab: what my points can buy."""
    from app.gamification.ledger import balance_of

    return render_template("rewards/catalog.html", items=services.catalog(current_user),
                           balance=balance_of(current_user.id)[0])  # fmt: skip


@bp.route("/rewards/<int:reward_id>")
@login_required
def reward(reward_id: int):
    """A reward, with the two-tap redeem sheet."""
    item = _reward_or_404(reward_id)
    if not services.can_see(current_user, item):
        abort(404)
    return _reward_page(item)


def _reward_page(item: Reward, form: RedeemForm | None = None, error: str | None = None) -> str:
    """The reward page with its redeem sheet (a fresh idempotency key each time it is shown).

    The address starts as the one saved last time (or the person's name), then as typed.
    """
    from app.gamification.ledger import balance_of

    saved = services.saved_address(current_user)
    if form is None:
        address = {"name": current_user.display_name, **(saved.address if saved and saved.address else {})}
        form = RedeemForm(formdata=None, data=address)
    return render_template(
        "rewards/reward.html", reward=item, balance=balance_of(current_user.id)[0], key=secrets.token_urlsafe(16),
        saved=saved, available=services.in_stock(item),
        locations=db.session.scalars(select(Location).order_by(Location.name)).all(), error=error, form=form,
    )  # fmt: skip


@bp.route("/rewards/<int:reward_id>/redeem", methods=["POST"])
@login_required
def redeem(reward_id: int):
    """Redeem (the confirmation sheet posts here)."""
    item = _reward_or_404(reward_id)
    form = RedeemForm()
    try:
        location_id = None
        if form.pickup:
            location_id = form.pickup_location_id.data
            if location_id is None or db.session.get(Location, location_id) is None:
                raise services.RewardError(_("Choose a pickup location."))
        redemption, created = services.redeem(
            current_user, item, form.key.data or "", variant_id=form.variant_id.data,
            address=form.address(services.ADDRESS_FIELDS), pickup_location_id=location_id,
        )  # fmt: skip
    except services.RewardError as exc:
        db.session.rollback()
        return _reward_page(item, form, str(exc)), 409
    db.session.commit()
    if created:
        flash(_("Redeemed! We will keep you posted here."), "success")
    return redirect(url_for("rewards.redemption", redemption_id=redemption.id))


@bp.route("/rewards/mine")
@login_required
def mine():
    """My redemptions and their status."""
    rows = db.session.scalars(
        select(Redemption).where(Redemption.user_id == current_user.id).order_by(Redemption.id.desc())
    ).all()
    return render_template("rewards/mine.html", redemptions=rows)


@bp.route("/rewards/redemptions/<int:redemption_id>")
@login_required
def redemption(redemption_id: int):
    """One redemption's timeline."""
    item = _own_redemption_or_404(redemption_id)
    return render_template("rewards/redemption.html", redemption=item)


@bp.route("/rewards/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@login_required
def cancel(redemption_id: int):
    """Cancel while still requested; the points come back."""
    item = _own_redemption_or_404(redemption_id)
    if services.set_status(item, "cancelled", current_user):
        db.session.commit()
        flash(_("Cancelled. Your points are back."), "success")
    else:
        flash(_("It is already being processed and can no longer be cancelled."), "error")
    return redirect(url_for("rewards.redemption", redemption_id=item.id))


@bp.route("/rewards/redemptions/<int:redemption_id>/code", methods=["GET", "POST"])
@login_required
def reveal(redemption_id: int):
    """Show a gift-card code: asks to confirm first, then shows it to the redeemer only."""
    item = _own_redemption_or_404(redemption_id)
    code = None
    if request.method == "POST":
        code = services.reveal_gift_code(item, current_user)
        if code is None:
            abort(404)
        db.session.commit()  # the code is now spent for good (it never goes back to the pool)
    response = Response(render_template("rewards/reveal.html", redemption=item, code=code))
    response.headers["Cache-Control"] = "no-store"  # never in a cache, the service worker's included
    return response


# --- admin --------------------------------------------------------------------------------------------------


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
    item = _reward_or_404(reward_id)
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
        item = _reward_or_404(reward_id)
    return _form_page(form, item), (400 if form.is_submitted() else 200)


@bp.route("/admin/rewards/<int:reward_id>/codes", methods=["POST"])
@admin_required
def admin_upload_codes(reward_id: int):
    """Upload gift-card codes from CSV: validated as a whole, nothing imported on error."""
    item = _reward_or_404(reward_id)
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
