"""Read helpers about enrollments that other apps share."""

from __future__ import annotations

from django.db.models import QuerySet

from eduflow.core.permissions import is_admin

from .models import Certificate, Enrollment, EnrollmentStatus


def enrollment_list(*, user) -> QuerySet[Enrollment]:
    """Enrollments the user may see, with the user and course loaded (one query per page)."""
    return Enrollment.objects.visible_to(user).select_related("user", "course")


def enrollment_is_active(*, user, course) -> bool:
    """True when the user holds a seat in the course (active or completed enrollment)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return Enrollment.objects.filter(
        user=user,
        course=course,
        status__in=(EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED),
    ).exists()


def course_content_access(*, user, course) -> bool:
    """May this user read the full content (lesson bodies) of the course?

    Admins, the owning instructor and learners with a seat may.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    if is_admin(user) or course.instructor_id == user.pk:
        return True
    return enrollment_is_active(user=user, course=course)


def course_ids_with_access(*, user) -> set:
    """Ids of courses in which the user holds a seat (for listing many lessons at once)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        Enrollment.objects.filter(
            user=user, status__in=(EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
        ).values_list("course_id", flat=True)
    )


def certificate_list(*, user) -> QuerySet[Certificate]:
    """Certificates the user may see (own; instructors: their courses'; admins: all), with the
    user and course loaded."""
    return Certificate.objects.visible_to(user).select_related("user", "course")


def certificate_by_code(*, code: str) -> Certificate | None:
    """The certificate with this public verification code, if any."""
    return Certificate.objects.filter(code=code).first()
