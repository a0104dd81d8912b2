"""The weekly e-mail digest: the week's posts with captions and share links, points, streak and rank.

An hourly task sends it to every active person who has it on (``NotificationSettings.digest``,
on by default) and whose own clock shows Monday 08:00-08:59. A ``DigestSent`` row per person and
ISO week is the claim, inserted before the message is queued (ON CONFLICT DO NOTHING RETURNING),
so a second run in the same hour, or a second consumer, sends nothing more.

Every digest carries a signed unsubscribe link (itsdangerous, the app secret and a salt of its
own) that works without signing in: GET shows a one-button page, POST turns the digest off. The
same URL is in the ``List-Unsubscribe`` header for mail clients' one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import crontab
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, or_, select

from app import rawsql
from app.accounts.models import User
from app.extensions import csrf, db
from app.notifications import bp, services
from app.notifications.models import DigestSent, NotificationSettings
from app.notifications.tasks import _own_session
from app.tasks import app_periodic_task
from app.timeutil import utcnow

log = logging.getLogger("herald.digest")

SEND_WEEKDAY, SEND_HOUR = 0, 8  # Monday, 08:00-08:59 on the person's own clock
POSTS = 5  # at most this many posts per digest, newest first
POSTS_SINCE = timedelta(days=7)
SALT = "herald.digest.unsubscribe"


# --- who gets it, and when -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    """Every time zone a person can have (what ``accounts.services.valid_timezone`` accepts)."""
    from zoneinfo import available_timezones

    return tuple(sorted(available_timezones()))


def _week_of(day) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def zones_due(now: datetime) -> dict[str, str]:
    """The time zones whose clocks show Monday 08:xx at ``now``, each with its ISO week (``2026-W47``)."""
    out = {}
    for name in _zone_names():
        local = now.astimezone(ZoneInfo(name))
        if local.weekday() == SEND_WEEKDAY and local.hour == SEND_HOUR:
            out[name] = _week_of(local.date())
    return out


def due(now: datetime) -> list[tuple[User, str]]:
    """(person, week) for everyone who should get this week's digest at ``now`` and has not yet."""
    by_week: dict[str, list[str]] = {}
    for zone, week in zones_due(now).items():
        by_week.setdefault(week, []).append(zone)
    out = []
    for week, zones in sorted(by_week.items()):
        people = db.session.scalars(
            select(User)
            .outerjoin(NotificationSettings, NotificationSettings.user_id == User.id)
            .where(
                User.status == "active",
                User.timezone.in_(zones),
                or_(NotificationSettings.digest.is_(None), NotificationSettings.digest.is_(True)),
                ~exists().where(DigestSent.user_id == User.id, DigestSent.week == week),
            )
            .order_by(User.id)
        ).all()
        out += [(person, week) for person in people]
    return out


def claim(user_id: int, week: str, now: datetime) -> bool:
    """Record that this week's digest goes to this person; False when it already went (or is going)."""
    table = DigestSent.__table__
    dialect = db.session.get_bind().dialect.name
    stmt = (
        rawsql.dialect_insert(dialect)(table)
        .values(user_id=user_id, week=week, sent_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "week"])
        .returning(table.c.user_id)
    )
    # RETURNING, not rowcount: psycopg reported a row for a skipped insert here (the surveys' claims saw it too).
    return db.session.execute(stmt).scalar() is not None


# --- what it says --------------------------------------------------------------------------------


@dataclass
class DigestPost:
    """One post as the digest shows it."""

    title: str
    caption: str
    share_url: str
    source_name: str


@dataclass
class Digest:
    """Everything one person's digest shows."""

    posts: list[DigestPost]
    points: int  # earned last week (the weekly board's figure)
    balance: int
    streak: int
    streak_period: str  # "daily" or "weekly"
    rank: int | None  # on last week's company board; None when hidden or not on it
    ranked: int  # how many people are on that board
    unsubscribe_url: str
    settings_url: str
    feed_url: str


@dataclass(frozen=True)
class _Post:
    """What the digest reads of a post, detached from the session (it commits after every person)."""

    id: int
    title: str
    hashtags: str
    source_name: str
    campaign_id: int | None
    campaign: object  # has ``kind`` (content.services.FeedCampaign), or None
    captions: tuple  # content.services.FeedCaption: network, variant, text


def _posts(user: User, now: datetime, cache: dict) -> list[_Post]:
    """The live posts published in the last week for the person's audience, newest first (read once per audience)."""
    from app.content.models import Post
    from app.content.services import POST_AUDIENCE, FeedCampaign, FeedCaption, live_condition

    key = (user.department_id, user.location_id)
    if key not in cache:
        found = db.session.scalars(
            select(Post)
            .where(
                live_condition(now),
                Post.publish_at >= now - POSTS_SINCE,
                POST_AUDIENCE.condition(user.department_id, user.location_id),
            )
            .order_by(Post.publish_at.desc(), Post.id.desc())
            .limit(POSTS)
        )
        cache[key] = [
            _Post(
                post.id,
                post.title,
                post.hashtags or "",
                post.source_name or "",
                post.campaign_id,
                FeedCampaign(post.campaign.name, post.campaign.kind) if post.campaign is not None else None,
                tuple(FeedCaption(c.network, c.variant, c.text) for c in post.captions),
            )
            for post in found
        ]
    return cache[key]


def last_week(user: User, now: datetime) -> str:
    """The ISO week before the person's current one (on Monday morning: the week that just ended)."""
    local = now.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    return _week_of(local - timedelta(days=7))


def build(user: User, now: datetime, cache: dict | None = None) -> Digest:
    """One person's digest at ``now`` (links are absolute, on ``BASE_URL``)."""
    from app.content.services import pick_caption, render_caption
    from app.gamification import leaderboard, periods, streaks
    from app.gamification.models import PointBalance

    posts = [
        DigestPost(
            title=post.title,
            caption=render_caption(pick_caption(post, user)[0], post, user, None),
            share_url=services.absolute(services.link("content.post", post_id=post.id, share=1)),
            source_name=post.source_name or "",
        )
        for post in _posts(user, now, {} if cache is None else cache)
    ]
    # Last week's company board: a moment in the middle of that week on the program's clock.
    week = last_week(user, now)
    start = periods.key_start(week, "weekly") + timedelta(days=3)
    when = datetime.combine(start, time(12), tzinfo=ZoneInfo(periods.program_timezone()))
    board = leaderboard.standings("week", "company", user, now=when, limit=0)
    points = board.me.points if board.me else 0
    rank = board.me.rank if board.me and points > 0 and not user.hide_from_leaderboards else None
    balance = db.session.get(PointBalance, user.id)
    streak = streaks.view(user, now)
    return Digest(
        posts=posts,
        points=points,
        balance=balance.balance if balance else 0,
        streak=streak.current,
        streak_period=streak.period,
        rank=rank,
        ranked=board.total,
        unsubscribe_url=unsubscribe_url(user.id),
        settings_url=services.absolute(services.link("notifications.settings")),
        feed_url=services.absolute(services.link("main.feed")),
    )


def send(user: User, now: datetime, cache: dict | None = None) -> None:
    """Queue one person's digest (in their language; it leaves when the transaction commits)."""
    from app.mail import send_mail

    digest = build(user, now, cache)
    with force_locale(user.locale or "en"):
        send_mail(
            user.email,
            _("Your week on Herald"),
            "weekly_digest",
            headers={
                "List-Unsubscribe": f"<{digest.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            user=user,
            digest=digest,
        )


def send_due(now: datetime | None = None) -> int:
    """Send this week's digest to everyone due at ``now``; how many were sent (each committed on its own)."""
    now = now or utcnow()
    sent, cache = 0, {}
    for person, week in due(now):
        try:
            if not claim(person.id, week, now):
                db.session.rollback()
                continue
            send(person, now, cache)
            db.session.commit()  # the claim and the queued message together
            sent += 1
        except Exception:
            db.session.rollback()
            log.exception("weekly digest for user %s failed", person.id)
    return sent


@app_periodic_task(crontab(minute="2"))  # hourly: each time zone's Monday 08:xx comes round once
@_own_session
def weekly_digest() -> int:
    """The hourly run (a Huey periodic task)."""
    return send_due()


# --- unsubscribing without signing in -------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_token(user_id: int) -> str:
    """A token that turns off this person's digest (no expiry: old e-mails keep working)."""
    return _serializer().dumps({"u": user_id})


def unsubscribe_url(user_id: int) -> str:
    return services.absolute(services.link("notifications.digest_unsubscribe", token=unsubscribe_token(user_id)))


def user_of(token: str) -> User | None:
    """The person a genuine token names; None for a forged, altered or stale one."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    if type(user_id) is not int:
        return None
    return db.session.get(User, user_id)


def _page(user: User | None, state: str, status: int = 200):
    from app import forget_request_translations

    if user is None:
        return render_template("notifications/digest_unsubscribe.html", state=state, user=None), status
    with force_locale(user.locale or "en"):  # the page speaks the language of the e-mail it came from
        forget_request_translations()
        page = render_template("notifications/digest_unsubscribe.html", state=state, user=user)
        forget_request_translations()
    return page, status


@bp.route("/digest/unsubscribe/<token>", methods=["GET", "POST"])
# No CSRF token on purpose: mail clients' one-click unsubscribe (RFC 8058) POSTs
# "List-Unsubscribe=One-Click" to this URL with no session and no form token. The signed token in
# the URL is the authority instead: only the recipient has it, and it can do one thing (turn the
# digest off), so a cross-site POST without it gets nowhere. Only this view is exempt.
@csrf.exempt
def digest_unsubscribe(token: str):
    """Turn the weekly digest off in one tap, without signing in (GET asks, POST does it)."""
    user = user_of(token)
    if user is None:
        return _page(None, "invalid", 400)
    if services.settings_of(user.id).digest is False:
        return _page(user, "off")
    if request.method == "GET":  # mail scanners follow links: a GET changes nothing
        return _page(user, "confirm")
    services.save_settings(user.id, {"digest": False})
    db.session.commit()
    return _page(user, "done")
