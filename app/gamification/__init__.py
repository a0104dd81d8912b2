"""Gamification: the points ledger, rules and caps, streaks, badges, leaderboards and the profile."""

from flask import Blueprint, Flask

bp = Blueprint("gamification", __name__)


def init_app(app: Flask) -> None:
    """Mount the leaderboard and points pages, subscribe to the events that earn points, add the tasks."""
    from app import caches
    from app.gamification import admin_routes, badges, leaderboard, listeners, routes, rules, tasks  # noqa: F401

    app.register_blueprint(bp)
    listeners.connect()
    caches.register(app, "point rules", rules.forget_cache)
    caches.register(app, "badges", badges.forget_cache)
    caches.register(app, "leaderboard members", leaderboard.forget_members_cache)
