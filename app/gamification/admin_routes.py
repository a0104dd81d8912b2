"""Gamification for admins: point rules and caps, point adjustments, badges."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import audit
from app.accounts.models import User
from app.accounts.services import get_user_by_email
from app.extensions import db
from app.gamification import badges, bp, ledger, rules
from app.gamification.forms import AdjustForm, BadgeForm, RulesForm
from app.gamification.models import BadgeDefinition, PointEntry
from app.security import roles_required

admin_required = roles_required("admin")


@bp.route("/admin/points", methods=["GET", "POST"])
@admin_required
def admin_rules():
    """Point rules, caps, streak period and leaderboard switches."""
    current = rules.get_rules()
    form = RulesForm(data=RulesForm.data_of(current))
    if form.validate_on_submit():
        new = form.rules(current)
        rules.save_rules(new, current_user)
        audit.record("rules.update", current_user, None, rules=new)
        db.session.commit()
        flash(_("Rules saved. They apply to points earned from now on."), "success")
        return redirect(url_for("gamification.admin_rules"))
    return render_template("gamification/admin_rules.html", form=form, changed_at=rules.rules_changed_at()), (
        400 if form.errors else 200
    )


@bp.route("/admin/points/adjust", methods=["GET", "POST"])
@admin_required
def admin_adjust():
    """Add or remove points for one person, with a reason."""
    form = AdjustForm()
    if form.validate_on_submit():
        user = get_user_by_email(form.email.data or "")
        if user is None:
            form.email.errors = [_("Nobody in Herald has that e-mail address.")]
        else:
            key = form.key.data or secrets.token_hex(8)
            try:
                result = ledger.adjust(user, form.delta.data, form.note.data or "", current_user, f"adjust:{key}")
            except ledger.LedgerError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                if not result.duplicate:
                    flash(_("Points of %(name)s changed by %(delta)+d.", name=user.display_name, delta=form.delta.data),
                          "success")  # fmt: skip
                return redirect(url_for("gamification.admin_adjust"))
    recent = db.session.execute(
        select(PointEntry, User)
        .join(User, User.id == PointEntry.user_id)
        .where(PointEntry.reason == "adjustment")
        .order_by(PointEntry.id.desc())
        .limit(20)
    ).all()
    form.key.data = secrets.token_hex(8)  # a fresh key for each rendering: a double submit counts once
    return render_template("gamification/admin_adjust.html", form=form, recent=recent), (400 if form.errors else 200)


@bp.route("/admin/badges", methods=["GET", "POST"])
@admin_required
def admin_badges():
    """Badges: the built-in ones and the admin's own, from a small set of conditions."""
    form = BadgeForm()
    if form.validate_on_submit():
        try:
            badge = badges.create_custom(form.name.data or "", form.description.data or "", form.condition.data or "",
                                         form.threshold.data or 0)  # fmt: skip
        except ValueError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            audit.record("badge.create", current_user, badge)
            db.session.commit()
            flash(_("Badge “%(name)s” added. People who already qualify get it with their next action.",
                    name=badge.name), "success")  # fmt: skip
            return redirect(url_for("gamification.admin_badges"))
    badges.ensure_builtin()
    rows = db.session.scalars(select(BadgeDefinition).order_by(BadgeDefinition.sort, BadgeDefinition.id)).all()
    return render_template(
        "gamification/admin_badges.html", rows=rows, form=form, conditions=badges.CONDITIONS,
        display_name=badges.display_name,
    ), (400 if form.errors else 200)  # fmt: skip
