"""The daily activity report to administrators (Celery beat, queue `email`).

It counts, for one UTC calendar day: new users, new enrollments, completed enrollments and
certificates issued. The progress app sits at the top of the dependency line, so it may read
every app's models. The report for a day is sent once (keyed by the day) and the job runs under
a lock on the shared cache, so two beat instances or a redelivered task never send it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from celery import shared_task
from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Role, User
from eduflow.core.emails import send_templated_email_once
from eduflow.core.locks import LockBusy, cache_lock
from eduflow.core.tasks import task_options
from enrollments.models import Enrollment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivityReport:
    day: dt.date
    new_users: int
    enrollments: int
    completions: int
    certificates: int | None  # None where certificates are not installed


def _day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def activity_report(*, day: dt.date) -> ActivityReport:
    """What happened on `day` (UTC)."""
    start, end = _day_window(day)
    try:
        certificate_model = apps.get_model("enrollments", "Certificate")
    except LookupError:
        certificate_model = None
    return ActivityReport(
        day=day,
        new_users=User.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        enrollments=Enrollment.objects.filter(enrolled_at__gte=start, enrolled_at__lt=end).count(),
        completions=Enrollment.objects.filter(
            completed_at__gte=start, completed_at__lt=end
        ).count(),
        certificates=(
            certificate_model.objects.filter(issued_at__gte=start, issued_at__lt=end).count()
            if certificate_model is not None
            else None
        ),
    )


def report_recipients() -> list[str]:
    """Email addresses of the active administrators."""
    return list(
        User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
        .order_by("email")
        .values_list("email", flat=True)
    )


@shared_task(**task_options("progress.send_daily_report_email"))
def send_daily_report_email(day: str | None = None) -> dict | None:
    """Mail the activity report of `day` (ISO date; default: yesterday, UTC) to the admins.

    Returns the figures, or None when another run holds the job's lock. Safe to run twice: a
    day's report goes out once.
    """
    if day:
        report_day = dt.date.fromisoformat(day)
    else:
        report_day = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)
    with cache_lock(f"job:progress.daily_report:{report_day}", timeout=300) as acquired:
        if not acquired:
            if day is None:
                logger.info("daily report skipped: another run holds the lock")
                return None
            raise LockBusy(f"daily report {report_day} is being sent")
        report = activity_report(day=report_day)
        recipients = report_recipients()
        sent = False
        if recipients:
            sent = send_templated_email_once(
                key=f"daily_report:{report_day.isoformat()}",
                to=recipients,
                template="daily_report",
                context={**asdict(report), "admin_url": f"{settings.PUBLIC_BASE_URL}/admin/"},
            )
    figures = {**asdict(report), "day": report_day.isoformat(), "sent": sent}
    logger.info("daily report", extra={"report": figures})
    return figures
