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
