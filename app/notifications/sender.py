"""The one Web Push sender: pywebpush with VAPID, explicit TTL, Urgency and Topic, a session per thread.

``send`` encrypts one payload for one subscription and posts it; it returns a ``Sent`` that says
what the push service answered, so the caller (``app.notifications.tasks``) decides: 201 delivered,
404/410 the subscription is dead, 429/5xx retry later (honouring ``Retry-After``), other 4xx drop.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import requests
from flask import current_app
from pywebpush import WebPushException, webpush

from app.notifications import vapid

TIMEOUT = 10.0
_local = threading.local()


def session() -> requests.Session:
    """This thread's HTTP session: connections to a push service are reused across sends.

    Its connections go through the fetcher's address guard (``app.fetch``): an endpoint that
    resolves to a private address is refused unless listed in ``HERALD_FETCH_ALLOW_HOSTS``, so a
    forged subscription cannot make Herald post to the internal network.
    """
    from app.fetch import AddressGuard, _guarded_adapter

    allowed = tuple(current_app.config["FETCH_ALLOW_HOSTS"])
    found = getattr(_local, "session", None)
    if found is None or getattr(_local, "allowed", None) != allowed:
        found = _local.session = requests.Session()
        _local.allowed = allowed
        adapter = _guarded_adapter(AddressGuard(allowed))
        found.mount("https://", adapter)
        found.mount("http://", adapter)
    return found


@dataclass
class Sent:
    status: int  # the push service's HTTP status, or 0 when it could not be reached
    retry_after: float | None = None
    error: str = ""

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)

    @property
    def retry(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500


def payload(title: str, body: str, url: str, lang: str, badge: int | None = None, tag: str | None = None) -> str:
    """Declarative Web Push JSON (Safari 18.4+ shows it itself; ``sw.js`` reads the same shape)."""
    notification = {"title": title, "body": body, "navigate": url, "lang": lang, "dir": "ltr", "silent": False}
    if badge is not None:
        notification["app_badge"] = str(badge)
    if tag:
        notification["tag"] = tag
    return json.dumps({"web_push": 8030, "notification": notification}, ensure_ascii=False)


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        from app.timeutil import utcnow

        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def send(
    endpoint: str, p256dh: str, auth: str, data: str, *, ttl: int, urgency: str = "normal", topic: str | None = None
) -> Sent:
    """Encrypt ``data`` for one subscription and post it to its push service."""
    headers = {"Urgency": urgency, "Content-Type": "application/octet-stream"}
    if topic:
        headers["Topic"] = topic
    claims = {"sub": current_app.config["VAPID_SUBJECT"]}  # a fresh dict: pywebpush writes aud and exp into it
    try:
        response = webpush(
            {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            data=data,
            vapid_private_key=vapid.vapid(),
            vapid_claims=claims,
            ttl=ttl,
            timeout=TIMEOUT,
            headers=headers,
            requests_session=session(),
        )
    except WebPushException as exc:
        response = exc.response
        if response is None:  # not "if response": a requests response is falsy for 4xx
            return Sent(0, error=str(exc)[:200])
        return Sent(response.status_code, _retry_after(response), (response.text or "")[:200])
    except requests.RequestException as exc:
        cause = exc.__context__ or exc
        if isinstance(cause, ValueError):  # the address guard refused the endpoint: never retry it
            return Sent(400, error=f"refused: {cause}"[:200])
        return Sent(0, error=f"{type(exc).__name__}: {exc}"[:200])
    except ValueError as exc:  # the address guard (app.fetch.FetchError)
        return Sent(400, error=f"refused: {exc}"[:200])
    return Sent(response.status_code, _retry_after(response))
