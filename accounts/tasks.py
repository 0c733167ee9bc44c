"""Celery tasks of the accounts app. Ids in, never passwords or tokens; safe to run twice.

Emails go to the `email` queue (route `*.send_*`); each message is sent at most once per key
(`eduflow.core.emails.send_templated_email_once`), so a redelivered task sends nothing new.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from eduflow.core.emails import send_templated_email_once
from eduflow.core.locks import cache_lock
from eduflow.core.tasks import task_options

from . import services
from .models import PasswordResetToken, User

logger = logging.getLogger(__name__)


@shared_task(**task_options("accounts.send_welcome_email"))
def send_welcome_email(user_id: str) -> bool:
    """Welcome a newly registered user. False when the user is gone or was already welcomed."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return send_templated_email_once(
        key=f"welcome:{user.pk}",
        to=[user.email],
        template="welcome",
        context={
            "name": user.get_full_name(),
            "email": user.email,
            "catalog_url": f"{settings.PUBLIC_BASE_URL}/api/v1/courses/",
        },
    )


@shared_task(**task_options("accounts.send_password_reset_email"))
def send_password_reset_email(reset_id: str) -> bool:
    """Mail the reset link of one reset request, unless it was used, expired or already sent."""
    reset = PasswordResetToken.objects.select_related("user").filter(pk=reset_id).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= timezone.now():
        return False
    if not reset.user.is_active:
        return False
    return send_templated_email_once(
        key=f"password_reset:{reset.pk}",
        to=[reset.user.email],
        template="password_reset",
        context={
            "name": reset.user.get_full_name(),
            "email": reset.user.email,
            "reset_url": services.password_reset_link(reset),
            "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )


@shared_task(
    **task_options("accounts.purge_expired_credentials", soft_time_limit=540, time_limit=600)
)
def purge_expired_credentials() -> dict[str, int] | None:
    """Scheduled: delete spent reset tokens and flush expired JWTs (simplejwt's
    `flushexpiredtokens`). Runs under a cache lock; None when another run holds it."""
    with cache_lock("job:accounts.purge_expired_credentials", timeout=600) as acquired:
        if not acquired:
            logger.info("purge skipped: another run holds the lock")
            return None
        resets = services.password_reset_tokens_purge()
        call_command("flushexpiredtokens", verbosity=0)
    logger.info("purged expired credentials", extra={"reset_tokens": resets})
    return {"reset_tokens": resets}
