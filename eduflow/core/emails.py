"""Templated email: one HTML and one plain-text Django template per message.

`templates/emails/<name>.subject.txt`, `<name>.txt` and `<name>.html` are rendered with the same
context; the message goes out through the configured backend (EMAIL_URL). Callers are tasks that
load what they need by id, so no secret ever travels through the task broker.
"""

from __future__ import annotations

import smtplib
import socket
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .locks import cache_lock


def render_email(*, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject (one line), plain-text body and HTML body of template `template`."""
    subject = render_to_string(f"emails/{template}.subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    return subject, text, html


def send_templated_email(*, to: list[str], template: str, context: dict[str, Any]) -> int:
    """Render and send one message; returns the number of messages sent (0 or 1)."""
    subject, text, html = render_email(template=template, context=context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=to
    )
    message.attach_alternative(html, "text/html")
    return message.send()


class TransientEmailError(Exception):
    """Delivery failed for a reason that may pass (server busy, connection lost): retry later."""


# Connection trouble and 4xx answers are temporary; anything else (a 5xx refusal, a template
# error) would fail the same way on every retry.
_CONNECTION_ERRORS = (
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)


def send_templated_email_once(
    *, key: str, to: list[str], template: str, context: dict[str, Any]
) -> bool:
    """Send a message at most once per `key`; whether it was sent now.

    The `SentEmail` row written after a successful send makes a second delivery of the same task
    a no-op; a cache lock keeps two concurrent runs from both sending. A run that finds the lock
    taken raises TransientEmailError, so its task retries and then finds the row.
    """
    from .models import SentEmail

    if SentEmail.objects.filter(key=key).exists():
        return False
    with cache_lock(f"email:{key}", timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            raise TransientEmailError(f"Email {key!r} is being sent by another run.")
        if SentEmail.objects.filter(key=key).exists():
            return False
        try:
            send_templated_email(to=to, template=template, context=context)
        except _CONNECTION_ERRORS as exc:
            raise TransientEmailError(f"Could not reach the mail server: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientEmailError(f"The mail server deferred the message: {exc}") from exc
            raise
        SentEmail.objects.get_or_create(
            key=key, defaults={"template": template, "recipients": ", ".join(to)}
        )
    return True
