"""Daily roll-ups: one UTC day of shares, clicks, likes, comments and conversions, summed per key.

``compute_day`` reads the live tables for one day (by their indexed timestamps) and returns
the rows of the five roll-up tables; ``rebuild_day`` replaces that day's rows with them, so a
rebuild is idempotent and may run for any range (``flask analytics rebuild``). The dashboard
asks ``compute_day`` for today (nothing is written) and the tables for every earlier day.

Counting rules (the same in both paths, so a roll-up equals the raw rows):

- a share is a ``share`` row created that day (a re-share of the same post to the same network
  is not a new share);
- a click is a visit through a tracked link that was neither a bot nor the sharer's own; a
  unique click is the first of its visitor on that link that day (``Click.is_unique``);
- reach is the number of distinct visitor hashes of the day's clicks (hashes are salted per
  day, so days add up);
- likes and comments are those made in Herald that day (removed comments are not counted);
- department and location are the sharer's (the liker's, the commenter's) at roll-up time, 0
  for none; a rebuild after someone moved departments moves their history with them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from flask import current_app
from sqlalchemy import and_, delete, false, insert, select

from app.accounts.models import User
from app.analytics.models import Adoption, Conversion, PostDay, ReachDay, RollupState, SharerDay, SlotDay, TotalDay
from app.content.models import Comment, Post, PostLike, Share
from app.extensions import db
from app.timeutil import utcnow
from app.tracking.models import Click, TrackedLink

POST_KEY = ["post_id", "network", "variant"]
POST_SUMS = ["shares", "clicks", "unique_clicks", "likes", "comments", "conversions", "conversion_value"]
SHARER_SUMS = ["shares", "unique_clicks", "conversions"]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which ``day`` starts and the next one starts."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def monday(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _frame(statement, columns: list[str]) -> pd.DataFrame:
    rows = db.session.execute(statement).all()
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("department_id", "location_id"):
        if column in frame:
            frame[column] = frame[column].fillna(0).astype("int64")
    return frame


def _clicks(start: datetime, end: datetime) -> pd.DataFrame:
    statement = (
        select(
            Click.post_id, Click.network, TrackedLink.variant, Click.sharer_id, User.department_id,
            User.location_id, Post.campaign_id, Click.is_unique, Click.visitor_hash, Share.created_at,
        )
        .join(TrackedLink, TrackedLink.id == Click.link_id)
        .join(User, User.id == Click.sharer_id)
        .join(Post, Post.id == Click.post_id)
        .outerjoin(Share, Share.link_id == Click.link_id)
        .where(Click.clicked_at >= start, Click.clicked_at < end, Click.is_bot == false(), Click.is_self == false())
    )  # fmt: skip
    return _frame(statement, ["post_id", "network", "variant", "user_id", "department_id", "location_id",
                              "campaign_id", "is_unique", "visitor_hash", "shared_at"])  # fmt: skip


def _shares(start: datetime, end: datetime) -> pd.DataFrame:
    statement = (
        select(Share.post_id, Share.network, Share.variant, Share.user_id, User.department_id, User.location_id,
               Post.campaign_id, Share.created_at)
        .join(User, User.id == Share.user_id)
        .join(Post, Post.id == Share.post_id)
        .where(Share.created_at >= start, Share.created_at < end)
    )  # fmt: skip
    return _frame(statement, ["post_id", "network", "variant", "user_id", "department_id", "location_id",
                              "campaign_id", "shared_at"])  # fmt: skip


def _reactions(model, start: datetime, end: datetime) -> pd.DataFrame:
    statement = (
        select(model.post_id, User.department_id, User.location_id, Post.campaign_id)
        .join(User, User.id == model.user_id)
        .join(Post, Post.id == model.post_id)
        .where(model.created_at >= start, model.created_at < end)
    )
    if model is Comment:
        statement = statement.where(Comment.removed_at.is_(None))
    return _frame(statement, ["post_id", "department_id", "location_id", "campaign_id"])


def _conversions(day: date) -> pd.DataFrame:
    statement = (
        select(Conversion.post_id, Conversion.network, TrackedLink.variant, Conversion.sharer_id,
               User.department_id, User.location_id, Post.campaign_id, Conversion.value)
        .join(TrackedLink, TrackedLink.id == Conversion.link_id)
        .join(User, User.id == Conversion.sharer_id)
        .join(Post, Post.id == Conversion.post_id)
        .where(Conversion.day == day)
    )  # fmt: skip
    frame = _frame(statement, ["post_id", "network", "variant", "user_id", "department_id", "location_id",
                               "campaign_id", "value"])  # fmt: skip
    frame["value"] = frame["value"].astype("float64").fillna(0.0)
    return frame


def _company_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])


def _local_slots(instants: pd.Series, zone: ZoneInfo) -> pd.DataFrame:
    local = pd.to_datetime(instants, utc=True).dt.tz_convert(zone)
    return pd.DataFrame({"weekday": local.dt.day_of_week, "hour": local.dt.hour})


def compute_day(day: date) -> dict[str, list[dict]]:
    """The roll-up rows of ``day`` from the live tables: ``{"post": [...], "sharer": [...], "reach": [...],
    "slot": [...]}``, each row a dict of the table's columns."""
    start, end = day_bounds(day)
    clicks, shares = _clicks(start, end), _shares(start, end)
    likes, comments = _reactions(PostLike, start, end), _reactions(Comment, start, end)
    conversions = _conversions(day)

    parts = []
    if len(shares):
        parts.append(shares.assign(shares=1))
    if len(clicks):
        parts.append(clicks.assign(clicks=1, unique_clicks=clicks["is_unique"].astype("int64")))
    for frame, column in ((likes, "likes"), (comments, "comments")):
        if len(frame):
            parts.append(frame.assign(network="", variant="A", **{column: 1}))
    if len(conversions):
        parts.append(conversions.assign(conversions=1, conversion_value=conversions["value"]))
    post_rows: list[dict] = []
    total_rows: list[dict] = []
    if parts:
        frame = pd.concat(parts, ignore_index=True)
        for column in POST_SUMS:
            frame[column] = frame[column].fillna(0) if column in frame else 0
        frame["campaign_id"] = frame["campaign_id"].astype("float64")
        total_rows = _scoped(day, frame, ["network"])
        post_rows = _scoped(day, frame, POST_KEY, campaign=True)

    sharer_parts = []
    if len(shares):
        sharer_parts.append(shares[["user_id", "department_id", "location_id"]].assign(shares=1))
    if len(clicks):
        unique = clicks[clicks["is_unique"].astype(bool)]
        sharer_parts.append(unique[["user_id", "department_id", "location_id"]].assign(unique_clicks=1))
    if len(conversions):
        sharer_parts.append(conversions[["user_id", "department_id", "location_id"]].assign(conversions=1))
    sharer_rows: list[dict] = []
    if sharer_parts:
        frame = pd.concat(sharer_parts, ignore_index=True)
        for column in SHARER_SUMS:
            frame[column] = frame[column].fillna(0) if column in frame else 0
        sums = frame.groupby(["user_id", "department_id", "location_id"])[SHARER_SUMS].sum()
        week = monday(day)
        for (user_id, department_id, location_id), row in sums.iterrows():
            sharer_rows.append({"day": day, "user_id": int(user_id), "week": week, "department_id": int(department_id),
                                "location_id": int(location_id), **{c: int(row[c]) for c in SHARER_SUMS}})  # fmt: skip

    reach_rows: list[dict] = []
    if len(clicks):
        visitors = int(clicks["visitor_hash"].nunique())
        reach_rows.append({"day": day, "scope": "all", "scope_id": 0, "visitors": visitors})
        for scope, column in (("department", "department_id"), ("location", "location_id")):
            for scope_id, n in clicks.groupby(column)["visitor_hash"].nunique().items():
                if scope_id:
                    reach_rows.append({"day": day, "scope": scope, "scope_id": int(scope_id), "visitors": int(n)})

    slot_parts = []
    zone = _company_zone()
    if len(shares):
        slot_parts.append(_local_slots(shares["shared_at"], zone).assign(shares=1, unique_clicks=0))
    if len(clicks):
        attributed = clicks[clicks["is_unique"].astype(bool) & clicks["shared_at"].notna()]
        if len(attributed):
            slot_parts.append(_local_slots(attributed["shared_at"], zone).assign(shares=0, unique_clicks=1))
    slot_rows: list[dict] = []
    if slot_parts:
        sums = pd.concat(slot_parts, ignore_index=True).groupby(["weekday", "hour"])[["shares", "unique_clicks"]].sum()
        for (weekday, hour), row in sums.iterrows():
            slot_rows.append({"day": day, "weekday": int(weekday), "hour": int(hour),
                              "shares": int(row["shares"]), "unique_clicks": int(row["unique_clicks"])})  # fmt: skip
    return {"post": post_rows, "total": total_rows, "sharer": sharer_rows, "reach": reach_rows, "slot": slot_rows}


def _scoped(day: date, frame: pd.DataFrame, keys: list[str], campaign: bool = False) -> list[dict]:
    """The day's sums by ``keys`` for everyone, each department and each location (0: none, in "all" only)."""
    rows = []
    for scope, column in (("all", None), ("department", "department_id"), ("location", "location_id")):
        group_keys = keys if column is None else [column, *keys]
        grouped = frame.groupby(group_keys)
        sums = grouped[POST_SUMS].sum()
        if campaign:
            sums["campaign_id"] = grouped["campaign_id"].first()
        for key, row in sums.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            scope_id = 0 if column is None else int(key[0])
            if column is not None and not scope_id:
                continue
            record = {"day": day, "scope": scope, "scope_id": scope_id}
            record.update(zip(keys, key if column is None else key[1:], strict=True))
            record.update({c: int(row[c]) for c in POST_SUMS if c != "conversion_value"})
            record["conversion_value"] = round(float(row["conversion_value"]), 2)
            if campaign:
                record["post_id"] = int(record["post_id"])
                record["campaign_id"] = None if pd.isna(row["campaign_id"]) else int(row["campaign_id"])
            rows.append(record)
    return rows


TABLES = {"post": PostDay, "total": TotalDay, "sharer": SharerDay, "reach": ReachDay, "slot": SlotDay}


def rebuild_day(day: date) -> dict[str, int]:
    """Replace ``day``'s roll-up rows with a fresh computation; return how many rows each table got.

    The caller commits (one transaction per day: a reader sees the old rows or the new ones).
    """
    computed = compute_day(day)
    sharers = set(db.session.scalars(select(SharerDay.user_id).where(SharerDay.day == day, SharerDay.shares > 0)))
    sharers.update(r["user_id"] for r in computed["sharer"] if r["shares"] > 0)
    counts = {}
    for name, model in TABLES.items():
        db.session.execute(delete(model).where(model.day == day))
        rows = computed[name]
        for offset in range(0, len(rows), 500):
            db.session.execute(insert(model), rows[offset : offset + 500])
        counts[name] = len(rows)
    update_adoption(sorted(sharers))
    state = db.session.get(RollupState, day)
    if state is None:
        db.session.add(RollupState(day=day, built_at=utcnow()))
    else:
        state.built_at = utcnow()
    db.session.flush()
    return counts


def update_adoption(user_ids: list[int]) -> None:
    """Recompute the funnel position (``Adoption``) of these people from their whole ``SharerDay`` history."""
    for offset in range(0, len(user_ids), 500):
        chunk = user_ids[offset : offset + 500]
        history: dict[int, list[date]] = {}
        for user_id, day in db.session.execute(
            select(SharerDay.user_id, SharerDay.day)
            .where(SharerDay.user_id.in_(chunk), SharerDay.shares > 0)
            .order_by(SharerDay.user_id, SharerDay.day)
        ):
            history.setdefault(user_id, []).append(day)
        db.session.execute(delete(Adoption).where(Adoption.user_id.in_(chunk)))
        rows = []
        for user_id, days in history.items():
            weeks: list[date] = []
            third_day = None
            for day in days:
                week = monday(day)
                if week not in weeks:
                    weeks.append(week)
                    if len(weeks) == 3:
                        third_day = day
                        break
            rows.append({"user_id": user_id, "first_day": days[0], "first_week": weeks[0],
                         "second_week": weeks[1] if len(weeks) > 1 else None, "third_day": third_day})  # fmt: skip
        if rows:
            db.session.execute(insert(Adoption), rows)


def rebuild(first: date, last: date, *, commit_each: bool = True, progress=None) -> int:
    """Rebuild every day from ``first`` to ``last`` (inclusive); return the number of days."""
    if last < first:
        raise ValueError("the last day is before the first")
    day, days = first, 0
    while day <= last:
        counts = rebuild_day(day)
        if commit_each:
            db.session.commit()
        if progress:
            progress(day, counts)
        day += timedelta(days=1)
        days += 1
    return days


def missing_days(today: date, lookback: int = 400) -> list[date]:
    """Days before ``today`` (up to ``lookback`` back, from the first activity on) never rolled up."""
    first = db.session.scalar(select(Share.created_at).order_by(Share.created_at).limit(1))
    first_click = db.session.scalar(select(Click.day).order_by(Click.clicked_at).limit(1))
    starts = [d for d in ((first.date() if first else None), first_click) if d]
    if not starts:
        return []
    start = max(min(starts), today - timedelta(days=lookback))
    built = set(
        db.session.scalars(select(RollupState.day).where(and_(RollupState.day >= start, RollupState.day < today)))
    )
    out, day = [], start
    while day < today:
        if day not in built:
            out.append(day)
        day += timedelta(days=1)
    return out
