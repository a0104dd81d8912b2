"""Admin screens for a person's data: download it, or erase it after a confirmation."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.models import User
from app.extensions import db
from app.privacy import bp, services
from app.privacy.forms import EraseForm
from app.privacy.routes import zip_download
from app.security import roles_required

admin_required = roles_required("admin")


def get_user_or_404(user_id: int) -> User:
    """The person with this id, or the 404 page."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/admin/users/<int:user_id>/data", methods=["POST"])
@admin_required
def admin_export(user_id: int):
    """Everything Herald holds about one person, as a ZIP (audited)."""
    user = get_user_or_404(user_id)
    body = services.export_archive(user, current_user)
    db.session.commit()
    return zip_download(body, user.id)


@bp.route("/admin/users/<int:user_id>/erase", methods=["GET", "POST"])
@admin_required
def admin_erase(user_id: int):
    """Erase a person's data after the admin typed their e-mail address; the totals stay."""
    user = get_user_or_404(user_id)
    form = EraseForm()
    if user.erased_at is None and form.validate_on_submit():
        if form.confirm_email.data != user.email:
            form.confirm_email.errors.append(_("That is not this person’s e-mail address."))
        else:
            try:
                services.erase(user, current_user)
            except services.PrivacyError as exc:
                form.confirm_email.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("The person’s data is erased. Their points and counts stay in the totals."), "success")
                return redirect(url_for("admin.edit_user", user_id=user.id))
    status = 400 if request.method == "POST" else 200
    return render_template("privacy/erase.html", user=user, form=form), status
