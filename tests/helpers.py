"""Small helpers shared by tests."""

from __future__ import annotations

import re
import socket

from app.extensions import db


def mail_text(message) -> str:
    """The plain-text body of a captured e-mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def link_in(message) -> str:
    """The first http(s) link in a captured e-mail's text."""
    match = re.search(r"https?://\S+", mail_text(message))
    assert match, mail_text(message)
    return match.group(0)


def path_of(url: str) -> str:
    """The path part of an absolute URL (test clients want paths)."""
    return re.sub(r"^https?://[^/]+", "", url)


def get(app, model, pk):
    """Load a row in a fresh app context (what the database holds now)."""
    with app.app_context():
        obj = db.session.get(model, pk)
        if obj is not None:
            db.session.expunge(obj)
        return obj


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
