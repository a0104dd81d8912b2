"""Rewards pages: the catalog and redeeming for employees; the catalog admin and fulfilment queue for admins."""

from __future__ import annotations

import secrets

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import audit
from app.extensions import db
from app.forms import ConfirmForm, parse_local_datetime
from app.inputs import arg_int, form_ids, whole_number
from app.media import ImageError, delete_media, save_resized_image
from app.org.models import Department, Location
from app.security import login_required, roles_required
from rewards import bp, services
from rewards.models import REDEMPTION_STATUSES, REWARD_KINDS, Redemption, Reward, RewardVariant

admin_required = roles_required("admin")
MAX_REWARD_NUMBER = 1_000_000  # costs, stock, limits: far beyond real use, well inside the INTEGER columns


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
    from app.gamification.ledger import balance_of

    return render_template(
        "rewards/reward.html", reward=item, balance=balance_of(current_user.id)[0], key=secrets.token_urlsafe(16),
        saved=services.saved_address(current_user), available=services.in_stock(item),
        locations=db.session.scalars(select(Location).order_by(Location.name)).all(), error=None, values={},
    )  # fmt: skip


def _pickup_location() -> int | None:
    """The chosen pickup location's id (None when shipping); RewardError when it is not a location."""
    if request.form.get("delivery") != "pickup":
        return None
    location_id = request.form.get("pickup_location_id", type=whole_number)
    if location_id is None or db.session.get(Location, location_id) is None:
        raise services.RewardError(_("Choose a pickup location."))
    return location_id


@bp.route("/rewards/<int:reward_id>/redeem", methods=["POST"])
@login_required
def redeem(reward_id: int):
    """Redeem (the confirmation sheet posts here)."""
    item = _reward_or_404(reward_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    form = request.form
    try:
        redemption, created = services.redeem(
            current_user, item, form.get("key", ""), variant_id=form.get("variant_id", type=whole_number),
            address={f: form.get(f, "") for f in services.ADDRESS_FIELDS}, pickup_location_id=_pickup_location(),
        )  # fmt: skip
    except services.RewardError as exc:
        db.session.rollback()
        from app.gamification.ledger import balance_of

        return render_template(
            "rewards/reward.html", reward=item, balance=balance_of(current_user.id)[0], key=secrets.token_urlsafe(16),
            saved=services.saved_address(current_user), available=services.in_stock(item),
            locations=db.session.scalars(select(Location).order_by(Location.name)).all(), error=str(exc), values=form,
        ), 409  # fmt: skip
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
    if ConfirmForm().validate_on_submit():
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
        if not ConfirmForm().validate_on_submit():
            abort(400)
        code = services.reveal_gift_code(item, current_user)
        if code is None:
            abort(404)
        db.session.commit()  # the code is now spent for good (it never goes back to the pool)
    response = Response(render_template("rewards/reveal.html", redemption=item, code=code))
    response.headers["Cache-Control"] = "no-store"  # never in a cache, the service worker's included
    return response


# --- admin --------------------------------------------------------------------------------------------------


def _parse_variants(text: str) -> list[tuple[str, int]]:
    """``M / Navy: 10`` per line."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        label, _sep, stock = line.rpartition(":")
        if not label.strip():
            label, stock = line, "0"
        try:
            count = whole_number(stock)
        except ValueError:
            raise services.RewardError(_("Write each variant as “label: stock”, for example “M / Navy: 10”."))
        if not 0 <= count <= MAX_REWARD_NUMBER:
            raise services.RewardError(_("Stock must be from 0 to 1,000,000."))
        out.append((label.strip()[:80], count))
    return out


def _optional_int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return whole_number(value, 0, MAX_REWARD_NUMBER)
    except ValueError:
        raise services.RewardError(_("Use whole numbers from 0 to 1,000,000 for costs, limits and quantities."))


def _local_datetime(name: str):
    """A ``datetime-local`` field typed in the admin's time zone, as aware UTC (None when empty)."""
    from app.timeutil import to_utc

    try:
        return to_utc(parse_local_datetime(request.form.get(name, "")), current_user.timezone)
    except ValueError:
        raise services.RewardError(_("Enter dates between the years 2000 and 2100, as shown in the date picker."))


def _save_reward(item: Reward) -> None:
    form = request.form
    kind = form.get("kind", item.kind or "merch")
    if kind not in REWARD_KINDS:
        raise services.RewardError(_("Choose a kind of reward."))
    title = form.get("title", "").strip()
    if not title:
        raise services.RewardError(_("Give the reward a title."))
    cost = _optional_int("cost")
    if not cost:
        raise services.RewardError(_("Set a cost of at least 1 point."))
    item.kind, item.title, item.cost = kind, title[:120], cost
    item.description = form.get("description", "").strip()[:2000]
    item.brand = form.get("brand", "").strip()[:80]
    item.denomination = form.get("denomination", "").strip()[:40]
    item.quantity = _optional_int("quantity") if kind == "experience" else None
    item.limit_per_month = _optional_int("limit_per_month") or None
    item.limit_total = _optional_int("limit_total") or None
    item.requires_approval = form.get("requires_approval") == "1"
    item.active = form.get("active") == "1"
    item.low_stock_at = _optional_int("low_stock_at") or 0
    item.starts_at = _local_datetime("starts_at")
    item.ends_at = _local_datetime("ends_at")
    if item.starts_at and item.ends_at and item.ends_at <= item.starts_at:
        raise services.RewardError(_("The availability must end after it starts."))
    if kind == "merch":
        wanted = _parse_variants(form.get("variants", ""))
        if not wanted:
            raise services.RewardError(_("Add at least one variant with its stock."))
        by_label = {v.label: v for v in item.variants}
        item.variants = [
            by_label.pop(label, None) or RewardVariant(label=label, stock=stock) for label, stock in wanted
        ]
        for variant, (_label, stock) in zip(item.variants, wanted, strict=True):
            variant.stock = stock
    else:
        item.variants = []
    from rewards.models import RewardDepartment, RewardLocation

    # Only ids that exist: an unknown one would break the foreign key at commit.
    depts = db.session.scalars(select(Department.id).where(Department.id.in_(form_ids("department_ids")))).all()
    locs = db.session.scalars(select(Location.id).where(Location.id.in_(form_ids("location_ids")))).all()
    item.departments = [RewardDepartment(department_id=i) for i in depts]
    item.locations = [RewardLocation(location_id=i) for i in locs]
    item.audience_all = not (depts or locs)
    upload = request.files.get("image")
    if upload and upload.filename:
        paths = save_resized_image(upload.stream, "rewards", {"phone": 1080, "preview": 640}, 8 * 1024 * 1024)
        delete_media(item.image_path)
        delete_media(item.preview_path)
        item.image_path, item.preview_path = paths["phone"], paths["preview"]


def _form_context(item: Reward | None, error: str | None = None) -> dict:
    return {
        "reward": item, "error": error, "kinds": REWARD_KINDS,
        "departments": db.session.scalars(select(Department).order_by(Department.name)).all(),
        "locations": db.session.scalars(select(Location).order_by(Location.name)).all(),
        "codes_left": services.codes_left(item.id) if item and item.id else 0,
    }  # fmt: skip


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
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        item = Reward(kind=request.form.get("kind", "merch"), title="", cost=1)
        try:
            _save_reward(item)
            db.session.add(item)
            db.session.flush()
        except (services.RewardError, ImageError) as exc:
            db.session.rollback()
            return render_template("rewards/admin/form.html", **_form_context(None, str(exc)), values=request.form), 400
        audit.record("reward.create", current_user, item)
        db.session.commit()
        flash(_("“%(title)s” is in the catalog.", title=item.title), "success")
        return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
    return render_template("rewards/admin/form.html", **_form_context(None), values={})


@bp.route("/admin/rewards/<int:reward_id>", methods=["GET", "POST"])
@admin_required
def admin_edit_reward(reward_id: int):
    """Edit a reward; upload gift-card codes."""
    item = _reward_or_404(reward_id)
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        try:
            _save_reward(item)
            db.session.flush()
        except (services.RewardError, ImageError) as exc:
            db.session.rollback()
            item = _reward_or_404(reward_id)
            return render_template("rewards/admin/form.html", **_form_context(item, str(exc)), values=request.form), 400
        audit.record("reward.update", current_user, item)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
    return render_template("rewards/admin/form.html", **_form_context(item), values={})


@bp.route("/admin/rewards/<int:reward_id>/codes", methods=["POST"])
@admin_required
def admin_upload_codes(reward_id: int):
    """Upload gift-card codes from CSV: validated as a whole, nothing imported on error."""
    item = _reward_or_404(reward_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    upload = request.files.get("codes")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file of codes."), "error")
        return redirect(url_for("rewards.admin_edit_reward", reward_id=item.id))
    added, errors = services.import_codes(item, upload.read(5 * 1024 * 1024 + 1))
    if errors:
        db.session.rollback()
        return render_template("rewards/admin/form.html", **_form_context(item), values={}, code_errors=errors), 400
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
        reward_id=arg_int("reward"), location_id=arg_int("location"),
    )  # fmt: skip


@bp.route("/admin/redemptions/<int:redemption_id>", methods=["POST"])
@admin_required
def admin_update_redemption(redemption_id: int):
    """Approve, reject (with a reason), ship (carrier, tracking) or mark delivered."""
    item = db.session.get(Redemption, redemption_id)
    if item is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    action = request.form.get("action", "")
    if action not in ("approved", "rejected", "shipped", "delivered"):
        abort(400)
    try:
        form = request.form
        done = services.set_status(
            item, action, current_user, note=form.get("reason", ""), carrier=form.get("carrier", ""),
            tracking=form.get("tracking", ""),
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
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = form_ids("ids")
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
