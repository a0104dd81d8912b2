"""A real Web Push receiver for tests and the benchmark: a push service and the browsers behind it, on 127.0.0.1.

It speaks the protocol Herald's sender speaks (RFC 8030 push, RFC 8291 message encryption,
RFC 8292 VAPID), so tests go through pywebpush and the network rather than a patched ``webpush``:

- ``subscription()`` makes a test subscription the way a browser does: a P-256 key pair and a
  16-byte auth secret, and returns what ``PushSubscription.toJSON()`` gives
  (``{"endpoint", "expirationTime", "keys": {"p256dh", "auth"}}``).
- Each POST to an endpoint must carry ``Authorization: vapid t=<jwt>,k=<key>``: the JWT's
  signature is checked with py_vapid against ``k``, ``aud`` must be this receiver's origin,
  ``exp`` in the future (at most 24 hours away), ``sub`` a ``mailto:`` or ``https:`` URL, and
  ``k`` the application server key the subscription was made with (when one was given). A
  ``TTL`` header and ``Content-Encoding: aes128gcm`` are required. A push that fails a check is
  answered 400/401/403 and listed in ``rejected``.
- A delivered push is decrypted with ``http_ece`` (the subscription's private key and auth
  secret) and recorded with its ``TTL``, ``Urgency`` and ``Topic`` headers; the answer is 201.
- Per subscription it can be scripted: ``script(sub, 429, 201)`` answers 429 (with
  ``Retry-After``), then 201; ``expire(sub)`` answers 410 from now on; ``Answer(500)``,
  ``Answer(404)``, ``Answer(201, delay=0.2)``; ``delay`` on the receiver slows every answer.

Thread-safe: the server answers each connection in its own thread, and the records are kept
under one lock. Not a test module (tests import it; ``python -m tests.push_receiver`` serves
one in its own process for ``bench/push_fanout.py``).
"""

from __future__ import annotations

import base64
import collections
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt

SUBJECT = re.compile(r"^(mailto:[^@\s]+@[^@\s]+|https://[^\s/]+(/\S*)?)$", re.IGNORECASE)
MAX_EXP = 24 * 3600  # RFC 8292: a push service may refuse a JWT valid for longer


def b64url(data: bytes) -> str:
    """Unpadded base64url, as browsers write keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Answer:
    """How the receiver answers one push: a status, a ``Retry-After`` (for 429/503) and a delay before it."""

    status: int = 201
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Push:
    """A push the receiver accepted and decrypted."""

    endpoint: str
    data: dict
    ttl: int | None
    urgency: str | None
    topic: str | None
    claims: dict
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Subscriber:
    """One test browser: its keys, what it answers next, whether it expired."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    p256dh: str
    auth: bytes
    server_key: str | None
    answers: collections.deque = field(default_factory=collections.deque)
    expired: bool = False

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }


class PushReceiver:
    """A push service on 127.0.0.1 (port 0) with test browsers behind it; see the module docstring."""

    def __init__(self, application_server_key: str | None = None, delay: float = 0.0, port: int = 0):
        self.application_server_key = application_server_key
        self.delay = delay
        self._lock = threading.Lock()
        self._subscribers: dict[str, _Subscriber] = {}
        self._by_endpoint: dict[str, _Subscriber] = {}
        self.pushes: list[Push] = []
        self.attempts: list[tuple[str, int]] = []  # (endpoint, status answered), every POST
        self.rejected: list[tuple[str, str]] = []  # (endpoint, why), pushes that failed a check
        self._delivered = threading.Condition(self._lock)
        self.server = _Server(("127.0.0.1", port), _handler(self))
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.origin = f"http://{self.host}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="push-receiver", daemon=True)
        self._thread.start()

    # --- subscriptions -------------------------------------------------------------------------

    def subscription(self, application_server_key: str | None = None) -> dict:
        """A new browser subscription (``PushSubscription.toJSON()``), made with the receiver's or the given key."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        token = secrets.token_urlsafe(12)
        subscriber = _Subscriber(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=private_key,
            p256dh=b64url(point),
            auth=os.urandom(16),
            server_key=application_server_key or self.application_server_key,
        )
        with self._lock:
            self._subscribers[token] = subscriber
            self._by_endpoint[subscriber.endpoint] = subscriber
        return subscriber.to_json()

    def _find(self, subscription: dict | str) -> _Subscriber:
        endpoint = subscription if isinstance(subscription, str) else subscription["endpoint"]
        return self._by_endpoint[endpoint]

    def script(self, subscription: dict | str, *answers: int | Answer) -> None:
        """Answer the next pushes to this subscription so, in order (then 201 again)."""
        with self._lock:
            found = self._find(subscription)
            for answer in answers:
                if isinstance(answer, int):
                    answer = Answer(answer, retry_after="1" if answer in (429, 503) else None)
                found.answers.append(answer)

    def expire(self, subscription: dict | str) -> None:
        """The browser unsubscribed: every later push to it answers 410 Gone."""
        with self._lock:
            self._find(subscription).expired = True

    # --- what arrived --------------------------------------------------------------------------

    def pushes_for(self, subscription: dict | str) -> list[Push]:
        """The pushes this subscription's browser received and decrypted."""
        endpoint = subscription if isinstance(subscription, str) else subscription["endpoint"]
        with self._lock:
            return [p for p in self.pushes if p.endpoint == endpoint]

    def attempts_for(self, subscription: dict | str) -> list[int]:
        """The statuses answered to every POST to this subscription, in order."""
        endpoint = subscription if isinstance(subscription, str) else subscription["endpoint"]
        with self._lock:
            return [status for e, status in self.attempts if e == endpoint]

    def counts(self) -> collections.Counter:
        """Pushes received per endpoint."""
        with self._lock:
            return collections.Counter(p.endpoint for p in self.pushes)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Push]:
        """Wait until at least ``count`` pushes arrived (or the timeout passed); all pushes so far."""
        deadline = time.monotonic() + timeout
        with self._delivered:
            while len(self.pushes) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._delivered.wait(left)
            return list(self.pushes)

    def clear(self) -> None:
        with self._lock:
            self.pushes.clear()
            self.attempts.clear()
            self.rejected.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> PushReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- one push ------------------------------------------------------------------------------

    def check_vapid(self, authorization: str, subscriber: _Subscriber) -> dict:
        """The JWT's claims, once every RFC 8292 check passed; ``PermissionError`` (401/403) otherwise."""
        match = re.fullmatch(r"vapid\s+(.+)", authorization or "", re.IGNORECASE)
        if not match:
            raise PermissionError(401, "no vapid authorization")
        parts = dict(part.strip().split("=", 1) for part in match.group(1).split(",") if "=" in part)
        token, key = parts.get("t"), parts.get("k")
        if not token or not key:
            raise PermissionError(401, "vapid t= or k= missing")
        try:
            claims = vapid_jwt.decode(token, key)
        except InvalidSignature:
            raise PermissionError(401, "bad vapid signature") from None
        now = time.time()
        if claims.get("aud") != self.origin:
            raise PermissionError(401, f"aud {claims.get('aud')!r} is not {self.origin}")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= now or exp > now + MAX_EXP:
            raise PermissionError(401, f"exp {exp!r} is not within the next 24 hours")
        if not SUBJECT.match(str(claims.get("sub", ""))):
            raise PermissionError(401, f"sub {claims.get('sub')!r} is not a mailto: or https: URL")
        if subscriber.server_key and key != subscriber.server_key:
            raise PermissionError(403, "k is not the key this subscription was made with")
        return claims

    def receive(self, path: str, headers, body: bytes) -> Answer:
        """Check, answer and record one POST (the HTTP handler calls it)."""
        token = path.rsplit("/", 1)[-1]
        with self._lock:
            subscriber = self._subscribers.get(token)
            endpoint = subscriber.endpoint if subscriber else f"{self.origin}{path}"
            if subscriber is None:
                answer = Answer(404)
            elif subscriber.expired:
                answer = Answer(410)
            elif subscriber.answers:
                answer = subscriber.answers.popleft()
            else:
                answer = Answer(201)
        if answer.delay or self.delay:
            time.sleep(answer.delay or self.delay)
        if subscriber is not None and answer.status < 300:
            try:
                claims = self.check_vapid(headers.get("Authorization", ""), subscriber)
                ttl = headers.get("TTL")
                if ttl is None or not ttl.isdigit():
                    raise PermissionError(400, "TTL header missing")
                if (headers.get("Content-Encoding") or "").lower() != "aes128gcm":
                    raise PermissionError(400, "Content-Encoding is not aes128gcm")
                try:
                    plain = http_ece.decrypt(
                        body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm"
                    )
                    data = json.loads(plain)
                except Exception as exc:  # noqa: BLE001 - any failure to decrypt is the sender's fault
                    raise PermissionError(400, f"could not decrypt: {type(exc).__name__}: {exc}") from None
            except PermissionError as exc:
                status, why = exc.args
                with self._lock:
                    self.rejected.append((endpoint, why))
                    self.attempts.append((endpoint, status))
                return Answer(status)
            push = Push(endpoint, data, int(ttl), headers.get("Urgency"), headers.get("Topic"), claims)
            with self._delivered:
                self.pushes.append(push)
                self.attempts.append((endpoint, answer.status))
                self._delivered.notify_all()
            return answer
        with self._lock:
            self.attempts.append((endpoint, answer.status))
        return answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A sender that went away mid-request (a killed consumer) is no error of the receiver's."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler(receiver: PushReceiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connection

        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the sender went away mid-request (a killed consumer): no push arrived
                self.close_connection = True
                return None
            if not self.path.startswith("/push/"):
                return self._answer(Answer(404))
            return self._answer(receiver.receive(self.path, self.headers, body))

        def do_GET(self):  # noqa: N802
            if self.path == "/stats":  # the benchmark asks how many arrived, in its own process
                counts = receiver.counts()
                payload = json.dumps(
                    {
                        "received": sum(counts.values()),
                        "endpoints": len(counts),
                        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
                        "rejected": len(receiver.rejected),
                        "rejected_sample": receiver.rejected[:3],
                        "first": min((p.at for p in receiver.pushes), default=None),
                        "last": max((p.at for p in receiver.pushes), default=None),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return None
            return self._answer(Answer(404))

        def _answer(self, answer: Answer):
            self.send_response(answer.status)
            if answer.retry_after is not None:
                self.send_header("Retry-After", answer.retry_after)
            if answer.status == 201:
                self.send_header("Location", f"{receiver.origin}/message/{secrets.token_hex(8)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a receiver in its own process (``bench/push_fanout.py`` runs one or more).

    Makes ``--subscriptions`` browsers, writes their ``toJSON()`` list to ``--out`` (then it is
    listening), answers ``GET /stats`` with what arrived, and stops on SIGTERM or SIGINT.
    """
    import argparse
    import signal
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--key", required=True, help="the application server key (VAPID public key, base64url)")
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    receiver = PushReceiver(args.key, delay=args.delay, port=args.port)
    subs = [receiver.subscription() for _ in range(args.subscriptions)]
    draft = args.out.with_suffix(".partial")
    draft.write_text(json.dumps(subs))
    draft.replace(args.out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    receiver.close()


if __name__ == "__main__":
    main()
