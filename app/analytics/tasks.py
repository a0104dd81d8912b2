"""Analytics tasks: the nightly roll-ups (and any day missed) and the weekly report e-mail to admins."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import crontab
from sqlalchemy import select

from app.accounts.models import User, UserRole
from app.analytics import kpis, rollups, services
from app.analytics.models import ReportSettings
from app.extensions import db
from app.tasks import app_periodic_task
from app.timeutil import utcnow

log = logging.getLogger("herald.analytics")

CATCH_UP_DAYS = 31  # at most this many missed days per run (a new install with history catches up hour by hour)
REPORT_WEEKDAY, REPORT_HOUR = 0, 8  # Monday from 08:00, company time


def roll_up(today: date | None = None) -> int:
    """Rebuild yesterday (late clicks arrive until the spool drains) and days never rolled up; how many days."""
    today = today or utcnow().date()
    days = sorted({today - timedelta(days=1), *rollups.missing_days(today)[-CATCH_UP_DAYS:]})
    for day in days:
        rollups.rebuild_day(day)
        db.session.commit()
    services.forget_today()
    return len(days)


@app_periodic_task(crontab(minute="15"))
def roll_up_task() -> None:
    roll_up()


def week_key(monday: date) -> str:
    year, week, _day = monday.isocalendar()
    return f"{year}-W{week:02d}"


def report_week(now: datetime) -> date | None:
    """The Monday of the week to report on at ``now`` (last week), once this week's Monday 08:00 has passed."""
    zone = ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])
    local = now.astimezone(zone)
    this_monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(this_monday, time(REPORT_HOUR), tzinfo=zone):
        return None
    return this_monday - timedelta(days=7)


def recipients() -> list[User]:
    """Active admins who have not turned the report off."""
    return list(
        db.session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .outerjoin(ReportSettings, ReportSettings.user_id == User.id)
            .where(UserRole.role == "admin", User.status == "active", User.is_demo.is_(False),
                   (ReportSettings.weekly_report.is_(None)) | (ReportSettings.weekly_report.is_(True)))
            .order_by(User.id)
        )
    )  # fmt: skip


def send_reports(now: datetime | None = None) -> int:
    """E-mail last week's figures to every admin due (once per week each); how many were sent."""
    from app.mail import send_mail
    from app.notifications.services import absolute, link

    now = now or utcnow()
    monday = report_week(now)
    if monday is None:
        return 0
    key = week_key(monday)
    period = services.Period(monday, monday + timedelta(days=6))
    people = [u for u in recipients() if (s := db.session.get(ReportSettings, u.id)) is None or s.last_sent_week != key]
    if not people:
        return 0
    d = kpis.dashboard(period, services.Scope(), today=now.date())
    url = absolute(link("analytics.dashboard", period="custom", start=period.start.isoformat(),
                        end=period.end.isoformat()))  # fmt: skip
    settings_url = absolute(link("analytics.dashboard") + "#h-report")
    sent = 0
    for user in people:
        row = db.session.get(ReportSettings, user.id)
        if row is None:
            row = ReportSettings(user_id=user.id, weekly_report=True)
            db.session.add(row)
        row.last_sent_week = key
        with force_locale(user.locale or "en"):
            send_mail(user.email, _("Herald: your advocacy week in figures"), "analytics_report", user=user, d=d,
                      rows=kpis.kpi_rows(d), url=url, settings_url=settings_url)  # fmt: skip
        db.session.commit()
        sent += 1
    return sent


@app_periodic_task(crontab(minute="5"))
def weekly_report_task() -> None:
    try:
        send_reports()
    except Exception:
        log.exception("weekly analytics report failed")
        raise
