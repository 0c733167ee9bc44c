"""Every change to enrollments: enrolling, cancelling, completing.

Seats are counted under a row lock on the course, so concurrent enrollments into one course
queue behind each other and capacity is never exceeded. On SQLite, transactions start with
BEGIN IMMEDIATE (see settings), which serializes writers the same way.
"""

from __future__ import annotations

import functools

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from eduflow.core.exceptions import Conflict, Forbidden, PaymentRequired

from .models import Enrollment, EnrollmentStatus
from .permissions import can_cancel_enrollment, can_manage_roster
from .signals import enrollment_completed


def _existing_enrollment(*, user: User, course: Course) -> Enrollment | None:
    """The (user, course) row, locked, if there is one."""
    return Enrollment.objects.select_for_update().filter(user=user, course=course).first()


def _already_enrolled() -> Conflict:
    return Conflict("You are already enrolled in this course.", code="already_enrolled")


@transaction.atomic
def enrollment_create(*, actor: User, course: Course, user: User | None = None) -> Enrollment:
    """Enroll `user` (default: the actor) into `course`, or reactivate a cancelled enrollment.

    Self-enrollment needs a published, free course. Admins and the owning instructor may
    enroll other users; the price does not apply to them, the capacity does.
    """
    target = user if user is not None else actor
    enrolling_self = target.pk == actor.pk
    if not enrolling_self and not can_manage_roster(actor, course):
        raise Forbidden(
            "Only administrators and the course's instructor can enroll other users.",
            code="cannot_enroll_others",
        )

    # Lock the course first: every enrollment into it waits here, so the seat count below
    # cannot change until this transaction ends.
    locked_course = Course.objects.select_for_update().filter(pk=course.pk).first()
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
        return enrollment

    try:
        with transaction.atomic():
            return Enrollment.objects.create(
                user=target, course=course, status=EnrollmentStatus.ACTIVE, enrolled_at=now
            )
    except IntegrityError as exc:
        # The (user, course) unique constraint: another writer got there first.
        raise _already_enrolled() from exc


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
