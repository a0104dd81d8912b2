"""What notifies: receivers of other features' events (those features never import this package)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app import events
from app.accounts.models import User
from app.extensions import db
from app.notifications import services
from app.notifications.services import Message

REDEMPTION_TEXT = {
    "approved": lambda title: Message(
        _("Your reward is approved"), _("“%(title)s” is on its way to you.", title=title)
    ),
    "shipped": lambda title: Message(
        _("Your reward has shipped"), _("“%(title)s” has left the building.", title=title)
    ),
    "delivered": lambda title: Message(_("Your reward was delivered"), _("Enjoy “%(title)s”!", title=title)),
    "rejected": lambda title: Message(
        _("Your reward request was declined"), _("“%(title)s”: your points are back on your balance.", title=title)
    ),
}


def on_redemption_changed(sender, redemption, status, actor=None, **_kw):
    """Reward updates: approved, shipped, delivered, declined (not the employee's own request or cancel)."""
    text = REDEMPTION_TEXT.get(status)
    if text is None:
        return
    user = db.session.get(User, redemption.user_id)
    title = redemption.reward.title if redemption.reward else ""
    services.notify(
        user,
        "rewards",
        lambda: text(title),
        services.link("rewards.redemption", redemption_id=redemption.id),
        dedupe=f"redemption:{redemption.id}:{status}",
    )


def on_kudos_received(sender, kudos, **_kw):
    """Kudos from a colleague."""
    user = db.session.get(User, kudos.recipient_id)
    name = kudos.sender.display_name if kudos.sender else ""

    def message():
        if kudos.points:
            return Message(
                _("Kudos from %(name)s", name=name),
                _("%(message)s (+%(points)d points)", message=kudos.message, points=kudos.points),
            )
        return Message(_("Kudos from %(name)s", name=name), kudos.message)

    services.notify(user, "kudos", message, services.link("rewards.kudos_wall"), dedupe=f"kudos:{kudos.id}")


def on_badge_earned(sender, user_id, badge_id, **_kw):
    """A badge unlocked."""
    from app.gamification import badges
    from app.gamification.models import BadgeDefinition

    badge = db.session.get(BadgeDefinition, badge_id)
    user = db.session.get(User, user_id)
    if badge is None or user is None:
        return
    services.notify(
        user,
        "badges",
        lambda: Message(
            _("Badge unlocked: %(name)s", name=badges.display_name(badge)), badges.display_description(badge)
        ),
        services.link("accounts.me"),
        dedupe=f"badge:{user_id}:{badge_id}",
    )


def on_post_published(sender, post, **_kw):
    """New posts: at most one "new posts" push a day per person (queued; the audience may be large)."""
    from app.notifications import tasks
    from app.tasks import enqueue_after_commit

    enqueue_after_commit(tasks.new_post, post.id)


def _people(user_ids) -> list[User]:
    if not user_ids:
        return []
    return list(db.session.scalars(select(User).where(User.id.in_(list(user_ids)), User.status == "active")))


def on_survey_opened(sender, wave, survey, user_ids, **_kw):
    """A new survey for me."""
    services.notify_many(
        _people(user_ids),
        "surveys",
        lambda: Message(
            _("New survey: %(title)s", title=survey.title),
            _("Anonymous, a few minutes.") if survey.anonymous else _("A few minutes of your time."),
        ),
        services.link("surveys.answer", wave_id=wave.id),
        dedupe=lambda u: f"survey:{wave.id}:{u.id}",
    )


def on_survey_reminder(sender, wave, survey, user_ids, **_kw):
    """A survey still waiting for my answers."""
    services.notify_many(
        _people(user_ids),
        "surveys",
        lambda: Message(_("Reminder: %(title)s", title=survey.title), _("Your answers are still missing.")),
        services.link("surveys.answer", wave_id=wave.id),
        dedupe=lambda u: f"survey-reminder:{wave.id}:{u.id}",
    )


def connect() -> None:
    """Subscribe to the events (idempotent)."""
    events.redemption_changed.connect(on_redemption_changed)
    events.kudos_received.connect(on_kudos_received)
    events.badge_earned.connect(on_badge_earned)
    events.post_published.connect(on_post_published)
    events.survey_opened.connect(on_survey_opened)
    events.survey_reminder.connect(on_survey_reminder)
