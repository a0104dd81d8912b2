"""Kudos pages: the company wall with the send form, the colleague picker, and the admin's settings and shout-outs."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.extensions import db, htmx
from app.inputs import arg_int
from app.security import login_required, roles_required
from rewards import bp, kudos
from rewards.forms import KudosForm, KudosSettingsForm, ShoutoutForm


def _send_context() -> dict:
    """What the send form needs: a fresh idempotency key and the sender's allowance."""
    settings = kudos.get_settings()
    remaining = kudos.remaining_allowance(current_user)
    return {
        "key": kudos.new_key(),
        "remaining": remaining,
        "max_points": min(settings["max_points_per_kudos"], remaining),
        "settings": settings,
        "max_message": kudos.MAX_MESSAGE,
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
    form = KudosForm()
    status = 200
    if form.is_submitted():
        try:
            recipient = kudos.find_recipient(form.recipient.data)
            points = kudos.parse_points(form.points.data)
            result = kudos.send(current_user, recipient, form.message.data or "", points, form.key.data or "")
        except kudos.KudosError as exc:
            db.session.rollback()
            form.show_error(exc)
            status = exc.status
        else:
            return _done(_sent_message(result), "rewards.kudos_wall")
    before = arg_int("before")
    items, next_before = kudos.wall(before)
    if htmx and before:
        return render_template("rewards/kudos_wall.html", items=items, next_before=next_before)
    return render_template(
        "rewards/kudos.html", items=items, next_before=next_before, form=form, **_send_context()
    ), status


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
    """Kudos settings (allowance, points per kudos, pair limit) and public shout-outs (two forms, one page)."""
    shout_form = ShoutoutForm()
    shouting = shout_form.is_submitted() and shout_form.form.data == "shoutout"
    settings = kudos.get_settings()
    settings_form = KudosSettingsForm(formdata=None, data=settings) if shouting else KudosSettingsForm(data=settings)
    status = 200
    if shouting:
        try:
            recipient = kudos.find_recipient(shout_form.recipient.data)
            points = kudos.parse_points(shout_form.points.data)
            kudos.shout_out(current_user, recipient, shout_form.message.data or "", points, shout_form.key.data or "")
        except kudos.KudosError as exc:
            db.session.rollback()
            shout_form.show_error(exc)
            status = exc.status
        else:
            return _done(_("Shout-out posted on the kudos wall."), "rewards.admin_kudos")
    elif settings_form.validate_on_submit():
        try:
            kudos.save_settings(settings_form.values(), current_user)
        except kudos.KudosError as exc:
            db.session.rollback()
            settings_form.form_errors.append(str(exc))
            status = exc.status
        else:
            return _done(_("Kudos settings saved. They apply from now on."), "rewards.admin_kudos")
    elif settings_form.is_submitted():
        status = 400  # the errors are beside their fields
    return render_template(
        "rewards/kudos_admin.html", changed_at=kudos.settings_changed_at(), settings_form=settings_form,
        shout_form=shout_form if shouting else ShoutoutForm(formdata=None), key=kudos.new_key(),
        max_message=kudos.MAX_MESSAGE, max_shoutout_points=kudos.MAX_SHOUTOUT_POINTS,
    ), status  # fmt: skip


def _done(message: str, endpoint: str):
    """Commit what the form did, say so, and show the page afresh."""
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(endpoint))


# The Me page includes ``rewards/_kudos_received.html``, which reads the list through this global.
bp.add_app_template_global(kudos.received_for, "kudos_received_for")
