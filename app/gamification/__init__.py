"""Gamification: the points ledger, rules and caps, streaks, badges, leaderboards and the profile."""

from flask import Blueprint

bp = Blueprint("gamification", __name__)

from app.gamification import listeners, routes, tasks  # noqa: E402,F401

listeners.connect()
