"""Conversions over HTTP: the API and the pixel the company's site reports to, and the admin pages.

``POST /api/v1/conversions`` takes JSON with a Bearer token and answers JSON (201 new, 200 a
replay, 401, 404, 400, 415, 429). The pixel always answers the same image, whatever happened,
so it tells a visitor nothing about codes. Admins create and revoke tokens, see and import
conversions, and set costs per click, the currency and attribution.
"""

from __future__ import annotations

import base64
import secrets

from flask import Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import audit, caches, exports, imports
from app.accounts.models import User
from app.analytics import bp, conversions, services
from app.analytics.conversion_forms import ConversionImportForm, SettingsForm, TokenForm
from app.analytics.models import ApiToken, Conversion
from app.content.models import Post
from app.content.networks import network_label
from app.database import write_intent
from app.extensions import csrf, db
from app.forms import ConfirmForm
from app.ratelimit import client_address, limited, within_limit
from app.security import roles_required
from app.timeutil import utcnow
from app.tracking.clicks import salts, visitor_hash

admin_required = roles_required("admin")
PER_PAGE = 50
# A transparent 1x1 GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- the API and the pixel -----------------------------------------------------------------------------------


def _json_error(status: int, message: str, **headers) -> Response:
    """A JSON error; whatever the request did so far (a token's last use) rolls back."""
    db.session.rollback()
    response = jsonify(error=message, status=status)
    response.status_code = status
    response.headers.update(headers)
    return response


def _bearer() -> str | None:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _client_key(body: dict) -> str:
    """``api:<key>`` from the body's ``idempotency_key`` or the ``Idempotency-Key`` header (both: the same)."""
    in_body, in_header = body.get("idempotency_key"), request.headers.get("Idempotency-Key")
    if in_body is None and in_header is None:
        return "api:auto:" + secrets.token_hex(16)  # no key: every request is a new conversion
    if in_body is not None and in_header is not None and in_body != in_header:
        raise conversions.ConversionError(_("The body and the Idempotency-Key header carry different keys."))
    return "api:" + conversions.parse_key(in_body if in_body is not None else in_header)


@bp.route("/api/v1/conversions", methods=["POST"])
@csrf.exempt  # server to server: the Bearer token is the authority, there is no session to forge
@limited(client_address, setting="CONVERSION_RATE_LIMIT")
def api_conversions():
    """Record a conversion the company's site reports: JSON ``{code, kind, value?, idempotency_key?}``."""
    token = conversions.authenticate(_bearer())
    if token is None:
        return _json_error(401, _("Send a valid API token: Authorization: Bearer <token>."),
                           **{"WWW-Authenticate": 'Bearer realm="herald"'})  # fmt: skip
    if not request.is_json:
        return _json_error(415, _("Send JSON, with the header Content-Type: application/json."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _json_error(400, _("Send a JSON object with code, kind and optionally value and idempotency_key."))
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        return _json_error(400, _("The code is missing: send the code your site received in the link."))
    try:
        kind = conversions.parse_kind(body.get("kind"))
        value = conversions.parse_value(body.get("value"))
        key = _client_key(body)
        conversion, created = conversions.record(code.strip(), kind, value, key, "api", token=token)
    except conversions.UnknownCode as exc:
        return _json_error(404, str(exc))
    except conversions.ConversionError as exc:
        return _json_error(400, str(exc))
    db.session.commit()
    return jsonify(id=conversion.id, created=created), 201 if created else 200


def _record_pixel() -> None:
    """Record the pixel's conversion if attribution is on and the query names a known code and a kind."""
    if not services.get_settings()["attribution"] or not within_limit("PIXEL_RATE_LIMIT", client_address):
        return
    args = request.args
    try:
        kind = conversions.parse_kind(args.get("kind"))
        value = conversions.parse_value(args.get("value"))
        own_key = conversions.parse_key(args["key"]) if args.get("key") else None
    except conversions.ConversionError:
        return
    code = args.get("code", "").strip()
    today = utcnow().date()
    visitor = visitor_hash(salts.salt_for(today, db.engine), request.remote_addr or "", request.user_agent.string)
    db.session.rollback()  # the settings were read in a plain transaction; the write takes the lock up front
    with write_intent():
        try:
            conversions.record(code, kind, value, conversions.pixel_key(code, kind, own_key, visitor, today), "pixel")
        except conversions.ConversionError:  # an unknown code among them: the image is the same
            db.session.rollback()
            return
        db.session.commit()


@bp.route("/api/v1/conversions/pixel.gif")
def conversion_pixel():
    """A 1x1 image for sites that cannot call the API: ``?code=&kind=&value=&key=``; records while attribution is on."""
    if request.method == "GET":
        _record_pixel()
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"  # the company's pages embed it
    return response


# --- admin pages ---------------------------------------------------------------------------------------------


@bp.route("/admin/analytics/tokens", methods=["GET", "POST"])
@admin_required
def admin_tokens():
    """API tokens: create one (its value is shown once), see when each was last used, revoke."""
    form = TokenForm()
    created = None
    if form.validate_on_submit():
        token, plain = conversions.create_token(form.name.data, current_user)
        db.session.commit()
        created = (token, plain)
        form = TokenForm(formdata=None)
    page = render_template(
        "analytics/admin_tokens.html", form=form, created=created, tokens=conversions.tokens(),
        endpoint=url_for("analytics.api_conversions", _external=True),
    )  # fmt: skip
    response = Response(page, status=400 if form.errors else 200)
    if created:
        response.headers["Cache-Control"] = "no-store"  # the token is on this page: no copy in any cache
    return response


@bp.route("/admin/analytics/tokens/<int:token_id>/revoke", methods=["POST"])
@admin_required
def admin_revoke_token(token_id: int):
    """Revoke a token: reports sent with it get 401 from now on (nothing already recorded changes)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        if conversions.revoke_token(token, current_user):
            db.session.commit()
            flash(_("Token “%(name)s” revoked. Reports sent with it are refused from now on.", name=token.name),
                  "success")  # fmt: skip
        else:
            flash(_("Token “%(name)s” was revoked already.", name=token.name), "info")
    return redirect(url_for("analytics.admin_tokens"))


@bp.route("/admin/analytics/conversions", methods=["GET", "POST"])
@admin_required
def admin_conversions():
    """Recent conversions, newest first, and the CSV import (every row checked first; one bad row imports nothing)."""
    form = ConversionImportForm()
    report = None
    if form.validate_on_submit():
        report = conversions.import_csv(form.file.data.read(imports.MAX_BYTES + 1), current_user)
        if report.ok:
            db.session.commit()
        else:
            db.session.rollback()
    page = db.paginate(select(Conversion).order_by(Conversion.id.desc()), per_page=PER_PAGE, error_out=False)
    sharers = {c.sharer_id for c in page.items}
    posts = {c.post_id for c in page.items}
    names = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(sharers))).all())
    titles = dict(db.session.execute(select(Post.id, Post.title).where(Post.id.in_(posts))).all())
    status = 400 if request.method == "POST" and (report is None or not report.ok) else 200
    return render_template(
        "analytics/admin_conversions.html", form=form, report=report, page=page, names=names, titles=titles,
        kinds=conversions.KIND_LABELS, sources=conversions.SOURCE_LABELS, network_label=network_label,
        currency=services.get_settings()["currency"],
    ), status  # fmt: skip


@bp.route("/admin/analytics/conversions/template.csv")
@admin_required
def admin_conversions_template():
    """A sample conversions CSV with every column."""
    return exports.csv_response(
        "herald-conversions.csv",
        ["code", "kind", "value", "occurred_at", "id"],
        [["Ab3dE5gH7k", "application", "", "2026-11-03", "ATS-1042"],
         ["Ab3dE5gH7k", "lead", "120.50", "2026-11-04T09:30:00+01:00", "CRM-77"]],
    )  # fmt: skip


@bp.route("/admin/analytics/settings", methods=["GET", "POST"])
@admin_required
def admin_settings():
    """Cost per click per network (earned media value), the currency, and attribution in tracked links."""
    current = services.get_settings()
    form = SettingsForm(data=SettingsForm.data_of(current))
    if form.validate_on_submit():
        new = form.settings(current)
        services.save_settings(new)
        audit.record("analytics.settings", current_user, None, **new)
        db.session.commit()
        # Tracked links cached in this process take the change at once; other processes within a minute.
        caches.clear(current_app)
        flash(_("Settings saved."), "success")
        return redirect(url_for("analytics.admin_settings"))
    return render_template(
        "analytics/admin_settings.html", form=form, pixel=url_for("analytics.conversion_pixel", _external=True),
    ), (400 if form.errors else 200)  # fmt: skip
