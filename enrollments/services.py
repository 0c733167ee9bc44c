"""Every change to enrollments: enrolling, cancelling, completing.

Seats are counted under a row lock on the course, so concurrent enrollments into one course
queue behind each other and capacity is never exceeded. On SQLite, transactions start with
BEGIN IMMEDIATE (see settings), which serializes writers the same way.
"""

from __future__ import annotations

import functools
import hashlib
import io
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from eduflow.core.exceptions import Conflict, Forbidden, PaymentRequired
from eduflow.core.permissions import is_admin
from media.storage import get_storage, put

from .certificates import CertificateContent, render_certificate
from .models import (
    Certificate,
    CertificateStatus,
    Enrollment,
    EnrollmentStatus,
    certificate_pdf_key,
)
from .permissions import can_cancel_enrollment, can_manage_roster
from .signals import enrollment_completed


def _existing_enrollment(*, user: User, course: Course) -> Enrollment | None:
    """The (user, course) row, locked, if there is one."""
    return _one_or_none(Enrollment.objects.select_for_update().filter(user=user, course=course))


def _one_or_none(queryset):
    """The row a unique key names, or None: no ORDER BY, unlike `first()`."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None


def _already_enrolled() -> Conflict:
    return Conflict("You are already enrolled in this course.", code="already_enrolled")


# What enrolling reads of the locked course: the checks below and the answer's course summary.
_LOCKED_COURSE_FIELDS = ("id", "slug", "title", "status", "price", "capacity", "instructor_id")


def enrollment_create(*, actor: User, course: Course, user: User | None = None) -> Enrollment:
    """Enroll `user` (default: the actor) into `course`, or reactivate a cancelled enrollment.

    Self-enrollment needs a published, free course. Admins and the owning instructor may
    enroll other users; the price does not apply to them, the capacity does.
    """
    try:
        return _enrollment_create(actor=actor, course=course, user=user)
    except IntegrityError as exc:
        # The (user, course) unique constraint: another writer got there first. Caught outside
        # the transaction, which the failed insert has rolled back as a whole (nothing else was
        # written in it), so the insert needs no savepoint of its own; inside a caller's
        # transaction the `atomic` of `_enrollment_create` is that savepoint.
        raise _already_enrolled() from exc


@transaction.atomic
def _enrollment_create(*, actor: User, course: Course, user: User | None) -> Enrollment:
    target = user if user is not None else actor
    enrolling_self = target.pk == actor.pk
    if not enrolling_self and not can_manage_roster(actor, course):
        raise Forbidden(
            "Only administrators and the course's instructor can enroll other users.",
            code="cannot_enroll_others",
        )

    # Lock the course first: every enrollment into it waits here, so the seat count below
    # cannot change until this transaction ends.
    locked_course = _one_or_none(
        Course.objects.select_for_update().only(*_LOCKED_COURSE_FIELDS).filter(pk=course.pk)
    )
    if locked_course is None:  # deleted since the request was validated
        raise ValidationError({"course": ["No course with this id is open to you."]})
    course = locked_course
    if not course.is_published:
        raise Conflict("This course is not open for enrollment.", code="course_not_published")

    enrollment = _existing_enrollment(user=target, course=course)
    if enrollment is not None and enrollment.status != EnrollmentStatus.CANCELLED:
        raise _already_enrolled()
    if enrolling_self and not course.is_free:
        raise PaymentRequired(
            "This course must be purchased before enrolling.", code="payment_required"
        )
    if course.capacity is not None:
        taken = Enrollment.objects.filter(course=course).holding_seat().count()
        if taken >= course.capacity:
            raise Conflict("This course has no free seats left.", code="course_full")

    now = timezone.now()
    if enrollment is not None:
        enrollment.status = EnrollmentStatus.ACTIVE
        enrollment.enrolled_at = now
        enrollment.cancelled_at = None
        enrollment.completed_at = None
        enrollment.save(
            update_fields=["status", "enrolled_at", "cancelled_at", "completed_at", "updated_at"]
        )
        enrollment.user, enrollment.course = target, course
        _queue_enrollment_confirmation(enrollment)
        return enrollment

    enrollment = Enrollment.objects.create(
        user=target, course=course, status=EnrollmentStatus.ACTIVE, enrolled_at=now
    )
    _queue_enrollment_confirmation(enrollment)
    return enrollment


def _queue_enrollment_confirmation(enrollment: Enrollment) -> None:
    """Mail the learner a confirmation once the enrollment commits (email queue, id only)."""
    from .email_tasks import send_enrollment_confirmation_email

    transaction.on_commit(
        functools.partial(send_enrollment_confirmation_email.delay, str(enrollment.pk)),
        robust=True,
    )


@transaction.atomic
def enrollment_cancel(*, actor: User, enrollment: Enrollment) -> Enrollment:
    """Cancel an enrollment, keeping the row. Cancelling a cancelled enrollment changes nothing.

    Completed enrollments stay completed (409 `enrollment_completed`).
    """
    if not can_cancel_enrollment(actor, enrollment):
        raise Forbidden(
            "Only the enrolled user, the course's instructor or an administrator can cancel "
            "this enrollment.",
            code="cannot_cancel_enrollment",
        )
    locked = get_object_or_404(Enrollment.objects.select_for_update(), pk=enrollment.pk)
    if locked.status == EnrollmentStatus.COMPLETED:
        raise Conflict("A completed enrollment cannot be cancelled.", code="enrollment_completed")
    if locked.status == EnrollmentStatus.ACTIVE:
        locked.status = EnrollmentStatus.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["status", "cancelled_at", "updated_at"])
    _copy_state(source=locked, target=enrollment)
    return enrollment


@transaction.atomic
def enrollment_complete(*, enrollment: Enrollment) -> Enrollment:
    """Mark an active enrollment completed. Idempotent: completion happens (and is announced
    with the `enrollment_completed` signal, after commit) once per enrollment, never reverts.

    A cancelled enrollment cannot be completed (409 `enrollment_cancelled`).
    """
    locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if locked.status == EnrollmentStatus.CANCELLED:
        raise Conflict("A cancelled enrollment cannot be completed.", code="enrollment_cancelled")
    if locked.status == EnrollmentStatus.ACTIVE:
        locked.status = EnrollmentStatus.COMPLETED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at", "updated_at"])
        transaction.on_commit(
            functools.partial(
                enrollment_completed.send_robust, sender=Enrollment, enrollment=locked
            )
        )
    _copy_state(source=locked, target=enrollment)
    return enrollment


def _copy_state(*, source: Enrollment, target: Enrollment) -> None:
    """Bring the caller's instance up to date with the locked row."""
    for field in ("status", "enrolled_at", "completed_at", "cancelled_at", "updated_at"):
        setattr(target, field, getattr(source, field))


# --- Certificates -----------------------------------------------------------------------------
# A certificate is issued once per (user, course) when an enrollment is completed: the
# `enrollment_completed` receiver queues `enrollments.issue_certificate`, which calls
# `certificate_issue` (under the enrollment's row lock and the unique constraint) and then
# `certificate_render_pdf` (under the certificate's row lock, only when the PDF is missing).


def certificate_verify_url(*, code: str) -> str:
    """The public verification link of a certificate (printed on it and sent by email)."""
    template = settings.CERTIFICATE_VERIFY_URL
    if template:
        return template.replace("{code}", quote(code, safe=""))
    path = reverse("certificate-verify", kwargs={"code": code})
    return f"{settings.PUBLIC_BASE_URL}{path}"


def certificate_download_url(*, certificate: Certificate) -> str:
    """Absolute URL of the PDF download endpoint (needs the owner's or an admin's login)."""
    path = reverse("certificate-download", kwargs={"pk": certificate.pk})
    return f"{settings.PUBLIC_BASE_URL}{path}"


def certificate_queue_issue(*, enrollment_id) -> None:
    """Queue the certificate of a completed enrollment once the current transaction commits."""
    from .tasks import issue_certificate

    # robust: the completion has committed whatever happens here; in eager mode (no broker) a
    # failure is logged and the issue task can be run again (it is idempotent).
    enrollment_id = str(enrollment_id)

    def queue_issue() -> None:  # a named function: robust on_commit logs failures by name
        issue_certificate.delay(enrollment_id)

    transaction.on_commit(queue_issue, robust=True)


@transaction.atomic
def certificate_issue(*, enrollment_id) -> tuple[Certificate | None, bool]:
    """The certificate of a completed enrollment, created if there is none yet.

    Returns `(certificate, created)`; `(None, False)` when the enrollment is gone or not
    completed. The enrollment's row lock serializes concurrent calls; the (user, course) unique
    constraint backs it up, so there is never more than one certificate.
    """
    enrollment = Enrollment.objects.select_for_update().filter(pk=enrollment_id).first()
    if enrollment is None or enrollment.status != EnrollmentStatus.COMPLETED:
        return None, False
    existing = Certificate.objects.filter(
        user_id=enrollment.user_id, course_id=enrollment.course_id
    ).first()
    if existing is not None:
        return existing, False
    user = User.objects.get(pk=enrollment.user_id)
    course = Course.objects.select_related("instructor").get(pk=enrollment.course_id)
    completed_at = enrollment.completed_at or timezone.now()
    try:
        with transaction.atomic():
            certificate = Certificate.objects.create(
                user=user,
                course=course,
                learner_name=(user.full_name or user.username).strip(),
                course_title=course.title,
                instructor_name=course.instructor.get_full_name().strip(),
                completed_on=timezone.localdate(completed_at),
            )
    except IntegrityError:
        # Someone issued it without holding the enrollment lock (e.g. another code path).
        return Certificate.objects.get(user_id=user.pk, course_id=course.pk), False
    return certificate, True


def certificate_content(*, certificate: Certificate) -> CertificateContent:
    """What the PDF prints: the frozen data, the code and the verification link."""
    return CertificateContent(
        learner_name=certificate.learner_name,
        course_title=certificate.course_title,
        instructor_name=certificate.instructor_name,
        completed_on=certificate.completed_on,
        issued_at=certificate.issued_at,
        code=certificate.code,
        verify_url=certificate_verify_url(code=certificate.code),
    )


@transaction.atomic
def certificate_render_pdf(*, certificate_id, force: bool = False) -> Certificate | None:
    """Render and store the PDF at `certificates/<id>.pdf` if it is missing (always if `force`).

    Only the frozen data is printed, so re-rendering reproduces the same certificate. The row
    lock makes a concurrent second run wait and then find the file. None if the row is gone.
    """
    certificate = Certificate.objects.select_for_update().filter(pk=certificate_id).first()
    if certificate is None:
        return None
    storage = get_storage()
    if not force and certificate.pdf and storage.exists(certificate.pdf.name):
        return certificate
    data = render_certificate(certificate_content(certificate=certificate))
    key = put(certificate_pdf_key(certificate), io.BytesIO(data), content_type="application/pdf")
    certificate.pdf.name = key
    certificate.pdf_sha256 = hashlib.sha256(data).hexdigest()
    certificate.rendered_at = timezone.now()
    certificate.save(update_fields=["pdf", "pdf_sha256", "rendered_at", "updated_at"])
    return certificate


def certificate_rerender(*, actor: User, certificate: Certificate) -> Certificate:
    """Render the PDF again from the frozen data (administrators only)."""
    if not is_admin(actor):
        raise Forbidden(
            "Only administrators can re-render certificates.", code="cannot_rerender_certificate"
        )
    rendered = certificate_render_pdf(certificate_id=certificate.pk, force=True)
    if rendered is None:
        raise Http404("No such certificate.")
    return rendered


@transaction.atomic
def certificate_revoke(*, actor: User, certificate: Certificate, reason: str) -> Certificate:
    """Revoke a certificate (administrators only): verification then answers `revoked`.

    A reason is required (400 `validation_error`); revoking twice is 409
    `certificate_already_revoked`.
    """
    if not is_admin(actor):
        raise Forbidden(
            "Only administrators can revoke certificates.", code="cannot_revoke_certificate"
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give the reason for revoking this certificate."]})
    locked = get_object_or_404(Certificate.objects.select_for_update(), pk=certificate.pk)
    if locked.status == CertificateStatus.REVOKED:
        raise Conflict("This certificate is already revoked.", code="certificate_already_revoked")
    locked.status = CertificateStatus.REVOKED
    locked.revoked_at = timezone.now()
    locked.revoked_reason = reason
    locked.revoked_by = actor
    locked.save(
        update_fields=["status", "revoked_at", "revoked_reason", "revoked_by", "updated_at"]
    )
    for field in ("status", "revoked_at", "revoked_reason", "revoked_by_id", "updated_at"):
        setattr(certificate, field, getattr(locked, field))
    return certificate
