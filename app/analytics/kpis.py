"""The dashboard: the reference article's ten measures for a period and scope, with their change.

``dashboard()`` gathers every figure once; the page, the exports (every table as CSV and XLSX)
and the weekly report e-mail all read the same ``Dashboard``, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.analytics import services
from app.analytics.services import Funnel, Period, Scope, Totals
from app.content.models import Campaign, Post
from app.extensions import db
from app.org.models import Department, Location
from app.timeutil import utcnow

NETWORK_LABELS = {"linkedin": "LinkedIn", "x": "X", "facebook": "Facebook", "whatsapp": "WhatsApp",
                  "email": "E-mail", "copy": "Link", "native": "Share sheet"}  # fmt: skip


def network_label(network: str) -> str:
    if network == "email":
        return _("E-mail")
    if network == "copy":
        return _("Copied link")
    if network == "native":
        return _("Phone share sheet")
    return NETWORK_LABELS.get(network, network)


@dataclass
class Table:
    """One table of figures: shown behind a chart, exported as CSV and XLSX."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Satisfaction:
    """The latest survey wave with an eNPS question (headline figures only, suppression applied)."""

    available: bool  # the Surveys package holds a wave with an eNPS question
    survey_id: int | None = None
    title: str = ""
    hidden: bool = False
    responses: int = 0
    rate: float | None = None
    enps: float | None = None
    enps_change: float | None = None
    favourable: float | None = None
    trend: list[tuple[str, float | None]] = field(default_factory=list)


@dataclass
class Dashboard:
    period: Period
    scope: Scope
    scope_name: str
    now: Totals
    before: Totals
    funnel: Funnel
    funnel_before: Funnel
    employees: int
    top_shares: list[services.Contributor]
    top_clicks: list[services.Contributor]
    top_conversions: list[services.Contributor]
    daily: Any  # DataFrame indexed by day
    posts: list[dict]
    campaigns: list[dict]
    business: dict[str, dict[date, float]]
    monthly: Any  # DataFrame indexed by month
    satisfaction: Satisfaction
    currency: str

    @property
    def participation(self) -> float | None:
        return 100 * self.now.sharers / self.employees if self.employees else None

    def change(self, name: str) -> float | None:
        now, before = getattr(self.now, name), getattr(self.before, name)
        return services.change(now, before)

    def tables(self) -> dict[str, Table]:
        """Every table on the dashboard, keyed for the export URLs."""
        return dashboard_tables(self)


def scope_name(scope: Scope) -> str:
    if scope.kind == "department":
        name = db.session.scalar(select(Department.name).where(Department.id == scope.id))
        return name or _("Unknown department")
    if scope.kind == "location":
        name = db.session.scalar(select(Location.name).where(Location.id == scope.id))
        return name or _("Unknown location")
    return _("Everyone")


def satisfaction(scope: Scope) -> Satisfaction:
    """Latest eNPS and % favourable from the Surveys package, for the scope, with its suppression."""
    from surveys import results
    from surveys.models import Question, Survey, Wave

    now = utcnow()
    survey = db.session.scalar(
        select(Survey)
        .join(Question, Question.survey_id == Survey.id)
        .join(Wave, Wave.survey_id == Survey.id)
        .where(Question.kind == "enps", Wave.opens_at <= now, Survey.status != "draft")
        .order_by(Wave.opens_at.desc(), Survey.id.desc())
        .limit(1)
    )
    if survey is None:
        return Satisfaction(available=False)
    waves = [w for w in survey.waves if w.opens_at <= now]
    latest = waves[-1]
    by = {"department": "department_id", "location": "location_id"}.get(scope.kind)
    result = results.wave_result(latest, by=by, group=scope.id if by else None, now=now)
    out = Satisfaction(available=True, survey_id=survey.id, title=survey.title, hidden=result.hidden,
                       responses=result.responses, rate=result.rate)  # fmt: skip
    if not result.hidden:
        out.enps = result.enps.score if result.enps else None
        out.enps_change = result.enps_change
        pooled = [s for _name, s, _change in result.dimensions if s is not None]
        if pooled:
            base = sum(s.base for s in pooled)
            out.favourable = sum(s.favourable * s.base for s in pooled) / base if base else None
    if scope.kind == "all":
        out.trend = [(_("Wave %(n)d", n=p.wave.number), p.enps) for p in results.trend(survey, now)]
    return out


def dashboard(period: Period, scope: Scope, today: date | None = None) -> Dashboard:
    """Every figure of the dashboard for ``period`` and ``scope``."""
    today = today or utcnow().date()
    previous = period.previous
    people = services.sharer_sums(period, scope, today)
    now, before = services.totals(period, scope, today, people), services.totals(previous, scope, today)
    by_post = services.post_sums(period, scope, ("post_id", "campaign_id"), today)
    posts = _top_posts(by_post)
    by_campaign = by_post.groupby("campaign_id")[services.POST_SUMS].sum().reset_index()
    settings = services.get_settings()
    return Dashboard(
        period=period, scope=scope, scope_name=scope_name(scope), now=now, before=before,
        funnel=services.funnel(period.end, scope, today), funnel_before=services.funnel(previous.end, scope, today),
        employees=services.active_employees(scope),
        top_shares=services.contributors(people, "shares"),
        top_clicks=services.contributors(people, "unique_clicks"),
        top_conversions=services.contributors(people, "conversions"),
        daily=services.series(period, scope, today), posts=posts, campaigns=_campaigns(by_campaign),
        business=services.business_figures(12, today), monthly=services.monthly_activity(12, scope, today),
        satisfaction=satisfaction(scope), currency=settings["currency"],
    )  # fmt: skip


def _top_posts(frame, limit: int = services.TOP) -> list[dict]:
    frame = frame[frame["clicks"] > 0].sort_values(["clicks", "post_id"], ascending=[False, True]).head(limit)
    ids = [int(i) for i in frame["post_id"]]
    titles = dict(db.session.execute(select(Post.id, Post.title).where(Post.id.in_(ids))).all()) if ids else {}
    return [{"post_id": int(r.post_id), "title": titles.get(int(r.post_id), ""), "clicks": int(r.clicks),
             "unique_clicks": int(r.unique_clicks), "shares": int(r.shares)}
            for r in frame.itertuples(index=False)]  # fmt: skip


def _campaigns(frame) -> list[dict]:
    frame = frame[frame["campaign_id"].notna() & ((frame["clicks"] > 0) | (frame["shares"] > 0))]
    ids = [int(i) for i in frame["campaign_id"]]
    names = (
        dict(db.session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids))).all()) if ids else {}
    )
    rows = [{"campaign_id": int(r.campaign_id), "name": names.get(int(r.campaign_id), ""), "clicks": int(r.clicks),
             "unique_clicks": int(r.unique_clicks), "shares": int(r.shares), "conversions": int(r.conversions)}
            for r in frame.itertuples(index=False)]  # fmt: skip
    return sorted(rows, key=lambda r: (-r["clicks"], r["name"]))


def _name(person: services.Contributor) -> str:
    return _("Hidden") if person.hidden else person.name


def _fmt_change(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def kpi_rows(d: Dashboard) -> list[list[Any]]:
    """Measure, this period, the previous period, change in % (the headline table)."""
    n, b = d.now, d.before
    cps_now, cps_before = n.clicks_per_share, b.clicks_per_share
    rows = [
        [_("People who shared"), n.sharers, b.sharers],
        [_("Weekly active sharers"), round(n.weekly_sharers, 1), round(b.weekly_sharers, 1)],
        [_("Organic reach (unique visitors)"), n.reach, b.reach],
        [_("Unique clicks"), n.unique_clicks, b.unique_clicks],
        [_("Shares"), n.shares, b.shares],
        [_("Likes"), n.likes, b.likes],
        [_("Comments"), n.comments, b.comments],
        [_("Clicks per share"), _round(cps_now), _round(cps_before)],
        [_("Visits through employee links"), n.clicks, b.clicks],
        [_("Conversions"), n.conversions, b.conversions],
        [_("Conversion value (%(currency)s)", currency=d.currency), round(n.conversion_value, 2),
         round(b.conversion_value, 2)],
        [_("Earned media value (%(currency)s)", currency=d.currency), round(n.emv, 2), round(b.emv, 2)],
        [_("Invited"), d.funnel.invited, d.funnel_before.invited],
        [_("Activated"), d.funnel.activated, d.funnel_before.activated],
        [_("Shared at least once"), d.funnel.shared, d.funnel_before.shared],
        [_("Shared in 3 or more weeks"), d.funnel.regular, d.funnel_before.regular],
    ]  # fmt: skip
    return [[label, now, before, _fmt_change(services.change(now, before))] for label, now, before in rows]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def dashboard_tables(d: Dashboard) -> dict[str, Table]:
    tables = [
        Table("kpis", _("Key figures"), [_("Measure"), _("This period"), _("Previous period"), _("Change in per cent")],
              kpi_rows(d)),
        Table("daily", _("Activity by day"),
              [_("Day"), _("Shares"), _("Visits"), _("Unique clicks"), _("Unique visitors"), _("Conversions")],
              [[day, int(r.shares), int(r.clicks), int(r.unique_clicks), int(r.reach), int(r.conversions)]
               for day, r in d.daily.iterrows()]),
        Table("networks", _("By network"),
              [_("Network"), _("Shares"), _("Visits"), _("Unique clicks"), _("Conversions"),
               _("Earned media value (%(currency)s)", currency=d.currency)],
              [[network_label(k), v["shares"], v["clicks"], v["unique_clicks"], v["conversions"], round(v["emv"], 2)]
               for k, v in sorted(d.now.by_network.items(), key=lambda kv: -kv[1]["clicks"])]),
        Table("funnel", _("Adoption funnel"), [_("Step"), _("People"), _("Share of active employees (per cent)")],
              [[label, n, _round(d.funnel.rate(n))] for label, n in _funnel_steps(d.funnel)]),
        Table("top_shares", _("Top contributors by shares"), [_("Person"), _("Shares"), _("Unique clicks")],
              [[_name(p), p.shares, p.unique_clicks] for p in d.top_shares]),
        Table("top_clicks", _("Top contributors by unique clicks"), [_("Person"), _("Unique clicks"), _("Shares")],
              [[_name(p), p.unique_clicks, p.shares] for p in d.top_clicks]),
        Table("conversions", _("Conversions by sharer"), [_("Person"), _("Conversions"), _("Unique clicks")],
              [[_name(p), p.conversions, p.unique_clicks] for p in d.top_conversions]),
        Table("posts", _("Visits by post"), [_("Post"), _("Visits"), _("Unique clicks"), _("Shares")],
              [[p["title"], p["clicks"], p["unique_clicks"], p["shares"]] for p in d.posts]),
        Table("campaigns", _("Visits by campaign"),
              [_("Campaign"), _("Visits"), _("Unique clicks"), _("Shares"), _("Conversions")],
              [[c["name"], c["clicks"], c["unique_clicks"], c["shares"], c["conversions"]] for c in d.campaigns]),
        Table("business", _("Business figures and advocacy by month"),
              [_("Month"), _("Sales"), _("New hires"), _("Shares"), _("Unique clicks"), _("Conversions")],
              _business_rows(d)),
        Table("satisfaction", _("Employee satisfaction"), [_("Wave"), _("eNPS")],
              [[label, None if v is None else round(v, 1)] for label, v in d.satisfaction.trend]),
    ]  # fmt: skip
    return {t.key: t for t in tables}


def _funnel_steps(f: Funnel) -> list[tuple[str, int]]:
    return [(_("Invited"), f.invited), (_("Activated"), f.activated), (_("Shared at least once"), f.shared),
            (_("Shared in 3 or more weeks"), f.regular)]  # fmt: skip


def _business_rows(d: Dashboard) -> list[list[Any]]:
    rows = []
    for month, r in d.monthly.iterrows():
        rows.append([month.strftime("%Y-%m"), d.business.get("sales", {}).get(month),
                     d.business.get("hires", {}).get(month), int(r.shares), int(r.unique_clicks),
                     int(r.conversions)])  # fmt: skip
    return rows
