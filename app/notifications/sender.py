"""The one Web Push sender: pywebpush with VAPID, explicit TTL, Urgency and Topic, a session per thread.

``send`` encrypts one payload for one subscription and posts it; it returns a ``Sent`` that says
what the push service answered, so the caller (``app.notifications.tasks``) decides: 201 delivered,
404/410 the subscription is dead, 429/5xx retry later (honouring ``Retry-After``), other 4xx drop.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import urllib3
from flask import current_app
from pywebpush import WebPushException, webpush

from app.notifications import vapid

TIMEOUT = 10.0
_local = threading.local()


class Answer:
    """A push service's answer, under the names pywebpush reads (those of a requests response)."""

    __slots__ = ("status_code", "reason", "headers", "text")

    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.status_code = response.status
        self.reason = response.reason or ""
        self.headers = response.headers  # case-insensitive: .get("Retry-After")
        self.text = response.data[:1000].decode("utf-8", "replace")


class PushSession:
    """One thread's HTTP client for pywebpush: urllib3 connection pools behind the address guard.

    pywebpush only calls ``post(endpoint, data=, headers=, timeout=)`` on the session it is
    given and reads ``status_code``, ``reason``, ``headers`` and ``text`` of the answer. A
    ``requests.Session`` did the same at about 0.85 ms of CPU per push (merging settings,
    cookies, hooks; 0.17 ms of it reading proxy settings from the environment) against 0.3 ms
    for urllib3 alone, while encrypting and signing take 0.23 ms: the HTTP client was most of
    a send (``bench/push_fanout.py``). No proxies, redirects or retries here (the fan-out
    retries with backoff); the CA bundle is certifi's, as with requests.
    """

    def __init__(self, allowed: tuple[str, ...]):
        import certifi

        from app.fetch import AddressGuard, _guarded_adapter

        # The fetcher's guarded pools: an endpoint that resolves to a private address is refused
        # unless listed in HERALD_FETCH_ALLOW_HOSTS, so a forged subscription cannot make Herald
        # post to the internal network.
        self.pools = _guarded_adapter(AddressGuard(allowed)).poolmanager
        self.pools.connection_pool_kw.update(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())

    def post(self, url: str, data=None, headers=None, timeout: float = TIMEOUT) -> Answer:
        response = self.pools.request(
            "POST", url, body=data, headers=headers, timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False, redirect=False,
        )  # fmt: skip
        return Answer(response)

    def close(self) -> None:
        self.pools.clear()


def session() -> PushSession:
    """This thread's HTTP client: connections to a push service are reused across sends."""
    allowed = tuple(current_app.config["FETCH_ALLOW_HOSTS"])
    found = getattr(_local, "session", None)
    if found is None or getattr(_local, "allowed", None) != allowed:
        if found is not None:
            found.close()
        found = _local.session = PushSession(allowed)
        _local.allowed = allowed
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
        if response is None:
            return Sent(0, error=str(exc)[:200])
        return Sent(response.status_code, _retry_after(response), (response.text or "")[:200])
    except (urllib3.exceptions.HTTPError, OSError) as exc:  # unreachable, reset, timed out: try again later
        return Sent(0, error=f"{type(exc).__name__}: {exc}"[:200])
    except ValueError as exc:  # the address guard refused the endpoint (app.fetch.FetchError): never retry it
        return Sent(400, error=f"refused: {exc}"[:200])
    return Sent(response.status_code, _retry_after(response))
