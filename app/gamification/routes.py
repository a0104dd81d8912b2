"""Leaderboards, the points part of the Me page, privacy, and the admin's rules, adjustments and badges."""

from __future__ import annotations

import json

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.accounts.models import User
from app.database import SAFE_METHODS, read_only
from app.extensions import db, htmx
from app.gamification import badges, bp, leaderboard, ledger, rules, streaks
from app.gamification.forms import PrivacyForm
from app.gamification.models import PointEntry
from app.gamification.periods import BOARD_PERIODS
from app.security import login_required


def entry_label(entry: PointEntry) -> str:
    """Words for a ledger line, in the viewer's language ("shared “Q3 results” on LinkedIn")."""
    from app.content.networks import network_label

    p = entry.params or {}
    title = p.get("title", "")
    reason = entry.reason
    if reason == "share":
        return _("shared “%(title)s” on %(network)s", title=title, network=network_label(p.get("network", "")))
    if reason == "click":
        return _("unique click on “%(title)s”", title=title)
    if reason == "like":
        return _("liked “%(title)s”", title=title)
    if reason == "comment":
        return _("commented on “%(title)s”", title=title)
    if reason == "cta_bonus":
        return _("call to action met: “%(title)s”", title=title)
    if reason == "suggestion":
        return _("suggestion approved: “%(title)s”", title=title)
    if reason == "streak_milestone":
        return _("streak milestone: %(num)d in a row", num=p.get("periods", 0))
    if reason == "adjustment":
        return _("adjusted by an admin: %(note)s", note=p.get("note", ""))
    if reason == "redemption":
        return _("redeemed “%(title)s”", title=title)
    if reason == "refund":
        return _("refund for “%(title)s”", title=title)
    if reason == "survey":
        return _("answered a survey")
    if reason == "conversion":
        return _("conversion through your link to “%(title)s”", title=title)
    if reason == "kudos":
        return _("kudos from %(name)s", name=p.get("from", ""))
    return reason


@bp.app_template_filter("entry_label")
def _entry_label_filter(entry: PointEntry) -> str:
    return entry_label(entry)


@bp.app_context_processor
def inject_balance():
    """The balance shown on the Me tab.

    A page that changes no points (GET) shows the balance read with the signed-in user;
    anything else reads it again, after whatever the request awarded or spent.
    """
    if current_user and current_user.is_authenticated:
        known = g.get("herald_balance_at_sign_in")
        if known is not None and request.method in SAFE_METHODS:
            return {"my_balance": known}
        return {"my_balance": ledger.balance_of(current_user.id)[0]}
    return {}


@bp.after_app_request
def announce_points(response):
    """Tell the page about points and badges earned in this request (``HX-Trigger``; share.js reads it too)."""
    earned = g.get("herald_points")
    if earned and (earned["points"] or earned["badges"]) and response.status_code < 400:
        balance = ledger.balance_of(current_user.id)[0] if current_user.is_authenticated else 0
        payload = {"points": earned["points"], "balance": balance, "badges": earned["badges"]}
        existing = response.headers.get("HX-Trigger")
        triggers = json.loads(existing) if existing and existing.startswith("{") else {}
        triggers["herald:points"] = payload
        response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


@bp.route("/leaderboard")
@login_required
@read_only
def board():
    """The Leaderboard tab: this week, this month or all time; company, my department, my location, or teams."""
    settings = rules.get_rules()["boards"]
    period = request.args.get("period", "week")
    if period not in BOARD_PERIODS:
        period = "week"
    scope = request.args.get("scope", "company" if settings["individual"] else "teams")
    if scope not in leaderboard.SCOPES:
        scope = "company"
    if scope != "teams" and not settings["individual"]:
        scope = "teams"
    if scope == "teams" and not settings["teams"]:
        scope = "company"
    if scope == "department" and not current_user.department_id or scope == "location" and not current_user.location_id:
        scope = "company"  # no department (or location) of my own: the select offers neither
    context = {"period": period, "scope": scope, "settings": settings}
    if scope == "teams":
        context["teams"] = leaderboard.teams(period, current_user)
    else:
        context["board"] = leaderboard.standings(period, scope, current_user)
    template = "gamification/_board.html" if htmx else "gamification/leaderboard.html"
    return render_template(template, **context)


RECENT = 5  # ledger lines on the Me page; "Show all" opens the points page


def profile_context(user: User) -> dict:
    """What the Me page shows about points: balance, streak, badges, ranks, recent ledger."""
    balance, lifetime = ledger.balance_of(user.id)
    settings = rules.get_rules()["boards"]
    ranks = []
    if settings["individual"]:
        for scope, label in (("company", _("Company")), ("department", _("My department")),
                             ("location", _("My location"))):  # fmt: skip
            if scope == "department" and not user.department_id or scope == "location" and not user.location_id:
                continue
            board = leaderboard.standings("month", scope, user, limit=1)
            ranks.append({"label": label, "rank": board.me.rank, "points": board.me.points})
    recent = db.session.scalars(
        select(PointEntry).where(PointEntry.user_id == user.id).order_by(PointEntry.id.desc()).limit(RECENT)
    ).all()
    return {
        "balance": balance,
        "lifetime": lifetime,
        "streak": streaks.view(user),
        "calendar": streaks.calendar(user),
        "badge_list": badges.profile(user.id, lifetime),
        "ranks": ranks,
        "recent": recent,
    }


@bp.route("/me/privacy", methods=["POST"])
@login_required
def privacy():
    """Hide me from public leaderboards (or show me again)."""
    current_user.hide_from_leaderboards = PrivacyForm().hide.data == "1"
    db.session.commit()
    flash(
        _("You are hidden from leaderboards: you still count, shown as “Hidden”.")
        if current_user.hide_from_leaderboards
        else _("Colleagues see your name on leaderboards again."),
        "success",
    )
    return redirect(url_for("accounts.me"))


@bp.route("/me/points")
@login_required
def points():
    """My whole points history."""
    page = db.paginate(
        select(PointEntry).where(PointEntry.user_id == current_user.id).order_by(PointEntry.id.desc()),
        per_page=50, error_out=False,
    )  # fmt: skip
    balance, lifetime = ledger.balance_of(current_user.id)
    return render_template("gamification/points.html", page=page, balance=balance, lifetime=lifetime)


@bp.route("/me/balance")
@login_required
def balance():
    """My balance as JSON (the tab bar refreshes it)."""
    current, lifetime = ledger.balance_of(current_user.id)
    return jsonify(balance=current, lifetime=lifetime)
