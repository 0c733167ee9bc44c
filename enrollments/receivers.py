"""Receivers of the enrollments app (connected in `EnrollmentsConfig.ready`)."""

from __future__ import annotations

from django.dispatch import receiver

from . import services
from .signals import enrollment_completed


@receiver(enrollment_completed, dispatch_uid="enrollments.issue_certificate_on_completion")
def issue_certificate_on_completion(sender, enrollment, **kwargs) -> None:
    """A completed enrollment earns a certificate: queue its issue after commit."""
    services.certificate_queue_issue(enrollment_id=enrollment.pk)
