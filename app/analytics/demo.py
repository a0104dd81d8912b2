"""The demo company's analytics: a year of monthly business figures and today's roll-ups."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import func, select

from app.accounts.models import User
from app.analytics import figures, tasks
from app.analytics.models import BusinessFigure
from app.extensions import db
from app.timeutil import utcnow


def _months_back(today: date, n: int) -> list[date]:
    months, year, month = [], today.year, today.month
    for _ in range(n):
        months.append(date(year, month, 1))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(months))


def seed_demo_analytics(admin: User, employees: list[User], print_fn) -> None:
    """Twelve months of sales and new hires (once), then roll up the days the demo's clicks fell on."""
    if not db.session.scalar(select(func.count()).select_from(BusinessFigure)):
        rng = random.Random(7)
        sales = 180_000.0
        for month in _months_back(utcnow().date(), 12):
            sales *= 1 + rng.uniform(-0.04, 0.09)
            figures.save(month, "sales", round(sales, 2))
            figures.save(month, "hires", rng.randint(3, 14))
        print_fn("Demo analytics: 12 months of sales and new hires.")
    days = tasks.roll_up()
    db.session.commit()
    print_fn(f"Demo analytics: {days} day(s) rolled up; today's figures are live.")
