"""Rewards pages: the catalog and redeeming for employees; the catalog admin and fulfilment queue for admins."""

from __future__ import annotations

import secrets

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.org.models import Location
from app.security import login_required
from rewards import bp, services
from rewards.forms import RedeemForm
from rewards.models import Redemption, Reward


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
    item = db.get_or_404(Reward, reward_id)
    if not services.can_see(current_user, item):
        abort(404)
    return _reward_page(item)


def _reward_page(item: Reward, form: RedeemForm | None = None, error: str | None = None) -> str:
    """The reward page with its redeem sheet (a fresh idempotency key each time it is shown).

    The address starts as the one saved last time (or the person's name), then as typed; the size
    starts as the one taken last time, when this reward has it in stock.
    """
    from app.gamification.ledger import balance_of

    saved = services.saved_address(current_user)
    if form is None:
        address = {"name": current_user.display_name, **(saved.address if saved and saved.address else {})}
        form = RedeemForm(formdata=None, data={**address, "variant_id": services.preferred_variant(current_user, item)})
    balance, available = balance_of(current_user.id)[0], services.in_stock(item)
    return render_template(
        "rewards/reward.html", reward=item, balance=balance, key=secrets.token_urlsafe(16),
        saved=saved, available=available, standing=services.CatalogItem.of(item, balance, available),
        locations=db.session.scalars(select(Location).order_by(Location.name)).all(), error=error, form=form,
    )  # fmt: skip


@bp.route("/rewards/<int:reward_id>/redeem", methods=["POST"])
@login_required
def redeem(reward_id: int):
    """Redeem (the confirmation sheet posts here)."""
    item = db.get_or_404(Reward, reward_id)
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
