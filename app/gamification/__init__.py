"""Gamification: the points ledger, rules and caps, streaks, badges, leaderboards and the profile."""

from flask import Blueprint, Flask

bp = Blueprint("gamification", __name__)


def init_app(app: Flask) -> None:
    """Mount the leaderboard and points pages, subscribe to the events that earn points, add the tasks."""
    from app.gamification import listeners, routes, tasks  # noqa: F401  (routes attach to bp; tasks to Huey)

    app.register_blueprint(bp)
    listeners.connect()
