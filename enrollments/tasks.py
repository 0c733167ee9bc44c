"""Celery tasks of the enrollments app: certificates and the "course completed" email.

Queues follow from the names through CELERY_TASK_ROUTES: `enrollments.issue_certificate` runs on
`default`, `enrollments.send_course_completed_email` on `email`.

Both take ids, load everything by id, return quietly when the row is gone, and do only the
missing work, so a second delivery (retry, worker killed mid-task) changes nothing.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError
from celery import shared_task
from django.db import transaction

from eduflow.core.emails import send_templated_email_once
from eduflow.core.tasks import TRANSIENT_ERRORS, task_options

from . import services
from .models import Certificate, CertificateStatus

logger = logging.getLogger(__name__)

# Storage trouble (local disk or the S3 endpoint) is worth another try as well.
_ISSUE_OPTIONS = task_options("enrollments.issue_certificate", soft_time_limit=60, time_limit=90)
_ISSUE_OPTIONS["autoretry_for"] = (*TRANSIENT_ERRORS, OSError, BotoCoreError)


@shared_task(**_ISSUE_OPTIONS)
def issue_certificate(enrollment_id: str) -> str | None:
    """Issue the certificate of a completed enrollment, render its PDF if missing, then queue
    the "course completed" email. Returns the certificate id (None when there is nothing to do).
    """
    certificate, created = services.certificate_issue(enrollment_id=enrollment_id)
    if certificate is None:
        logger.info("no certificate to issue", extra={"enrollment_id": str(enrollment_id)})
        return None
    services.certificate_render_pdf(certificate_id=certificate.pk)
    if created:
        logger.info("certificate issued", extra={"certificate_id": str(certificate.pk)})
    # The email task sends at most once per certificate, so queueing it again is harmless and
    # covers a run that stopped between issuing and queueing.
    # robust: in eager mode (no broker) a failing email must not fail the issue.
    certificate_id = str(certificate.pk)

    def queue_email() -> None:  # a named function: robust on_commit logs failures by name
        send_course_completed_email.delay(certificate_id)

    transaction.on_commit(queue_email, robust=True)
    return str(certificate.pk)


@shared_task(
    **task_options(
        "enrollments.send_course_completed_email",
        soft_time_limit=60,
        time_limit=90,
    )
)
def send_course_completed_email(certificate_id: str) -> bool:
    """Tell the learner they completed the course, with the certificate download link and the
    public verification URL. Sent once per certificate; whether it was sent by this run."""
    certificate = (
        Certificate.objects.select_related("user", "course").filter(pk=certificate_id).first()
    )
    if certificate is None or certificate.status != CertificateStatus.VALID:
        return False
    user = certificate.user
    if not user.is_active or not user.email:
        return False
    context = {
        "learner_name": certificate.learner_name,
        "course_title": certificate.course_title,
        "instructor_name": certificate.instructor_name,
        "completed_on": certificate.completed_on,
        "code": certificate.code,
        "download_url": services.certificate_download_url(certificate=certificate),
        "verify_url": services.certificate_verify_url(code=certificate.code),
    }
    return send_templated_email_once(
        key=f"course_completed:{certificate.pk}",
        to=[user.email],
        template="course_completed",
        context=context,
    )
