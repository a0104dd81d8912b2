"""Gamification listens to what happened elsewhere and writes points, streaks and badges.

Each receiver runs inside the emitting transaction, and each award carries an
idempotency key derived from the event, so an event delivered twice (a retried
request, a re-ingested click) awards once.
"""

from __future__ import annotations

from flask import g, has_request_context

from app import events, rawsql
from app.accounts.models import User
from app.extensions import db
from app.gamification import badges, ledger, streaks
from app.gamification.rules import get_rules
from app.timeutil import utcnow


def _multiplier(post) -> int:
    """Campaign and call-to-action multipliers combine (150% x 200% = 300%)."""
    value = 100
    if post is not None:
        value = value * (post.points_multiplier or 100) // 100
        if post.campaign is not None:
            value = value * (post.campaign.points_multiplier or 100) // 100
    return value


def _note_badges(new) -> None:
    if new and has_request_context():
        earned = g.setdefault("herald_points", {"points": 0, "badges": []})
        earned["badges"].extend(badges.display_name(b) for b in new)


def on_share(sender, share, post, user, first=True, **_):
    """Points for the first share of a post on a network, the streak, a call-to-action bonus, badges."""
    if not first:
        return
    _note_badges(reward_share(user, share.id, post, share.network, share.created_at or utcnow()))


def reward_share(user: User, share_id: int, post, network: str, when) -> list:
    """Everything a first share earns, in the caller's transaction: points, counter, CTA bonus, streak, badges.

    One raw cursor for the whole path (``app.rawsql``); returns the badges earned.
    """
    rules = get_rules()["points"]
    with rawsql.cursor(db.session) as raw:
        title = post.title if post is not None else ""
        multiplier = _multiplier(post)
        result = ledger.award(
            user, "share", rules["share"], f"share:{share_id}", cap_action="share", source=("share", share_id),
            params={"title": title, "network": network}, multiplier=multiplier, when=when, raw=raw,
        )  # fmt: skip
        if result.duplicate:
            return []
        values = {"shares": ledger.bump_stat(user.id, "shares", raw=raw)}
        lifetime = result.lifetime
        if post is not None and post.is_cta and (post.cta_deadline is None or when <= post.cta_deadline):
            # One bonus per call to action, however many networks it goes to.
            bonus = ledger.award(user, "cta_bonus", rules["cta_bonus"], f"cta:{post.id}:{user.id}",
                                 source=("post", post.id), params={"title": title}, multiplier=multiplier,
                                 when=when, raw=raw)  # fmt: skip
            lifetime = max(lifetime, bonus.lifetime)
        change = streaks.record_share(user, when, raw=raw)
        values["streak"] = max(change.current, change.longest)
        if change.milestone:
            milestone = ledger.award(user, "streak_milestone", rules["streak_milestone"],
                                     f"streak:{user.id}:{change.milestone}:{when.date().isoformat()}",
                                     params={"periods": change.milestone}, when=when, raw=raw)  # fmt: skip
            lifetime = max(lifetime, milestone.lifetime)
        if lifetime:  # 0 when every award was capped: read it
            values["lifetime_points"] = lifetime
        return badges.evaluate(user.id, ("shares", "streak", "lifetime_points"), values, raw=raw)


def on_click(sender, click, **_):
    """Points to the sharer for each unique click their link earned."""
    user = db.session.get(User, click.sharer_id)
    if user is None:
        return
    from app.content.models import Post

    post = db.session.get(Post, click.post_id)
    with rawsql.cursor(db.session) as raw:
        result = ledger.award(
            user, "click", get_rules()["points"]["click"], f"click:{click.uid}", cap_action="click",
            source=("click", click.id), params={"title": post.title if post else "", "network": click.network},
            multiplier=_multiplier(post), when=click.clicked_at, raw=raw,
        )  # fmt: skip
        if not result.duplicate:
            values = {"unique_clicks": ledger.bump_stat(user.id, "unique_clicks", raw=raw)}
            if result.lifetime:
                values["lifetime_points"] = result.lifetime
            _note_badges(badges.evaluate(user.id, ("unique_clicks", "lifetime_points"), values, raw=raw))


def on_like(sender, post, user, **_):
    """A small reward for liking (once per post, even after unliking and liking again)."""
    ledger.award(user, "like", get_rules()["points"]["like"], f"like:{post.id}:{user.id}", cap_action="like",
                 source=("post", post.id), params={"title": post.title})  # fmt: skip


def on_comment(sender, comment, post, user, **_):
    """A small reward for commenting."""
    result = ledger.award(
        user, "comment", get_rules()["points"]["comment"], f"comment:{comment.id}", cap_action="comment",
        source=("comment", comment.id), params={"title": post.title},
    )  # fmt: skip
    if not result.duplicate:
        ledger.bump_stat(user.id, "comments")
        _note_badges(badges.evaluate(user.id, ("comments",)))


def on_suggestion_approved(sender, suggestion, post, user, **_):
    """Points for a suggestion that made it into the library."""
    result = ledger.award(user, "suggestion", get_rules()["points"]["suggestion"], f"suggestion:{suggestion.id}",
                          source=("suggestion", suggestion.id), params={"title": post.title})  # fmt: skip
    if not result.duplicate:
        ledger.bump_stat(user.id, "suggestions_approved")
        _note_badges(badges.evaluate(user.id, ("suggestions_approved",)))


def on_survey_completed(sender, wave, survey, user, points, **_):
    """The survey's points for taking part (once per person and wave: the key), the counter, badges."""
    result = ledger.award(user, "survey", points, f"survey:{wave.id}:{user.id}", source=("survey_wave", wave.id),
                          params={"title": survey.title})  # fmt: skip
    if not result.duplicate:
        values = {"surveys_completed": ledger.bump_stat(user.id, "surveys_completed")}
        if result.lifetime:
            values["lifetime_points"] = result.lifetime
        _note_badges(badges.evaluate(user.id, ("surveys_completed", "lifetime_points"), values))


def on_conversion(sender, conversion, user_id, **_):
    """Points to the sharer for a conversion their link brought, within the daily cap.

    Only conversions a token holder reported or an admin imported earn points: a pixel can be
    loaded by anyone who knows a link's code, so it would let people farm points.
    """
    if conversion.source == "pixel":
        return
    user = db.session.get(User, user_id)
    if user is None:
        return
    from app.content.models import Post

    post = db.session.get(Post, conversion.post_id)
    result = ledger.award(
        user, "conversion", get_rules()["points"]["conversion"], f"conversion:{conversion.id}",
        cap_action="conversion", source=("conversion", conversion.id),
        params={"title": post.title if post else "", "kind": conversion.kind}, multiplier=_multiplier(post),
    )  # fmt: skip
    if result.points:
        conversion.points_awarded = True
        _note_badges(badges.evaluate(user.id, ("lifetime_points",), {"lifetime_points": result.lifetime}))


def on_deactivated(sender, user, **_):
    """Deactivated people leave the boards (their history stays)."""
    from sqlalchemy import update

    from app.gamification.models import PeriodScore

    db.session.execute(update(PeriodScore).where(PeriodScore.user_id == user.id).values(active=False))


def on_reactivated(sender, user, **_):
    """Reactivated people return to the boards with their points."""
    from sqlalchemy import update

    from app.gamification.models import PeriodScore

    db.session.execute(update(PeriodScore).where(PeriodScore.user_id == user.id).values(active=True))


def connect() -> None:
    """Subscribe to the events (idempotent; blinker keeps one connection per receiver)."""
    events.share.connect(on_share)
    events.click.connect(on_click)
    events.like.connect(on_like)
    events.comment.connect(on_comment)
    events.suggestion_approved.connect(on_suggestion_approved)
    events.survey_completed.connect(on_survey_completed)
    events.conversion.connect(on_conversion)
    events.user_deactivated.connect(on_deactivated)
    events.user_reactivated.connect(on_reactivated)
