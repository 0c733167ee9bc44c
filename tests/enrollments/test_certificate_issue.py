"""Issuing certificates: the completion hook, the tasks (run twice), the PDF in storage (local
files under a temporary MEDIA_ROOT, and a real S3-compatible moto server on loopback), the frozen
data and the "course completed" email (Django's locmem outbox). No mocks.
"""

# ruff: noqa: RUF001  (names in many scripts are the point of these tests)

from __future__ import annotations

import hashlib
import io

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from pypdf import PdfReader

from enrollments import services, tasks
from enrollments.models import Certificate, CertificateStatus, EnrollmentStatus
from tests import factories
from tests.media.conftest import s3_server, s3_storage  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    """Certificate PDFs go to a per-test MEDIA_ROOT (unless a test switches to S3)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PUBLIC_BASE_URL = "https://lms.example.org"
    settings.CERTIFICATE_VERIFY_URL = ""


@pytest.fixture
def enrollment(db):
    instructor = factories.InstructorFactory(full_name="Ana Pérez")
    course = factories.PublishedCourseFactory(title="Algebra for everyone", instructor=instructor)
    learner = factories.UserFactory(full_name="Zoë Łukasiewicz – 李雷", email="zoe@example.com")
    return factories.EnrollmentFactory(user=learner, course=course)


def complete(enrollment, capture):
    with capture(execute=True):
        services.enrollment_complete(enrollment=enrollment)


def pdf_text(certificate: Certificate) -> str:
    with default_storage.open(certificate.pdf.name, "rb") as handle:
        return PdfReader(io.BytesIO(handle.read())).pages[0].extract_text()


def test_completing_an_enrollment_issues_one_certificate_with_pdf_and_email(
    enrollment, django_capture_on_commit_callbacks
):
    complete(enrollment, django_capture_on_commit_callbacks)

    certificate = Certificate.objects.get()
    assert (certificate.user, certificate.course) == (enrollment.user, enrollment.course)
    assert certificate.status == CertificateStatus.VALID
    assert certificate.learner_name == "Zoë Łukasiewicz – 李雷"
    assert certificate.course_title == "Algebra for everyone"
    assert certificate.instructor_name == "Ana Pérez"
    enrollment.refresh_from_db()
    assert certificate.completed_on == enrollment.completed_at.date()

    assert certificate.pdf.name == f"certificates/{certificate.pk}.pdf"
    with default_storage.open(certificate.pdf.name, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == certificate.pdf_sha256
    text = pdf_text(certificate)
    assert "Zoë Łukasiewicz – 李雷" in text
    assert certificate.code in text

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["zoe@example.com"]
    assert "Algebra for everyone" in message.subject
    download = f"https://lms.example.org/api/v1/certificates/{certificate.pk}/download/"
    verify = f"https://lms.example.org/api/v1/certificates/verify/{certificate.code}/"
    assert download in message.body and verify in message.body
    html = message.alternatives[0][0]
    assert download in html and verify in html


def test_nothing_is_queued_before_the_completion_commits(
    enrollment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.enrollment_complete(enrollment=enrollment)
    assert not Certificate.objects.exists()
    assert len(callbacks) == 1  # the enrollment_completed signal, sent after commit


def test_completion_signalled_twice_issues_one_certificate_and_one_email(
    enrollment, django_capture_on_commit_callbacks
):
    complete(enrollment, django_capture_on_commit_callbacks)
    first = Certificate.objects.get()
    # The hook fires again (e.g. a replayed completion): the task reruns.
    with django_capture_on_commit_callbacks(execute=True):
        services.certificate_queue_issue(enrollment_id=enrollment.pk)

    assert Certificate.objects.count() == 1
    again = Certificate.objects.get()
    assert (again.pk, again.code, again.pdf_sha256) == (first.pk, first.code, first.pdf_sha256)
    assert len(mail.outbox) == 1


def test_issue_task_run_twice_gives_the_same_certificate_and_file(
    enrollment, django_capture_on_commit_callbacks
):
    enrollment.status = EnrollmentStatus.COMPLETED
    enrollment.save()
    with django_capture_on_commit_callbacks(execute=True):
        first_id = tasks.issue_certificate.delay(str(enrollment.pk)).get()
    certificate = Certificate.objects.get()
    with default_storage.open(certificate.pdf.name, "rb") as handle:
        first_bytes = handle.read()
    rendered_at = certificate.rendered_at

    with django_capture_on_commit_callbacks(execute=True):
        second_id = tasks.issue_certificate.delay(str(enrollment.pk)).get()

    assert first_id == second_id == str(certificate.pk)
    certificate.refresh_from_db()
    assert certificate.rendered_at == rendered_at  # not rendered again
    with default_storage.open(certificate.pdf.name, "rb") as handle:
        assert handle.read() == first_bytes
    assert len(mail.outbox) == 1


def test_a_lost_pdf_is_rendered_again_with_the_same_bytes(
    enrollment, django_capture_on_commit_callbacks
):
    complete(enrollment, django_capture_on_commit_callbacks)
    certificate = Certificate.objects.get()
    sha = certificate.pdf_sha256
    default_storage.delete(certificate.pdf.name)

    tasks.issue_certificate.delay(str(enrollment.pk)).get()

    certificate.refresh_from_db()
    assert default_storage.exists(certificate.pdf.name)
    assert certificate.pdf_sha256 == sha


@pytest.mark.parametrize("status", [EnrollmentStatus.ACTIVE, EnrollmentStatus.CANCELLED])
def test_no_certificate_for_an_enrollment_that_is_not_completed(enrollment, status):
    enrollment.status = status
    enrollment.save()
    assert tasks.issue_certificate.delay(str(enrollment.pk)).get() is None
    assert not Certificate.objects.exists()


def test_issue_task_for_a_deleted_enrollment_does_nothing(enrollment):
    enrollment_id = str(enrollment.pk)
    enrollment.delete()
    assert tasks.issue_certificate.delay(enrollment_id).get() is None
    assert not Certificate.objects.exists()


def test_email_task_for_a_gone_or_revoked_certificate_sends_nothing(
    enrollment, django_capture_on_commit_callbacks, admin_user
):
    complete(enrollment, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    certificate = Certificate.objects.get()
    services.certificate_revoke(actor=admin_user, certificate=certificate, reason="Cheating")
    assert tasks.send_course_completed_email.delay(str(certificate.pk)).get() is False
    certificate_id = str(certificate.pk)
    certificate.delete()
    assert tasks.send_course_completed_email.delay(certificate_id).get() is False
    assert mail.outbox == []


def test_email_task_run_twice_sends_once(enrollment, django_capture_on_commit_callbacks):
    complete(enrollment, django_capture_on_commit_callbacks)
    certificate = Certificate.objects.get()
    assert len(mail.outbox) == 1
    assert tasks.send_course_completed_email.delay(str(certificate.pk)).get() is False
    assert len(mail.outbox) == 1


def test_printed_data_is_frozen_and_rerender_keeps_it(
    enrollment, django_capture_on_commit_callbacks, admin_user
):
    complete(enrollment, django_capture_on_commit_callbacks)
    certificate = Certificate.objects.get()
    sha = certificate.pdf_sha256

    enrollment.user.full_name = "Someone Else"
    enrollment.user.save()
    enrollment.course.title = "Renamed course"
    enrollment.course.save()
    enrollment.course.instructor.full_name = "New Instructor"
    enrollment.course.instructor.save()

    services.certificate_rerender(actor=admin_user, certificate=certificate)
    certificate.refresh_from_db()
    assert certificate.learner_name == "Zoë Łukasiewicz – 李雷"
    assert certificate.pdf_sha256 == sha
    text = pdf_text(certificate)
    assert "Zoë Łukasiewicz – 李雷" in text and "Algebra for everyone" in text
    assert "Someone Else" not in text and "Renamed course" not in text


def test_learner_without_full_name_gets_the_username_printed(
    db, django_capture_on_commit_callbacks
):
    learner = factories.UserFactory(full_name="", username="zoe_l")
    enrollment = factories.EnrollmentFactory(user=learner)
    complete(enrollment, django_capture_on_commit_callbacks)
    assert Certificate.objects.get().learner_name == "zoe_l"


def test_custom_verify_url_is_printed_and_mailed(
    enrollment, django_capture_on_commit_callbacks, settings
):
    settings.CERTIFICATE_VERIFY_URL = "https://verify.example.org/c/{code}"
    complete(enrollment, django_capture_on_commit_callbacks)
    certificate = Certificate.objects.get()
    url = f"https://verify.example.org/c/{certificate.code}"
    assert url in pdf_text(certificate)
    assert url in mail.outbox[0].body


def test_pdf_lands_in_the_s3_bucket(
    enrollment,
    django_capture_on_commit_callbacks,
    s3_storage,  # noqa: F811
):
    complete(enrollment, django_capture_on_commit_callbacks)
    certificate = Certificate.objects.get()
    key = f"certificates/{certificate.pk}.pdf"
    assert s3_storage.keys("certificates/") == [key]
    data = s3_storage.get(key)
    assert hashlib.sha256(data).hexdigest() == certificate.pdf_sha256
    assert certificate.code in PdfReader(io.BytesIO(data)).pages[0].extract_text()
    head = s3_storage.client.head_object(Bucket=s3_storage.name, Key=key)
    assert head["ContentType"] == "application/pdf"


def test_codes_are_unique_url_safe_and_long(db, django_capture_on_commit_callbacks):
    course = factories.PublishedCourseFactory()
    for _ in range(5):
        complete(factories.EnrollmentFactory(course=course), django_capture_on_commit_callbacks)
    codes = list(Certificate.objects.values_list("code", flat=True))
    assert len(set(codes)) == 5
    for code in codes:
        assert len(code) >= 22
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
