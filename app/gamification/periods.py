"""Period keys: days and ISO weeks in a person's own time zone, months for boards.

Keys are strings that sort in time order (``2026-11-28``, ``2026-W48``,
``2026-11``). Local calendar arithmetic goes through ``zoneinfo``, so a day
that is 23 or 25 hours long (a DST change) is still one day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

BOARD_PERIODS = ("week", "month", "all")


def local_date(when: datetime, tz: str) -> date:
    """The calendar date at ``when`` in time zone ``tz``."""
    return when.astimezone(ZoneInfo(tz)).date()


def day_key(when: datetime, tz: str) -> str:
    """``YYYY-MM-DD`` in ``tz``."""
    return local_date(when, tz).isoformat()


def week_key_of(d: date) -> str:
    """``YYYY-Www`` (ISO week, Monday first)."""
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def streak_key(when: datetime, tz: str, period: str) -> str:
    """The streak period ``when`` falls in, in ``tz``: a day or an ISO week."""
    d = local_date(when, tz)
    return d.isoformat() if period == "daily" else week_key_of(d)


def key_start(key: str, period: str) -> date:
    """The first local day of a streak period key."""
    if period == "daily":
        return date.fromisoformat(key)
    year, week = key.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def shift(key: str, period: str, n: int) -> str:
    """The key ``n`` periods after (or before, when negative) ``key``."""
    start = key_start(key, period)
    if period == "daily":
        return (start + timedelta(days=n)).isoformat()
    return week_key_of(start + timedelta(weeks=n))


def periods_between(earlier: str, later: str, period: str) -> int:
    """How many periods ``later`` is after ``earlier`` (1 for consecutive periods)."""
    days = (key_start(later, period) - key_start(earlier, period)).days
    return days if period == "daily" else days // 7


def period_end(key: str, period: str, tz: str) -> datetime:
    """The moment (aware UTC) the period ends in ``tz``."""
    start = key_start(key, period)
    end_day = start + (timedelta(days=1) if period == "daily" else timedelta(weeks=1))
    return datetime.combine(end_day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def program_timezone() -> str:
    """The time zone company-wide boards use for "this week" and "this month"."""
    return current_app.config["DEFAULT_TIMEZONE"]


def board_keys(when: datetime) -> dict[str, str]:
    """The week, month and all-time keys of the boards at ``when``."""
    d = local_date(when, program_timezone())
    return {"week": week_key_of(d), "month": f"{d.year}-{d.month:02d}", "all": "all"}
