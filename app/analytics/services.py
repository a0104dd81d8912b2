"""Every figure the analytics pages, exports and weekly report show, for a period and a scope.

A period is a range of UTC days; its change is measured against the previous period of the
same length. A scope is everyone, one department or one location (of the sharer). Figures for
days before today come from the roll-up tables (``app.analytics.rollups``), today's from the
live tables through the same computation, kept for a minute per process.

The A/B test compares clicks per share of two caption variants with the pooled z-test for two
rates: z = (r_A - r_B) / sqrt(r * (1/n_A + 1/n_B)), where r_X = unique clicks / shares of
variant X and r = (c_A + c_B) / (n_A + n_B); two-sided p = erfc(|z| / sqrt 2). It is the
two-proportion z-test with the variance of a count (r) instead of a proportion's r(1 - r),
because a share can bring more than one click. Worked example (tested): A 200 shares, 300
clicks; B 200 shares, 240 clicks -> r = 1.35, z = 0.3 / sqrt(1.35 * 0.01) = 2.582, p = 0.0098:
A wins. Below ``AB_MIN_SHARES`` shares in either variant it says "not enough data yet".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from app.accounts.models import User
from app.analytics import rollups
from app.analytics.models import Adoption, BusinessFigure, PostDay, ReachDay, SharerDay, SlotDay, TotalDay
from app.content.models import Campaign, Post
from app.extensions import db
from app.gamification.models import ProgramSetting
from app.timeutil import utcnow

PERIODS = ("week", "month", "quarter", "custom")
AB_MIN_SHARES = 30
AB_ALPHA = 0.05
TOP = 10
REGULAR_WEEKS = 3
TODAY_SECONDS = 60.0

DEFAULT_SETTINGS: dict = {
    # What a click through a paid ad on each network would cost (earned media value), in ``currency``.
    "cost_per_click": {
        "linkedin": 5.0,
        "x": 0.5,
        "facebook": 1.0,
        "whatsapp": 0.5,
        "email": 0.5,
        "copy": 0.5,
        "native": 0.5,
    },  # fmt: skip
    "currency": "EUR",
    # The redirect adds ?<param>=<link code> to the target URL, so the site can report conversions.
    "attribution": False,
    "attribution_param": "herald_ref",
}


# --- settings ------------------------------------------------------------------------------------


def get_settings() -> dict:
    """Analytics settings: the defaults merged with what admins saved."""
    row = db.session.get(ProgramSetting, "analytics")
    stored = row.value if row is not None else {}
    merged = {**DEFAULT_SETTINGS, **{k: v for k, v in stored.items() if k in DEFAULT_SETTINGS}}
    merged["cost_per_click"] = {**DEFAULT_SETTINGS["cost_per_click"], **stored.get("cost_per_click", {})}
    return merged


def save_settings(settings: dict) -> None:
    """Store the analytics settings (the caller commits)."""
    row = db.session.get(ProgramSetting, "analytics")
    if row is None:
        db.session.add(ProgramSetting(key="analytics", value=settings))
    else:
        row.value = settings
        row.updated_at = utcnow()


# --- periods and scopes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The UTC days ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def period_for(kind: str, today: date, start: date | None = None, end: date | None = None) -> Period:
    """This week, month or quarter up to ``today``, or custom days (the caller checked them)."""
    if kind == "week":
        return Period(rollups.monday(today), today)
    if kind == "month":
        return Period(today.replace(day=1), today)
    if kind == "quarter":
        return Period(today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1), today)
    if start is None or end is None or end < start:
        raise ValueError("a custom period needs a first day on or before its last day")
    return Period(start, end)


@dataclass(frozen=True)
class Scope:
    """Everyone (``kind="all"``), one department or one location."""

    kind: str = "all"
    id: int = 0

    @classmethod
    def parse(cls, value: str | None) -> Scope:
        """``"department:3"``, ``"location:2"`` or anything else for everyone."""
        kind, _, raw = (value or "").partition(":")
        if kind in ("department", "location") and raw.isdigit() and int(raw) > 0:
            return cls(kind, int(raw))
        return cls()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}" if self.kind != "all" else ""

    def rows(self, model):
        """The condition on a roll-up table with department_id and location_id columns."""
        if self.kind == "department":
            return model.department_id == self.id
        if self.kind == "location":
            return model.location_id == self.id
        return True

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.kind == "department":
            return frame[frame["department_id"] == self.id]
        if self.kind == "location":
            return frame[frame["location_id"] == self.id]
        return frame

    def key_of(self, model):
        """The condition on a roll-up table keyed by ``scope`` and ``scope_id``."""
        return and_(model.scope == self.kind, model.scope_id == self.id)

    def keep(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Today's rows of such a table for this scope."""
        return frame[(frame["scope"] == self.kind) & (frame["scope_id"] == self.id)]

    def users(self):
        if self.kind == "department":
            return User.department_id == self.id
        if self.kind == "location":
            return User.location_id == self.id
        return True


# --- today, live ---------------------------------------------------------------------------------

_today: dict[tuple[str, date], tuple[float, dict[str, pd.DataFrame]]] = {}


def forget_today() -> None:
    """Drop the cached computation of today (tests and the roll-up task call it)."""
    _today.clear()


def _today_frames(today: date) -> dict[str, pd.DataFrame]:
    key = (current_app.config["SQLALCHEMY_DATABASE_URI"], today)
    hit = _today.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    computed = rollups.compute_day(today)
    frames = {name: pd.DataFrame(rows) for name, rows in computed.items()}
    _today.clear()
    _today[key] = (time.monotonic() + TODAY_SECONDS, frames)
    return frames


def _split(period: Period, today: date) -> tuple[Period | None, bool]:
    """The part of ``period`` the roll-ups hold (before today), and whether it includes today."""
    last = min(period.end, today - timedelta(days=1))
    stored = Period(period.start, last) if last >= period.start else None
    return stored, period.start <= today <= period.end


# --- sums over the roll-ups --------------------------------------------------------------------

POST_SUMS = rollups.POST_SUMS
SHARER_SUMS = rollups.SHARER_SUMS


def _sums(model, live: str, period: Period, by: tuple[str, ...], condition, keep, today: date) -> pd.DataFrame:
    """``POST_SUMS`` of roll-up ``model`` over the stored days plus today's live rows (table ``live`` of
    ``compute_day``), where ``condition`` (SQL) and ``keep`` (a filter on today's frame) hold, grouped ``by``."""
    stored, with_today = _split(period, today)
    columns = [getattr(model, c) for c in by]
    parts = []
    if stored is not None:
        statement = select(*columns, *(func.sum(getattr(model, c)) for c in POST_SUMS)).where(
            model.day >= stored.start, model.day <= stored.end, condition
        )
        if columns:
            statement = statement.group_by(*columns)
        parts.append(pd.DataFrame(db.session.execute(statement).all(), columns=[*by, *POST_SUMS]))
    if with_today:
        frame = _today_frames(today)[live]
        if len(frame):
            frame = keep(frame).assign(day=today)
            parts.append(frame[[*by, *POST_SUMS]])
    if not parts:
        return pd.DataFrame(columns=[*by, *POST_SUMS])
    frame = pd.concat(parts, ignore_index=True)
    for column in POST_SUMS:
        frame[column] = pd.to_numeric(frame[column]).fillna(0)
    if by:
        return frame.groupby(list(by), dropna=False)[POST_SUMS].sum().reset_index()
    return frame[POST_SUMS].sum().to_frame().T


def post_sums(period: Period, scope: Scope, by: tuple[str, ...] = (), today: date | None = None) -> pd.DataFrame:
    """Shares, clicks, unique clicks, likes, comments, conversions and their value, grouped ``by`` columns
    of the post roll-up (``day``, ``post_id``, ``network``, ``variant``, ``campaign_id``)."""
    return _sums(PostDay, "post", period, by, scope.key_of(PostDay), scope.keep, today or utcnow().date())


def total_sums(period: Period, scope: Scope, by: tuple[str, ...] = ("network",), today: date | None = None):
    """The same sums from the per-scope totals (``day`` and ``network`` only): a few rows a day."""

    return _sums(TotalDay, "total", period, by, scope.key_of(TotalDay), scope.keep, today or utcnow().date())


def sharer_sums(period: Period, scope: Scope, today: date | None = None) -> pd.DataFrame:
    """Per person: shares, unique clicks and conversions in the period."""
    today = today or utcnow().date()
    stored, live = _split(period, today)
    parts = []
    if stored is not None:
        rows = db.session.execute(
            select(SharerDay.user_id, *(func.sum(getattr(SharerDay, c)) for c in SHARER_SUMS))
            .where(SharerDay.day >= stored.start, SharerDay.day <= stored.end, scope.rows(SharerDay))
            .group_by(SharerDay.user_id)
        ).all()
        parts.append(pd.DataFrame(rows, columns=["user_id", *SHARER_SUMS]))
    if live:
        frame = _today_frames(today)["sharer"]
        if len(frame):
            parts.append(scope.frame(frame)[["user_id", *SHARER_SUMS]])
    if not parts:
        return pd.DataFrame(columns=["user_id", *SHARER_SUMS])
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby("user_id")[SHARER_SUMS].sum().reset_index()


def weekly_sharers(period: Period, scope: Scope, today: date | None = None) -> dict[date, int]:
    """Distinct people who shared in each ISO week (Monday) that overlaps the period (counted in SQL)."""
    today = today or utcnow().date()
    stored, live = _split(period, today)
    weeks: dict[date, int] = {}
    if stored is not None:
        weeks.update(
            db.session.execute(
                select(SharerDay.week, func.count(func.distinct(SharerDay.user_id)))
                .where(SharerDay.day >= stored.start, SharerDay.day <= stored.end, SharerDay.shares > 0,
                       scope.rows(SharerDay))
                .group_by(SharerDay.week)
            ).all()
        )  # fmt: skip
    if live:
        week = rollups.monday(today)
        extra = _new_today(today, scope, max(period.start, week), stored)
        if extra:
            weeks[week] = weeks.get(week, 0) + extra
    return dict(sorted(weeks.items()))


def _new_today(today: date, scope: Scope, since: date, stored: Period | None) -> int:
    """How many of today's sharers did not share on a stored day from ``since`` on (they add to a count)."""
    frame = _today_frames(today)["sharer"]
    if not len(frame):
        return 0
    frame = scope.frame(frame)
    ids = {int(u) for u in frame.loc[frame["shares"] > 0, "user_id"]}
    if not ids or stored is None or stored.end < since:
        return len(ids)
    seen = set(
        db.session.scalars(
            select(SharerDay.user_id).distinct()
            .where(SharerDay.user_id.in_(ids), SharerDay.week >= rollups.monday(since),  # the (user, week) index
                   SharerDay.day >= since, SharerDay.day <= stored.end, SharerDay.shares > 0)
        )
    )  # fmt: skip
    return len(ids - seen)


def distinct_sharers(period: Period, scope: Scope, today: date | None = None) -> int:
    """People who shared at least once in the period (counted in SQL, today's added)."""
    today = today or utcnow().date()
    stored, live = _split(period, today)
    count = 0
    if stored is not None:
        count = db.session.scalar(
            select(func.count(func.distinct(SharerDay.user_id))).where(
                SharerDay.day >= stored.start, SharerDay.day <= stored.end, SharerDay.shares > 0,
                scope.rows(SharerDay),
            )
        ) or 0  # fmt: skip
    if live:
        count += _new_today(today, scope, period.start, stored)
    return count


def reach(period: Period, scope: Scope, today: date | None = None, by_day: bool = False):
    """Distinct visitors per day through tracked links, summed over the period (or per day)."""
    today = today or utcnow().date()
    stored, live = _split(period, today)
    kind = "all" if scope.kind == "all" else scope.kind
    days: dict[date, int] = {}
    if stored is not None:
        for day, visitors in db.session.execute(
            select(ReachDay.day, ReachDay.visitors).where(
                ReachDay.day >= stored.start, ReachDay.day <= stored.end, ReachDay.scope == kind,
                ReachDay.scope_id == scope.id,
            )
        ):  # fmt: skip
            days[day] = visitors
    if live:
        frame = _today_frames(today)["reach"]
        if len(frame):
            hit = frame[(frame["scope"] == kind) & (frame["scope_id"] == scope.id)]
            days[today] = int(hit["visitors"].sum())
    return days if by_day else sum(days.values())


# --- the KPIs ------------------------------------------------------------------------------------


@dataclass
class Funnel:
    invited: int
    activated: int
    shared: int
    regular: int  # shared in REGULAR_WEEKS or more distinct weeks
    employees: int  # active employees now (the rates' base)

    def rate(self, value: int) -> float | None:
        return 100 * value / self.employees if self.employees else None


def funnel(end: date, scope: Scope, today: date | None = None) -> Funnel:
    """Invited -> activated -> shared once -> shared in 3+ weeks, by the end of ``end`` (deactivated left out)."""
    today = today or utcnow().date()
    _start, end_at = rollups.day_bounds(end)
    people = and_(User.status != "deactivated", scope.users())
    invited, activated, employees = db.session.execute(
        select(
            func.count(case((or_(User.invited_at < end_at, User.activated_at < end_at), 1))),
            func.count(case((User.activated_at < end_at, 1))),
            func.count(case((User.status == "active", 1))),
        ).where(people)
    ).one()
    member = and_(Adoption.user_id == User.id, people)
    shared, regular = db.session.execute(
        select(
            func.count(case((Adoption.first_day <= end, 1))),
            func.count(case((Adoption.third_day <= end, 1))),
        ).where(member)
    ).one()
    if end >= today:  # today's first shares and third weeks, from the live tables
        frame = _today_frames(today)["sharer"]
        if len(frame):
            ids = [int(u) for u in frame.loc[frame["shares"] > 0, "user_id"]]
            known = {row.user_id: row for row in db.session.scalars(select(Adoption).where(Adoption.user_id.in_(ids)))}
            eligible = set(db.session.scalars(select(User.id).where(User.id.in_(ids), people)))
            week = rollups.monday(today)
            for user_id in ids:
                if user_id not in eligible:
                    continue
                row = known.get(user_id)
                if row is None or row.first_day > today:
                    shared += 1
                elif (row.third_day is None or row.third_day > today) and row.second_week is not None \
                        and week not in (row.first_week, row.second_week):  # fmt: skip
                    regular += 1
    return Funnel(invited, activated, shared, regular, employees)


def active_employees(scope: Scope) -> int:
    return db.session.scalar(select(func.count(User.id)).where(User.status == "active", scope.users())) or 0


@dataclass
class Totals:
    """The headline figures of one period."""

    shares: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    likes: int = 0
    comments: int = 0
    conversions: int = 0
    conversion_value: float = 0.0
    reach: int = 0
    sharers: int = 0
    weekly_sharers: float = 0.0
    emv: float = 0.0
    by_network: dict[str, dict] = field(default_factory=dict)

    @property
    def clicks_per_share(self) -> float | None:
        return self.unique_clicks / self.shares if self.shares else None


def totals(period: Period, scope: Scope, today: date | None = None, people: pd.DataFrame | None = None) -> Totals:
    """Headline figures of ``period`` (one roll-up query by network, one over people, one for reach)."""
    today = today or utcnow().date()
    settings = get_settings()
    frame = total_sums(period, scope, ("network",), today)
    result = Totals()
    for row in frame.itertuples(index=False):
        figures = {c: getattr(row, c) for c in POST_SUMS}
        network = row.network or ""
        for c in POST_SUMS:
            setattr(result, c, getattr(result, c) + (float(figures[c]) if c == "conversion_value" else int(figures[c])))
        if network:
            cpc = float(settings["cost_per_click"].get(network, 0) or 0)
            emv = int(figures["unique_clicks"]) * cpc
            result.emv += emv
            result.by_network[network] = {"shares": int(figures["shares"]), "clicks": int(figures["clicks"]),
                                          "unique_clicks": int(figures["unique_clicks"]),
                                          "conversions": int(figures["conversions"]), "emv": emv}  # fmt: skip
    if people is None:
        result.sharers = distinct_sharers(period, scope, today)
    else:
        result.sharers = int((people["shares"] > 0).sum()) if len(people) else 0
    weeks = weekly_sharers(period, scope, today)
    n_weeks = len({rollups.monday(period.start + timedelta(days=i)) for i in range(period.days)})
    result.weekly_sharers = sum(weeks.values()) / n_weeks if n_weeks else 0.0
    result.reach = reach(period, scope, today)
    return result


def change(now: float | None, before: float | None) -> float | None:
    """Percent change from ``before`` to ``now`` (None when there was nothing before)."""
    if now is None or before is None or before == 0:
        return None
    return 100 * (now - before) / before


@dataclass
class Contributor:
    user_id: int
    name: str
    hidden: bool
    shares: int
    unique_clicks: int
    conversions: int


def _names(ids: list[int]) -> dict[int, tuple[str, bool]]:
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.display_name, User.hide_from_leaderboards).where(User.id.in_(ids))
    ).all()
    return {uid: (name, hidden) for uid, name, hidden in rows}


def contributors(people: pd.DataFrame, by: str, limit: int = TOP) -> list[Contributor]:
    """The top people by ``shares`` or ``unique_clicks`` (ties by id); hidden people stay counted, unnamed."""
    if not len(people):
        return []
    ranked = people[people[by] > 0].sort_values([by, "user_id"], ascending=[False, True]).head(limit)
    names = _names([int(u) for u in ranked["user_id"]])
    out = []
    for row in ranked.itertuples(index=False):
        name, hidden = names.get(int(row.user_id), ("", False))
        out.append(Contributor(int(row.user_id), name, bool(hidden), int(row.shares), int(row.unique_clicks),
                               int(row.conversions)))  # fmt: skip
    return out


def series(period: Period, scope: Scope, today: date | None = None) -> pd.DataFrame:
    """Per day of the period: shares, clicks, unique clicks, conversions and reach (days without any are 0)."""
    frame = total_sums(period, scope, ("day",), today).set_index("day")
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    frame.index = pd.Index([d if isinstance(d, date) else pd.Timestamp(d).date() for d in frame.index])
    frame = frame.reindex(days, fill_value=0)
    visitors = reach(period, scope, today, by_day=True)
    frame["reach"] = [visitors.get(d, 0) for d in days]
    return frame


def business_figures(months: int = 12, today: date | None = None) -> dict[str, dict[date, float]]:
    """The last ``months`` months of business figures, by kind and month."""
    today = today or utcnow().date()
    first = _month_start(today, months - 1)
    out: dict[str, dict[date, float]] = {}
    for month, kind, value in db.session.execute(
        select(BusinessFigure.month, BusinessFigure.kind, BusinessFigure.value).where(BusinessFigure.month >= first)
    ):
        out.setdefault(kind, {})[month] = float(value)
    return out


def _month_start(today: date, back: int) -> date:
    year, month = today.year, today.month - back
    while month < 1:
        month += 12
        year -= 1
    return date(year, month, 1)


def monthly_activity(months: int = 12, scope: Scope | None = None, today: date | None = None) -> pd.DataFrame:
    """Shares, unique clicks and conversions per month for the last ``months`` months."""
    today = today or utcnow().date()
    first = _month_start(today, months - 1)
    frame = series(Period(first, today), scope or Scope(), today)
    frame["month"] = [date(d.year, d.month, 1) for d in frame.index]
    return frame.groupby("month")[["shares", "unique_clicks", "conversions"]].sum()


# --- content performance ----------------------------------------------------------------------


@dataclass
class AbResult:
    variants: list[dict]  # variant, shares, clicks, per_share
    enough: bool
    z: float | None = None
    p_value: float | None = None
    winner: str | None = None  # "A", "B" or None (no difference beyond noise)


def ab_test(counts: dict[str, tuple[int, int]], min_shares: int = AB_MIN_SHARES) -> AbResult:
    """Compare variants A and B from ``{variant: (shares, unique clicks)}`` (formula: module docstring)."""
    variants = []
    for variant in ("A", "B"):
        shares, clicks = counts.get(variant, (0, 0))
        variants.append({"variant": variant, "shares": int(shares), "clicks": int(clicks),
                         "per_share": clicks / shares if shares else None})  # fmt: skip
    (n_a, c_a), (n_b, c_b) = ((v["shares"], v["clicks"]) for v in variants)
    if min(n_a, n_b) < min_shares:
        return AbResult(variants, enough=False)
    pooled = (c_a + c_b) / (n_a + n_b)
    if pooled == 0:
        return AbResult(variants, enough=True, z=0.0, p_value=1.0)
    z = (c_a / n_a - c_b / n_b) / math.sqrt(pooled * (1 / n_a + 1 / n_b))
    p_value = math.erfc(abs(z) / math.sqrt(2))
    winner = ("A" if z > 0 else "B") if p_value < AB_ALPHA else None
    return AbResult(variants, enough=True, z=z, p_value=p_value, winner=winner)


@dataclass
class Content:
    posts: list[dict]
    networks: list[dict]
    campaigns: list[dict]
    ab_tests: list[tuple[Campaign, AbResult]]
    slots: list[list[float | None]]  # [weekday][hour]: unique clicks per share, None below 3 shares
    best: tuple[int, int] | None  # (weekday, hour)


def _rate(clicks, shares):
    return clicks / shares if shares else None


def content(period: Period, scope: Scope, today: date | None = None, limit: int | None = None) -> Content:
    """Per post, network, campaign and caption variant; the best hour and weekday to share."""
    today = today or utcnow().date()
    by_post = post_sums(period, scope, ("post_id",), today)
    by_post = by_post[(by_post["shares"] > 0) | (by_post["clicks"] > 0) | (by_post["likes"] > 0)
                      | (by_post["comments"] > 0)]  # fmt: skip
    by_post = by_post.sort_values(["unique_clicks", "shares", "post_id"], ascending=[False, False, True])
    if limit:
        by_post = by_post.head(limit)
    ids = [int(i) for i in by_post["post_id"]]
    posts_by_id = {}
    if ids:
        posts_by_id = {
            pid: (title, campaign)
            for pid, title, campaign in db.session.execute(
                select(Post.id, Post.title, Campaign.name).outerjoin(Campaign, Campaign.id == Post.campaign_id)
                .where(Post.id.in_(ids))
            )
        }  # fmt: skip
    posts = []
    for row in by_post.itertuples(index=False):
        title, campaign = posts_by_id.get(int(row.post_id), ("", None))
        posts.append({"post_id": int(row.post_id), "title": title, "campaign": campaign or "",
                      "shares": int(row.shares), "clicks": int(row.clicks), "unique_clicks": int(row.unique_clicks),
                      "per_share": _rate(row.unique_clicks, row.shares), "likes": int(row.likes),
                      "comments": int(row.comments), "conversions": int(row.conversions)})  # fmt: skip
    by_key = post_sums(period, scope, ("network", "campaign_id", "variant"), today)
    networks = []
    shared = by_key[by_key["network"] != ""]
    for network, group in shared.groupby("network"):
        s, u = int(group["shares"].sum()), int(group["unique_clicks"].sum())
        networks.append({"network": network, "shares": s, "clicks": int(group["clicks"].sum()), "unique_clicks": u,
                         "per_share": _rate(u, s), "conversions": int(group["conversions"].sum())})  # fmt: skip
    networks.sort(key=lambda r: (-r["unique_clicks"], r["network"]))
    campaigns, ab_tests = [], []
    with_campaign = shared[shared["campaign_id"].notna()]
    if len(with_campaign):
        ids = [int(c) for c in with_campaign["campaign_id"].unique()]
        rows = {c.id: c for c in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids)))}
        for campaign_id, group in with_campaign.groupby("campaign_id"):
            campaign = rows.get(int(campaign_id))
            if campaign is None:
                continue
            s, u = int(group["shares"].sum()), int(group["unique_clicks"].sum())
            campaigns.append({"campaign_id": campaign.id, "name": campaign.name, "shares": s,
                              "clicks": int(group["clicks"].sum()), "unique_clicks": u, "per_share": _rate(u, s),
                              "conversions": int(group["conversions"].sum())})  # fmt: skip
            if campaign.kind == "ab_test":
                per_variant = group.groupby("variant")[["shares", "unique_clicks"]].sum()
                counts = {v: (int(r["shares"]), int(r["unique_clicks"])) for v, r in per_variant.iterrows()}
                ab_tests.append((campaign, ab_test(counts)))
    campaigns.sort(key=lambda r: (-r["unique_clicks"], r["name"]))
    slots, best = best_times(period, today)
    return Content(posts, networks, campaigns, ab_tests, slots, best)


def best_times(period: Period, today: date | None = None, min_shares: int = 3):
    """Unique clicks per share by weekday and hour of the share (company time), and the best slot."""
    today = today or utcnow().date()
    stored, live = _split(period, today)
    parts = []
    if stored is not None:
        rows = db.session.execute(
            select(SlotDay.weekday, SlotDay.hour, func.sum(SlotDay.shares), func.sum(SlotDay.unique_clicks))
            .where(SlotDay.day >= stored.start, SlotDay.day <= stored.end)
            .group_by(SlotDay.weekday, SlotDay.hour)
        ).all()
        parts.append(pd.DataFrame(rows, columns=["weekday", "hour", "shares", "unique_clicks"]))
    if live:
        frame = _today_frames(today)["slot"]
        if len(frame):
            parts.append(frame[["weekday", "hour", "shares", "unique_clicks"]])
    grid: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    best, best_rate = None, -1.0
    if parts:
        frame = pd.concat(parts, ignore_index=True).groupby(["weekday", "hour"])[["shares", "unique_clicks"]].sum()
        for (weekday, hour), row in frame.iterrows():
            shares = int(row["shares"])
            if shares >= min_shares:
                rate = int(row["unique_clicks"]) / shares
                grid[int(weekday)][int(hour)] = rate
                if rate > best_rate:
                    best, best_rate = (int(weekday), int(hour)), rate
    return grid, best


def campaign_ab(campaign: Campaign) -> AbResult:
    """The campaign page's A/B test over the campaign's whole life (live tables; one campaign is small)."""
    from app.content.models import Share
    from app.tracking.models import Click, TrackedLink

    shares = dict(
        db.session.execute(
            select(Share.variant, func.count(Share.id)).join(Post, Post.id == Share.post_id)
            .where(Post.campaign_id == campaign.id).group_by(Share.variant)
        ).all()
    )  # fmt: skip
    clicks = dict(
        db.session.execute(
            select(TrackedLink.variant, func.count(Click.id)).join(TrackedLink, TrackedLink.id == Click.link_id)
            .join(Post, Post.id == Click.post_id)
            .where(Post.campaign_id == campaign.id, Click.is_unique.is_(True))
            .group_by(TrackedLink.variant)
        ).all()
    )  # fmt: skip
    return ab_test({v: (shares.get(v, 0), clicks.get(v, 0)) for v in ("A", "B")})
