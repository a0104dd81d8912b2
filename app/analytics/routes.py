"""The analytics pages (admins): the dashboard, content performance, business figures, exports, report."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import delete, select

from app import charts, exports
from app.analytics import bp, kpis, services
from app.analytics.forms import BusinessFigureForm, BusinessImportForm, ReportForm
from app.analytics.models import BusinessFigure, ReportSettings
from app.extensions import db
from app.forms import ConfirmForm
from app.org.models import Department, Location
from app.security import roles_required
from app.timeutil import utcnow

admin_required = roles_required("admin")

MAX_DAYS = 731  # a custom period of up to two years
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _day(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _filters():
    """The period and scope from the query string; a bad custom range falls back to this month, with a message."""
    today = utcnow().date()
    kind = request.args.get("period", "month")
    if kind not in services.PERIODS:
        kind = "month"
    error = None
    if kind == "custom":
        start, end = _day("start"), _day("end")
        if start is None or end is None:
            error = _("Enter both dates of the custom period as YYYY-MM-DD.")
        elif end < start:
            error = _("The period's last day is before its first day.")
        elif (end - start).days >= MAX_DAYS or start.year < 2000 or end > today + timedelta(days=1):
            error = _("Choose a custom period of at most two years, ending no later than today.")
        if error:
            kind = "month"
            period = services.period_for(kind, today)
        else:
            period = services.period_for(kind, today, start, end)
    else:
        period = services.period_for(kind, today)
    scope = services.Scope.parse(request.args.get("scope"))
    return kind, period, scope, error, today


def _scopes() -> list[tuple[str, str]]:
    departments = db.session.execute(select(Department.id, Department.name).order_by(Department.name)).all()
    locations = db.session.execute(select(Location.id, Location.name).order_by(Location.name)).all()
    return ([("", _("Everyone"))] + [(f"department:{i}", _("Department: %(name)s", name=n)) for i, n in departments]
            + [(f"location:{i}", _("Location: %(name)s", name=n)) for i, n in locations])  # fmt: skip


def _query(kind, period, scope) -> dict:
    args = {"period": kind}
    if kind == "custom":
        args.update(start=period.start.isoformat(), end=period.end.isoformat())
    if scope.key:
        args["scope"] = scope.key
    return args


def _dashboard_charts(d: kpis.Dashboard) -> dict:
    days = [day.isoformat() for day in d.daily.index]
    daily = charts.line(days, [
        (_("Shares"), [int(v) for v in d.daily["shares"]]),
        (_("Unique clicks"), [int(v) for v in d.daily["unique_clicks"]]),
        (_("Unique visitors"), [int(v) for v in d.daily["reach"]]),
    ], y_min=0)  # fmt: skip
    f = d.funnel
    funnel = charts.funnel([_("Invited"), _("Activated"), _("Shared at least once"), _("Shared in 3 or more weeks")],
                           [f.invited, f.activated, f.shared, f.regular], name=_("People"))  # fmt: skip
    networks = sorted(d.now.by_network.items(), key=lambda kv: -kv[1]["clicks"])
    by_network = charts.bars([kpis.network_label(k) for k, _v in networks], [v["clicks"] for _k, v in networks],
                             name=_("Visits"), horizontal=True)  # fmt: skip
    emv = charts.bars([kpis.network_label(k) for k, _v in networks], [round(v["emv"], 2) for _k, v in networks],
                      name=_("Earned media value (%(currency)s)", currency=d.currency), horizontal=True)  # fmt: skip
    posts = charts.bars([p["title"][:60] for p in d.posts], [p["clicks"] for p in d.posts], name=_("Visits"),
                        horizontal=True)  # fmt: skip
    months = [m.strftime("%Y-%m") for m in d.monthly.index]
    business = charts.line(months, [
        (_("Sales"), [d.business.get("sales", {}).get(m) for m in d.monthly.index]),
        (_("New hires"), [d.business.get("hires", {}).get(m) for m in d.monthly.index]),
        (_("Shares"), [int(v) for v in d.monthly["shares"]]),
        (_("Unique clicks"), [int(v) for v in d.monthly["unique_clicks"]]),
    ], y_min=0)  # fmt: skip
    satisfaction = None
    if d.satisfaction.trend:
        trend = d.satisfaction.trend
        values = [None if v is None else round(v, 1) for _label, v in trend]
        satisfaction = charts.line([label for label, _v in trend], [(_("eNPS"), values)], y_min=-100, y_max=100)
    return {"daily": daily, "funnel": funnel, "networks": by_network, "emv": emv, "posts": posts,
            "business": business, "satisfaction": satisfaction}  # fmt: skip


@bp.route("/admin/analytics")
@admin_required
def dashboard():
    """The ten measures for a period and an optional department or location, with their change."""
    kind, period, scope, error, _today = _filters()
    d = kpis.dashboard(period, scope)
    report = db.session.get(ReportSettings, current_user.id)
    return render_template(
        "analytics/dashboard.html", d=d, kind=kind, error=error, scopes=_scopes(), query=_query(kind, period, scope),
        charts=_dashboard_charts(d), tables=d.tables(), table_columns=charts.table_columns,
        table_rows=charts.table_rows, network_label=kpis.network_label, change=services.change,
        report_form=ReportForm(weekly_report=report is None or report.weekly_report),
    )  # fmt: skip


def content_tables(c: services.Content) -> dict[str, kpis.Table]:
    """The content page's tables (shown and exported)."""

    def rate(value):
        return None if value is None else round(value, 2)

    tables = [
        kpis.Table("content_posts", _("Posts"),
                   [_("Post"), _("Campaign"), _("Shares"), _("Visits"), _("Unique clicks"), _("Clicks per share"),
                    _("Likes"), _("Comments"), _("Conversions")],
                   [[p["title"], p["campaign"], p["shares"], p["clicks"], p["unique_clicks"], rate(p["per_share"]),
                     p["likes"], p["comments"], p["conversions"]] for p in c.posts]),
        kpis.Table("content_networks", _("Networks"),
                   [_("Network"), _("Shares"), _("Visits"), _("Unique clicks"), _("Clicks per share"),
                    _("Conversions")],
                   [[kpis.network_label(n["network"]), n["shares"], n["clicks"], n["unique_clicks"],
                     rate(n["per_share"]), n["conversions"]] for n in c.networks]),
        kpis.Table("content_campaigns", _("Campaigns"),
                   [_("Campaign"), _("Shares"), _("Visits"), _("Unique clicks"), _("Clicks per share"),
                    _("Conversions")],
                   [[r["name"], r["shares"], r["clicks"], r["unique_clicks"], rate(r["per_share"]),
                     r["conversions"]] for r in c.campaigns]),
        kpis.Table("content_ab", _("Caption A/B tests"),
                   [_("Campaign"), _("Variant"), _("Shares"), _("Unique clicks"), _("Clicks per share"),
                    _("p-value"), _("Winner")],
                   [[campaign.name, v["variant"], v["shares"], v["clicks"], rate(v["per_share"]),
                     None if result.p_value is None else round(result.p_value, 4), result.winner or ""]
                    for campaign, result in c.ab_tests for v in result.variants]),
        kpis.Table("content_times", _("Clicks per share by weekday and hour of sharing"),
                   [_("Weekday"), *[f"{h:02d}" for h in range(24)]],
                   [[_weekday(i), *[None if v is None else round(v, 2) for v in row]]
                    for i, row in enumerate(c.slots)]),
    ]  # fmt: skip
    return {t.key: t for t in tables}


def _weekday(i: int) -> str:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")][i]


@bp.route("/admin/analytics/content")
@admin_required
def content():
    """Per post, network, campaign and caption variant; the best time to share; A/B tests."""
    kind, period, scope, error, _today = _filters()
    c = services.content(period, scope)
    best = None
    if c.best is not None:
        best = _("%(weekday)s at %(hour)s:00", weekday=_weekday(c.best[0]), hour=f"{c.best[1]:02d}")
    heat = [[({"value": v, "text": f"{v:.1f}", "level": charts.heat_level(v, 0, _max_rate(c.slots))}
              if v is not None else None) for v in row] for row in c.slots]  # fmt: skip
    return render_template(
        "analytics/content.html", c=c, kind=kind, error=error, scopes=_scopes(), scope=scope,
        query=_query(kind, period, scope), period=period, tables=content_tables(c), best=best, heat=heat,
        weekdays=[_weekday(i) for i in range(7)], hours=[f"{h:02d}" for h in range(24)],
        network_label=kpis.network_label, posts_shown=50,
    )  # fmt: skip


def _max_rate(slots) -> float:
    values = [v for row in slots for v in row if v is not None]
    return max(values) if values and max(values) > 0 else 1.0


@bp.route("/admin/analytics/export/<name>.<fmt>")
@admin_required
def export(name: str, fmt: str):
    """One table of the dashboard or the content page as CSV or XLSX, for the same period and scope."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    kind, period, scope, _error, _today = _filters()
    if name.startswith("content_"):
        tables = content_tables(services.content(period, scope))
    else:
        tables = kpis.dashboard(period, scope).tables()
    table = tables.get(name)
    if table is None:
        abort(404)
    filename = f"herald-{name}-{period.start.isoformat()}-{period.end.isoformat()}.{fmt}"
    if fmt == "csv":
        return exports.csv_response(filename, table.columns, table.rows)
    return exports.xlsx_response(filename, table.columns, table.rows, sheet=table.title)


@bp.route("/admin/analytics/report", methods=["POST"])
@admin_required
def report_settings():
    """Turn my weekly analytics e-mail on or off."""
    form = ReportForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("analytics.dashboard"))
    row = db.session.get(ReportSettings, current_user.id)
    if row is None:
        row = ReportSettings(user_id=current_user.id, weekly_report=True)
        db.session.add(row)
    row.weekly_report = bool(form.weekly_report.data)
    db.session.commit()
    if row.weekly_report:
        flash(_("You will get the weekly analytics report on Monday mornings."), "success")
    else:
        flash(_("You will no longer get the weekly analytics report."), "success")
    return redirect(url_for("analytics.dashboard"))


@bp.route("/admin/analytics/business", methods=["GET", "POST"])
@admin_required
def business():
    """Monthly business figures (sales, new hires...) typed in or imported from CSV."""
    from app.analytics import figures

    form = BusinessFigureForm(prefix="one")
    upload = BusinessImportForm(prefix="csv")
    if form.submit.data and form.validate_on_submit():
        figures.save(form.month_start(), form.kind.data, form.value.data)
        db.session.commit()
        flash(_("Saved %(kind)s for %(month)s.", kind=figures.kind_label(form.kind.data),
                month=form.month_start().strftime("%Y-%m")), "success")  # fmt: skip
        return redirect(url_for("analytics.business"))
    if upload.submit.data and upload.validate_on_submit():
        result = figures.import_csv(upload.file.data)
        if result.errors:
            db.session.rollback()
            for message in result.errors[:10]:
                flash(message, "error")
            flash(_("Nothing was imported: fix the rows above and upload the file again."), "error")
        else:
            db.session.commit()
            flash(figures.import_summary(result), "success")
            return redirect(url_for("analytics.business"))
    rows = db.session.scalars(select(BusinessFigure).order_by(BusinessFigure.month.desc(), BusinessFigure.kind)).all()
    return render_template("analytics/business.html", form=form, upload=upload, rows=rows, delete_form=ConfirmForm(),
                           kind_label=figures.kind_label)  # fmt: skip


@bp.route("/admin/analytics/business/<int:year>-<int:month>/<kind>/delete", methods=["POST"])
@admin_required
def delete_business(year: int, month: int, kind: str):
    """Remove one monthly figure."""
    from app.analytics import figures

    form = ConfirmForm()
    if not form.validate_on_submit() or kind not in figures.KINDS or not 2000 <= year <= 2100 or not 1 <= month <= 12:
        abort(400)
    db.session.execute(delete(BusinessFigure).where(BusinessFigure.month == date(year, month, 1),
                                                    BusinessFigure.kind == kind))  # fmt: skip
    db.session.commit()
    flash(_("The figure is removed."), "success")
    return redirect(url_for("analytics.business"))
