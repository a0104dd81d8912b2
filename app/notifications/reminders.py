"""Streak reminders: an hourly task tells each person whose streak is at risk, once per streak period.

Who is at risk comes from ``app.gamification.streaks.at_risk`` (one query). Each reminder is a
notification with the dedupe key ``streak:<user>:<period key>``, so the hourly runs of one period
remind a person once, and topic ``streak``, so a newer reminder replaces an older one on the phone.
Quiet hours and the daily cap apply as to any non-urgent push (``tasks._decide``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from huey import crontab
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.notifications import services
from app.notifications.tasks import _own_session
from app.tasks import app_periodic_task
from app.timeutil import utcnow


def reminder_text(current: int, period: str) -> services.Message:
    """What a streak reminder says (in the current locale)."""
    if period == "daily":
        return services.Message(
            ngettext("Your streak of %(num)d day ends tonight", "Your streak of %(num)d days ends tonight", current),
            _("Share a post before midnight to keep it going."),
        )
    return services.Message(
        ngettext("Your streak of %(num)d week ends on Sunday", "Your streak of %(num)d weeks ends on Sunday", current),
        _("Share a post before midnight on Sunday to keep it going."),
    )


def remind_streaks(now: datetime | None = None) -> int:
    """Remind everyone whose streak is at risk at ``now`` (once per period each); how many were new."""
    from app.gamification import streaks

    now = now or utcnow()
    found = {risk.user_id: risk for risk in streaks.at_risk(now)}
    if not found:
        return 0
    people = db.session.scalars(select(User).where(User.id.in_(sorted(found)))).all()
    groups: dict[tuple[int, str], list[User]] = defaultdict(list)
    for person in people:
        risk = found[person.id]
        groups[(risk.current, risk.period)].append(person)
    url = services.link("main.feed")
    made = 0
    for (current, period), group in sorted(groups.items()):
        made += len(
            services.notify_many(
                group,
                "streak",
                lambda current=current, period=period: reminder_text(current, period),
                url,
                topic="streak",
                dedupe=lambda person: f"streak:{person.id}:{found[person.id].key}",
            )
        )
    return made


@app_periodic_task(crontab(minute="5"))  # hourly
@_own_session
def streak_reminders() -> int:
    """The hourly run (a Huey periodic task)."""
    made = remind_streaks()
    db.session.commit()
    return made
