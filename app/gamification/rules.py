"""Program settings: point rules, caps, streak period and leaderboard switches.

Stored as JSON rows in ``program_setting``; defaults fill anything missing. A
change applies to points earned from then on: nothing already in the ledger is
recomputed.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.gamification.models import ProgramSetting
from app.timeutil import utcnow

ACTIONS = (
    "share", "click", "like", "comment", "survey", "cta_bonus", "suggestion", "streak_milestone", "kudos", "conversion",
)  # fmt: skip

DEFAULT_RULES: dict = {
    # A unique click is the real reach, so it is worth more than the share itself.
    "points": {
        "share": 5,
        "click": 10,
        "like": 1,
        "comment": 2,
        "survey": 20,
        "cta_bonus": 15,
        "suggestion": 15,
        "streak_milestone": 25,
        # A lead, application or sign-up the company's site reported through the sharer's link
        # (with an API token or an import; a pixel report earns nothing: anyone can load a pixel).
        "conversion": 25,
    },
    # Per local day. "count": how many actions earn points; "points": most points from that action.
    "caps": {
        "share": {"count": 10},
        "click": {"points": 300},
        "like": {"count": 10},
        "comment": {"count": 10},
        "conversion": {"count": 5},
        "total": {"points": 600},
    },
    "streak": {"period": "weekly", "milestones": [4, 12, 26, 52], "freeze_every": 4, "max_freezes": 2},
    "boards": {"individual": True, "teams": True},
}

_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, dict]] = {}


def _merge(defaults: dict, stored: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in (stored or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def get_rules() -> dict:
    """The current rules (defaults merged with what admins saved), cached for a few seconds per process."""
    cache_key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    hit = _cache.get(cache_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    row = db.session.scalar(select(ProgramSetting).where(ProgramSetting.key == "rules"))
    rules = _merge(DEFAULT_RULES, row.value if row else {})
    _cache[cache_key] = (time.monotonic() + _CACHE_SECONDS, rules)
    return rules


def save_rules(rules: dict, actor) -> None:
    """Store new rules; they apply from now on."""
    row = db.session.get(ProgramSetting, "rules")
    if row is None:
        row = ProgramSetting(key="rules", value=rules)
        db.session.add(row)
    row.value = rules
    row.updated_at = utcnow()
    row.updated_by_id = getattr(actor, "id", None)
    db.session.flush()
    forget_cache()


def forget_cache() -> None:
    """Drop cached rules (tests and the settings page call this)."""
    _cache.clear()


def rules_changed_at() -> datetime | None:
    """When the rules were last changed (shown on the settings page)."""
    row = db.session.get(ProgramSetting, "rules")
    return row.updated_at if row else None
