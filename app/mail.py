"""The one mail service.

``send_mail`` queues a message; the ``deliver_mail`` task hands it to the
configured backend: ``console`` (development: logged), ``smtp`` (production) or
``memory`` (tests: appended to ``outbox``).
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app, render_template

from app.tasks import app_task, enqueue_after_commit

log = logging.getLogger("herald.mail")

# Messages delivered by the memory backend, newest last (tests read and clear it).
outbox: list[EmailMessage] = []


def build_message(
    to: str, subject: str, text: str, html: str | None = None, headers: dict[str, str] | None = None
) -> EmailMessage:
    """Build a MIME message from the configured sender (``headers``: extra ones, e.g. ``List-Unsubscribe``)."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def send_mail(to: str, subject: str, template: str, *, headers: dict[str, str] | None = None, **context) -> None:
    """Render ``templates/mail/<template>.txt`` (and ``.html``); queue it when the transaction commits."""
    from app import forget_request_translations

    forget_request_translations()  # callers may have switched to the recipient's language
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    forget_request_translations()
    enqueue_after_commit(deliver_mail, to, subject, text, html, headers)


@app_task(retries=3, retry_delay=30)
def deliver_mail(to: str, subject: str, text: str, html: str | None = None, headers: dict | None = None) -> None:
    """Hand one message to the configured backend (a Huey task; SMTP errors retry)."""
    msg = build_message(to, subject, text, html, headers)
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "memory":
        outbox.append(msg)
    elif backend == "console":
        log.warning("mail to %s: %s\n%s", to, subject, text)
        print(f"--- mail to {to}: {subject}\n{text}\n---", flush=True)
    elif backend == "smtp":
        cfg = current_app.config
        with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=20) as smtp:
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls()
            if cfg["SMTP_USER"]:
                smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"] or "")
            smtp.send_message(msg)
    else:
        raise ValueError(f"unknown HERALD_MAIL_BACKEND {backend!r}")
