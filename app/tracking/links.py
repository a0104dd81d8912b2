"""Tracked links: an employee's own short link per (post, network) and where it leads."""

from __future__ import annotations

import secrets
import string
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.content.models import Post
from app.extensions import db
from app.tracking.models import TrackedLink

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 10  # 62^10 ≈ 8e17: not guessable, still short in a post


def new_code() -> str:
    """A random, unguessable short code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def link_url(code: str) -> str:
    """The public address of a tracked link."""
    return current_app.config["BASE_URL"].rstrip("/") + "/r/" + code


def get_or_create_link(post: Post, user: User, network: str, variant: str) -> TrackedLink:
    """The employee's link for (post, network); two taps at once still make one link."""
    query = select(TrackedLink).where(
        TrackedLink.post_id == post.id, TrackedLink.user_id == user.id, TrackedLink.network == network
    )
    link = db.session.scalar(query)
    if link is not None:
        return link
    try:
        with db.session.begin_nested():
            link = TrackedLink(code=new_code(), post_id=post.id, user_id=user.id, network=network, variant=variant)
            db.session.add(link)
    except IntegrityError:
        link = db.session.scalar(query)
    return link


def utm_target(url: str, network: str, campaign: str, variant: str) -> str:
    """The post's URL with UTM tags merged into its own query (ours win on conflict)."""
    parts = urlsplit(url)
    ours = {
        "utm_source": network,
        "utm_medium": "employee_advocacy",
        "utm_campaign": campaign,
        "utm_content": variant,
    }
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query.extend(ours.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))
