"""Notification pages: the centre (bell), opening one, preferences and devices, subscribing, calls to action."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from app.extensions import db, htmx
from app.forms import ConfirmForm
from app.inputs import arg_int
from app.notifications import bp, services, vapid
from app.notifications.forms import CATEGORY_LABELS, CtaForm, RemoveDevicesForm, SettingsForm, SubscriptionForm
from app.notifications.models import CATEGORIES, CallToAction, Notification
from app.org.models import Department, Location
from app.security import login_required, roles_required
from app.timeutil import to_utc

PAGE = 30


@bp.route("/notifications")
@login_required
def centre():
    """The notification centre: newest first, with links; mark one or all read."""
    before = arg_int("before", low=1)
    items = services.recent(current_user.id, PAGE + 1, before)
    more = len(items) > PAGE
    items = items[:PAGE]
    return render_template("notifications/centre.html", items=items, more=more, confirm=ConfirmForm(formdata=None))


@bp.route("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int):
    """Where a notification (or its push) leads: marked read and opened, then its page."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != current_user.id:
        abort(404)
    services.mark_read(current_user.id, note.id, opened=True)
    db.session.commit()
    target = note.url if note.url.startswith("/") and not note.url.startswith("//") else url_for("main.feed")
    return redirect(target)


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    """Mark one notification read."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.mark_read(current_user.id, notification_id)
    db.session.commit()
    if htmx:
        return render_template("notifications/_bell.html", unread=current_user.notifications_unread)
    return redirect(url_for("notifications.centre"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all():
    """Mark every notification read."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    n = services.mark_read(current_user.id)
    db.session.commit()
    flash(_("All caught up.") if n else _("Nothing unread."), "success")
    return redirect(url_for("notifications.centre"))


def _settings_form(formdata=True) -> SettingsForm:
    mine = services.settings_of(current_user.id)
    data = {name: getattr(mine, name) for name in CATEGORIES}
    data |= {"quiet_start": mine.quiet_start, "quiet_end": mine.quiet_end}
    return SettingsForm(data=data) if formdata else SettingsForm(formdata=None, data=data)


@bp.route("/me/notifications", methods=["GET", "POST"])
@login_required
def settings():
    """What to be notified about, quiet hours, and the devices that get pushes."""
    form = _settings_form()
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in CATEGORIES}
        values |= {"quiet_start": form.quiet_start.data, "quiet_end": form.quiet_end.data}
        services.save_settings(current_user.id, values)
        db.session.commit()
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("notifications.settings"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "notifications/settings.html", form=form, labels=CATEGORY_LABELS, devices=services.devices(current_user.id),
        confirm=ConfirmForm(formdata=None), remove=RemoveDevicesForm(formdata=None), public_key=vapid.public_key(),
    ), status  # fmt: skip


@bp.route("/push/subscribe", methods=["POST"])
@login_required
def subscribe():
    """Store this device's push subscription (sent again on every app start: subscriptions change)."""
    form = SubscriptionForm()
    if not form.validate_on_submit():
        return {"ok": False, "errors": form.errors}, 400
    values = (current_user, form.endpoint.data, form.p256dh.data, form.auth.data, form.device.data or "")
    if form.refresh.data:
        kept = services.refresh(*values, previous=form.previous.data or "")
        db.session.commit()
        if kept is None:  # removed on the server: static/js/push.js unsubscribes the browser too
            return {"ok": False, "removed": True}
        return {"ok": True}
    services.subscribe(*values)
    db.session.commit()
    return {"ok": True}


@bp.route("/push/unsubscribe", methods=["POST"])
@login_required
def unsubscribe():
    """Stop pushes to this device (its endpoint) or, without one, to every device of mine."""
    form = RemoveDevicesForm()
    if not form.validate_on_submit():
        abort(400)
    n = services.remove_device(current_user.id, endpoint=form.endpoint.data or None)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return {"ok": True, "removed": n}
    flash(_("Notifications are off on every device.") if not form.endpoint.data else _("This device is removed."),
          "success")  # fmt: skip
    return redirect(url_for("notifications.settings"))


@bp.route("/push/devices/<int:subscription_id>/delete", methods=["POST"])
@login_required
def remove_device(subscription_id: int):
    """Remove one device from the list."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not services.remove_device(current_user.id, subscription_id=subscription_id):
        abort(404)
    db.session.commit()
    flash(_("The device is removed."), "success")
    return redirect(url_for("notifications.settings"))


# --- calls to action (admins) ----------------------------------------------------------------------

admin_required = roles_required("admin")


def _cta_form(formdata=True) -> CtaForm:
    form = CtaForm() if formdata else CtaForm(formdata=None)
    form.department_ids.choices = [
        SelectChoice(d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))
    ]
    form.location_ids.choices = [
        SelectChoice(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]
    return form


@bp.route("/admin/posts/<int:post_id>/cta", methods=["GET", "POST"])
@admin_required
def admin_cta(post_id: int):
    """Send a published post as a call to action: audience, deadline, urgency, points multiplier."""
    from app.content.models import Post

    post = db.get_or_404(Post, post_id)
    form = _cta_form()
    if form.validate_on_submit():
        data = services.CtaData(
            department_ids=list(form.department_ids.data or []), location_ids=list(form.location_ids.data or []),
            deadline=to_utc(form.deadline.data, current_user.timezone), urgent=bool(form.urgent.data),
            message=form.message.data or "", multiplier=form.multiplier.data or 100,
        )  # fmt: skip
        try:
            cta = services.send_cta(post, current_user, data)
        except services.NotificationError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Call to action sent."), "success")
            return redirect(url_for("notifications.admin_cta_panel", cta_id=cta.id))
    ctas = db.session.scalars(select(CallToAction).where(CallToAction.post_id == post.id)
                              .order_by(CallToAction.created_at.desc())).all()  # fmt: skip
    status = 400 if form.is_submitted() else 200
    return render_template("notifications/admin_cta.html", post=post, form=form, ctas=ctas), status


@bp.route("/admin/cta/<int:cta_id>")
@admin_required
def admin_cta_panel(cta_id: int):
    """The live panel: sent, delivered, opened, acted (htmx refreshes the figures)."""
    cta = db.get_or_404(CallToAction, cta_id)
    stats = services.cta_stats(cta)
    if htmx:
        return render_template("notifications/_cta_stats.html", cta=cta, stats=stats)
    from app.content.models import Post

    return render_template("notifications/admin_cta_panel.html", cta=cta, stats=stats,
                           post=db.session.get(Post, cta.post_id))  # fmt: skip
