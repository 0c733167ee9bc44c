"""Completion signalled twice at the same moment: real threads, each with its own database
connection, on PostgreSQL (row locks); skipped on SQLite, whose in-memory test database fails
on lock contention instead of waiting. Files under a temporary MEDIA_ROOT; emails in Django's
locmem outbox. No mocks.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from enrollments import services, tasks
from enrollments.models import Certificate, Enrollment, EnrollmentStatus
from enrollments.signals import enrollment_completed
from tests import factories
from tests.enrollments.test_races import run_together

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-lock races need PostgreSQL: set DATABASE_URL=postgres://... to run them",
)


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def completed_enrollment() -> Enrollment:
    enrollment = factories.EnrollmentFactory(
        status=EnrollmentStatus.COMPLETED, completed_at=timezone.now()
    )
    return enrollment


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_completion_signalled_twice_concurrently_issues_one_certificate():
    enrollment = completed_enrollment()

    def signal():
        enrollment_completed.send(sender=Enrollment, enrollment=enrollment)

    run_together([signal, signal, signal])

    certificate = Certificate.objects.get()
    assert certificate.pdf and certificate.pdf_sha256
    assert len(mail.outbox) == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_issue_task_run_concurrently_yields_one_certificate_and_one_file():
    enrollment = completed_enrollment()

    results = run_together([lambda: tasks.issue_certificate(str(enrollment.pk))] * 4)

    certificate = Certificate.objects.get()
    assert set(results) == {str(certificate.pk)}
    assert certificate.rendered_at is not None
    assert len(mail.outbox) == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_completing_twice_concurrently_through_the_service_issues_one_certificate():
    enrollment = factories.EnrollmentFactory()

    def complete():
        services.enrollment_complete(enrollment=Enrollment.objects.get(pk=enrollment.pk))

    run_together([complete, complete])

    assert Certificate.objects.filter(user=enrollment.user, course=enrollment.course).count() == 1
    assert len(mail.outbox) == 1
