"""Periodic gamification work: monthly top badges."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab

from app.tasks import app_periodic_task
from app.timeutil import utcnow


@app_periodic_task(crontab(minute="15", hour="0", day="1"))
def award_monthly_top() -> int:
    """On the 1st, give "top N of a month" badges for the month that just ended (idempotent)."""
    return award_top_of_month(utcnow() - timedelta(days=1))


def award_top_of_month(day_in_month) -> int:
    """Grant every active top-month badge to people ranked within its threshold that month."""
    from sqlalchemy import select

    from app.extensions import db
    from app.gamification import badges
    from app.gamification.models import BadgeDefinition, PeriodScore
    from app.gamification.periods import board_keys

    badges.ensure_builtin()
    key = board_keys(day_in_month)["month"]
    granted = 0
    for badge in db.session.scalars(
        select(BadgeDefinition).where(BadgeDefinition.condition == "top_month", BadgeDefinition.active.is_(True))
    ):
        rows = db.session.execute(
            select(PeriodScore.user_id, PeriodScore.points)
            .where(PeriodScore.period == "month", PeriodScore.period_key == key, PeriodScore.active.is_(True),
                   PeriodScore.points > 0)
            .order_by(PeriodScore.points.desc(), PeriodScore.reached_at, PeriodScore.user_id)
            .limit(badge.threshold * 3)
        ).all()  # fmt: skip
        previous, rank = None, 0
        for position, (user_id, points) in enumerate(rows, start=1):
            if points != previous:
                rank, previous = position, points
            if rank > badge.threshold:
                break
            granted += badges.grant(user_id, badge)
    return granted
