"""Sign-in, sign-out, magic links, invitations, password reset and the Me page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from wtforms import SelectChoice

from app.accounts import bp, services
from app.accounts.forms import (
    AcceptInviteForm,
    ForgotPasswordForm,
    LoginForm,
    MagicLinkForm,
    ProfileForm,
    ResetPasswordForm,
)
from app.accounts.models import User
from app.extensions import db
from app.forms import ConfirmForm
from app.media import ImageError, delete_media, save_square_image
from app.ratelimit import client_address, limited
from app.security import login_required


def _email_key() -> str:
    """Rate-limit key per target address, so one account cannot be hammered from many IPs."""
    # Read before the view, without the CSRF check: the limit counts every try, forged or not.
    return "email:" + services.normalize_email(ForgotPasswordForm(meta={"csrf": False}).email.data or "")


# Sign-in, magic link and reset requests: per client address and, separately, per e-mail address.
rate_limited = limited(client_address, _email_key)


def safe_next(default: str = "main.feed") -> str:
    """The ``next`` target if it is a local path, else the default page."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return url_for(default)


def _sign_in(user: User, remember: bool):
    login_user(user, remember=remember)
    services.record_sign_in(user)


@bp.route("/login", methods=["GET", "POST"])
@rate_limited
def login():
    """Sign in with a password; the page also offers a magic link."""
    if current_user.is_authenticated:
        return redirect(safe_next())
    form = LoginForm()
    magic_form = MagicLinkForm(formdata=None)
    if form.validate_on_submit():
        user = services.check_password(form.email.data, form.password.data)
        if user is not None:
            _sign_in(user, form.remember.data)
            db.session.commit()
            return redirect(safe_next())
        form.password.errors.append(_("That e-mail and password do not match an active account."))
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form, magic_form=magic_form), status


@bp.route("/login/magic", methods=["POST"])
@rate_limited
def request_magic_link():
    """E-mail a one-time sign-in link."""
    form = MagicLinkForm()
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=LoginForm(formdata=None), magic_form=form), 400
    services.send_magic_link(form.email.data, remember=form.remember.data)
    db.session.commit()
    return render_template("accounts/check_email.html", email=services.normalize_email(form.email.data))


@bp.route("/login/magic/<token>", methods=["GET", "POST"])
@limited(client_address)
def magic_landing(token: str):
    """Confirm and use a magic link (a button, so mail scanners that follow links use nothing)."""
    form = ConfirmForm()
    if request.method == "GET":
        valid = services.peek_token(token, "magic") is not None
        return render_template("accounts/magic_landing.html", form=form, valid=valid), (200 if valid else 410)
    if form.validate_on_submit():
        row = services.consume_token(token, "magic")
        if row is not None and row.user.is_active:
            logout_user()
            _sign_in(row.user, row.remember)
            db.session.commit()
            flash(_("Welcome back, %(name)s.", name=row.user.first_name), "success")
            return redirect(url_for("main.feed"))
    db.session.rollback()
    return render_template("accounts/magic_landing.html", form=form, valid=False), 410


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out and wipe this device's cached pages."""
    form = ConfirmForm()
    if form.validate_on_submit():
        logout_user()
    response = redirect(url_for("accounts.login"))
    # Shared phones: cached pages of the last person must not survive sign-out.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    response.delete_cookie("herald_sharer", path="/r/")
    flash(_("You are signed out."), "info")
    return response


@bp.route("/password/forgot", methods=["GET", "POST"])
@rate_limited
def forgot_password():
    """Ask for a password-reset link."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.send_password_reset(form.email.data)
        db.session.commit()
        return render_template("accounts/check_email.html", email=services.normalize_email(form.email.data))
    return render_template("accounts/forgot.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limited(client_address)
def reset_password(token: str):
    """Choose a new password from a reset link."""
    form = ResetPasswordForm()
    if services.peek_token(token, "reset") is None:
        return render_template("accounts/link_expired.html"), 410
    if form.validate_on_submit():
        row = services.consume_token(token, "reset")
        if row is None or not row.user.is_active:
            db.session.rollback()
            return render_template("accounts/link_expired.html"), 410
        services.set_password(row.user, form.password.data)
        _sign_in(row.user, remember=False)
        db.session.commit()
        flash(_("Your password is changed."), "success")
        return redirect(url_for("main.feed"))
    return render_template("accounts/reset.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limited(client_address)
def accept_invite(token: str):
    """Activate an invited account."""
    pending = services.peek_token(token, "invite")
    if pending is None or pending.user.status != "invited":
        return render_template("accounts/link_expired.html"), 410
    form = AcceptInviteForm(data={"display_name": pending.user.display_name})
    if form.validate_on_submit():
        row = services.consume_token(token, "invite")
        if row is None:
            db.session.rollback()
            return render_template("accounts/link_expired.html"), 410
        services.activate(row.user, form.display_name.data, form.password.data or None)
        logout_user()
        _sign_in(row.user, remember=True)
        db.session.commit()
        flash(_("Welcome to Herald, %(name)s!", name=row.user.first_name), "success")
        return redirect(url_for("main.feed"))
    return render_template("accounts/accept_invite.html", form=form, user=pending.user), (
        400 if request.method == "POST" else 200
    )


def _timezone_choices(current: str) -> list[tuple[str, str]]:
    from zoneinfo import available_timezones

    names = sorted(n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/")))
    if current not in names:
        names.insert(0, current)
    return [SelectChoice(n, n.replace("_", " ")) for n in names]


@bp.route("/me", methods=["GET", "POST"])
@login_required
def me():
    """The Me tab: my profile and settings."""
    form = ProfileForm(obj=current_user)
    form.timezone.choices = _timezone_choices(current_user.timezone)
    if form.validate_on_submit():
        if not services.valid_timezone(form.timezone.data):
            form.timezone.errors.append(_("Unknown time zone."))
        else:
            upload = form.avatar.data
            try:
                if upload and upload.filename:
                    new_path = save_square_image(upload.stream, "avatars", 256, current_app.config["AVATAR_MAX_BYTES"])
                    delete_media(current_user.avatar_path)
                    current_user.avatar_path = new_path
            except ImageError as exc:
                form.avatar.errors.append(str(exc))
            else:
                current_user.display_name = form.display_name.data.strip()
                current_user.timezone = form.timezone.data
                current_user.locale = form.locale.data
                db.session.commit()
                flash(_("Your profile is saved."), "success")
                return redirect(url_for("accounts.me"))
        db.session.rollback()
    from app.gamification.routes import profile_context

    status = 400 if request.method == "POST" else 200
    return render_template("accounts/me.html", form=form, **profile_context(current_user)), status
