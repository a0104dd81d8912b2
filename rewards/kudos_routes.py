"""Kudos pages: the company wall with the send form, the colleague picker, and the admin's settings and shout-outs."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.extensions import db
from app.forms import ConfirmForm
from app.inputs import arg_int, whole_number
from app.security import login_required, roles_required
from rewards import bp, kudos


def _send_context(error: kudos.KudosError | None = None) -> dict:
    """What the send form needs: a fresh idempotency key, the sender's allowance, what they typed."""
    settings = kudos.get_settings()
    remaining = kudos.remaining_allowance(current_user)
    return {
        "key": kudos.new_key(),
        "remaining": remaining,
        "max_points": min(settings["max_points_per_kudos"], remaining),
        "settings": settings,
        "max_message": kudos.MAX_MESSAGE,
        "error": error,
        "values": request.form if error else {},
    }


def _sent_message(result: kudos.KudosResult) -> str:
    name = result.kudos.recipient.display_name
    if result.kudos.points:
        return ngettext("Kudos and %(num)d point sent to %(name)s.", "Kudos and %(num)d points sent to %(name)s.",
                        result.kudos.points, name=name)  # fmt: skip
    return _("Kudos sent to %(name)s.", name=name)


@bp.route("/kudos", methods=["GET", "POST"])
@login_required
def kudos_wall():
    """The company kudos wall, newest first (htmx loads more), and the form to send kudos."""
    error = None
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        try:
            recipient = kudos.find_recipient(request.form.get("recipient", ""))
            points = kudos.parse_points(request.form.get("points"))
            result = kudos.send(current_user, recipient, request.form.get("message", ""), points,
                                request.form.get("key", ""))  # fmt: skip
        except kudos.KudosError as exc:
            db.session.rollback()
            error = exc
        else:
            db.session.commit()
            flash(_sent_message(result), "success")
            return redirect(url_for("rewards.kudos_wall"))
    before = arg_int("before")
    items, next_before = kudos.wall(before)
    if request.headers.get("HX-Request") and before:
        return render_template("rewards/kudos_wall.html", items=items, next_before=next_before)
    status = error.status if error else 200
    return render_template("rewards/kudos.html", items=items, next_before=next_before, **_send_context(error)), status


@bp.route("/kudos/people")
@login_required
def kudos_people():
    """Colleagues matching what was typed, as options for the recipient field (htmx fills its datalist)."""
    # htmx sends the field under its own name ("recipient"); ``q`` is the documented parameter.
    query = request.args.get("q", request.args.get("recipient", ""))
    people = kudos.search_people(query, current_user)
    return render_template("rewards/kudos_people.html", people=people)


@bp.route("/admin/kudos", methods=["GET", "POST"])
@roles_required("admin")
def admin_kudos():
    """Kudos settings (allowance, points per kudos, pair limit) and public shout-outs."""
    error = shout_error = None
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        try:
            if request.form.get("form") == "shoutout":
                recipient = kudos.find_recipient(request.form.get("recipient", ""))
                points = kudos.parse_points(request.form.get("points"))
                kudos.shout_out(current_user, recipient, request.form.get("message", ""), points,
                                request.form.get("key", ""))  # fmt: skip
                message = _("Shout-out posted on the kudos wall.")
            else:
                kudos.save_settings({name: _form_int(name) for name in kudos.SETTING_RANGES}, current_user)
                message = _("Kudos settings saved. They apply from now on.")
        except kudos.KudosError as exc:
            db.session.rollback()
            if request.form.get("form") == "shoutout":
                shout_error = exc
            else:
                error = exc
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("rewards.admin_kudos"))
    failed = error or shout_error
    return render_template(
        "rewards/kudos_admin.html", settings=kudos.get_settings(), changed_at=kudos.settings_changed_at(),
        error=error, shout_error=shout_error, key=kudos.new_key(), values=request.form if failed else {},
        max_message=kudos.MAX_MESSAGE, max_shoutout_points=kudos.MAX_SHOUTOUT_POINTS, ranges=kudos.SETTING_RANGES,
    ), (failed.status if failed else 200)  # fmt: skip


def _form_int(name: str) -> int | None:
    try:
        return whole_number(request.form.get(name, ""))
    except ValueError:
        return None


# The Me page includes ``rewards/_kudos_received.html``, which reads the list through this global.
bp.add_app_template_global(kudos.received_for, "kudos_received_for")
