"""Notifications: Web Push to phones, the notification centre, calls to action, reminders and the digest.

Other features emit events (``app/events.py``); this package listens and never gets imported by
them. Every notification is a row (the centre shows it, the bell counts it) and may be pushed
to the person's devices through ``app.notifications.tasks`` (at most once per device).
"""

from flask import Blueprint, Flask

bp = Blueprint("notifications", __name__)


def init_app(app: Flask) -> None:
    """Mount the centre, settings, subscription and call-to-action pages; listen to events; add the tasks.

    Also the streak reminders and the weekly digest (its unsubscribe page attaches to bp).
    """
    from app.notifications import digest, listeners, models, reminders, routes, tasks  # noqa: F401

    app.register_blueprint(bp)
    listeners.connect()
    if app.config["HERALD_ENV"] == "production":
        refuse_a_lost_vapid_key(app)


def refuse_a_lost_vapid_key(app: Flask) -> None:
    """Production must not start with a new VAPID key while devices are subscribed with the old one.

    A new key would be generated on the first push and every existing subscription would
    silently stop receiving (push services tie a subscription to its key). A database without
    the table yet (before ``flask db upgrade``) has no subscriptions; any other database error
    stops the start, as guessing "none" could cost every subscription.
    """
    from sqlalchemy import func, inspect, select

    from app import InsecureConfiguration
    from app.extensions import db
    from app.notifications import vapid
    from app.notifications.models import PushSubscription

    if app.config.get("VAPID_PRIVATE_KEY") or vapid.key_path(app.config["INSTANCE_PATH"]).exists():
        return  # the usual case: no query at all
    with app.app_context():
        try:
            table = PushSubscription.__table__.name
            found = inspect(db.engine).has_table(table)
            subscriptions = db.session.scalar(select(func.count()).select_from(PushSubscription)) if found else 0
        finally:
            db.session.remove()
            db.engine.dispose()  # no connection left in the pool for a forking server to share
    problem = vapid.production_problem(app.config, subscriptions or 0)
    if problem:
        raise InsecureConfiguration("Herald refuses to start in production mode:\n  - " + problem)
