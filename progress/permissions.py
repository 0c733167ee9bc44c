"""Who may read whose progress.

- Every progress endpoint needs an account (401 otherwise, the default permission class).
- Learners read only their own progress, and only in courses where they hold a seat (an active
  or completed enrollment): 403 `not_enrolled` otherwise.
- The course's instructor and admins read a learner's progress with `?user=` (403
  `not_course_staff` for anyone else; 404 when that user has no enrollment in the course), and
  the course and lesson analytics (403 `not_course_staff` for anyone else).
- Courses and lessons the caller cannot see answer 404, like unknown ids (checked first).
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404

from courses.models import Course
from courses.selectors import course_is_editable_by
from eduflow.core.exceptions import Forbidden
from enrollments.models import SEAT_HOLDING

from . import selectors


def require_course_staff(*, user, course: Course) -> None:
    if not course_is_editable_by(user=user, course=course):
        raise Forbidden(
            "Only the course's instructor and administrators can see this.",
            code="not_course_staff",
        )


def course_progress_subject(
    *, user, course: Course, requested_user_id: UUID | None
) -> tuple[UUID, str]:
    """Whose progress in `course` the caller reads (their own, or for staff
    `requested_user_id`), with that learner's enrollment status."""
    if requested_user_id is None or requested_user_id == user.pk:
        status = selectors.learner_enrollment_status(user_id=user.pk, course=course)
        if status not in SEAT_HOLDING:
            raise Forbidden("You are not enrolled in this course.", code="not_enrolled")
        return user.pk, status
    require_course_staff(user=user, course=course)
    status = selectors.learner_enrollment_status(user_id=requested_user_id, course=course)
    if status is None:
        raise Http404("No learner with this id in this course.")
    return requested_user_id, status
