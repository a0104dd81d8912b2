"""Tracked links: an employee's own short link per (post, network) and where it leads."""

from __future__ import annotations

import json
import re
import secrets
import string
from functools import lru_cache
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
# The attribution parameter: a name any site's framework reads as is (no encoding, no brackets),
# and never one of the UTM tags the redirect sets itself.
ATTRIBUTION_PARAM_RE = re.compile(r"(?!(?i:utm_))[A-Za-z][A-Za-z0-9_-]{0,31}")
DEFAULT_ATTRIBUTION_PARAM = "herald_ref"


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


def utm_target(url: str, network: str, campaign: str, variant: str, ref: tuple[str, str] | None = None) -> str:
    """The post's URL with UTM tags merged into its own query (ours win on conflict).

    ``ref`` is the attribution parameter and the link's code, when attribution is on: the
    company's site reads it and reports conversions back with that code.
    """
    parts = urlsplit(url)
    ours = {
        "utm_source": network,
        "utm_medium": "employee_advocacy",
        "utm_campaign": campaign,
        "utm_content": variant,
    }
    if ref is not None:
        ours[ref[0]] = ref[1]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query.extend(ours.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))


def attribution_param(settings) -> str | None:
    """The query parameter the redirect adds (None when attribution is off or the name is unusable).

    ``settings`` is the stored "analytics" program setting: a dict, or its JSON text as a
    raw cursor returns it on SQLite (parsed once per distinct text).
    """
    if isinstance(settings, str):
        return _attribution_param_of_text(settings)
    if not isinstance(settings, dict) or settings.get("attribution") is not True:
        return None
    name = settings.get("attribution_param", DEFAULT_ATTRIBUTION_PARAM)
    return name if isinstance(name, str) and ATTRIBUTION_PARAM_RE.fullmatch(name) else None


@lru_cache(maxsize=8)
def _attribution_param_of_text(text: str) -> str | None:
    try:
        return attribution_param(json.loads(text))
    except ValueError:
        return None
