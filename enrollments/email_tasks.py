"""Email tasks of the enrollments app (queue `email`). Ids in; safe to run twice.

(Certificate tasks live in `enrollments.tasks`.)
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from eduflow.core.emails import send_templated_email_once
from eduflow.core.tasks import task_options

from .models import Enrollment, EnrollmentStatus


@shared_task(**task_options("enrollments.send_enrollment_confirmation_email"))
def send_enrollment_confirmation_email(enrollment_id: str) -> bool:
    """Confirm an enrollment to the learner. One message per enrollment period: re-enrolling
    after a cancellation confirms again, a redelivered task does not. False when there is
    nothing to send (gone, no longer active, already sent)."""
    enrollment = (
        Enrollment.objects.select_related("user", "course", "course__instructor")
        .filter(pk=enrollment_id)
        .first()
    )
    if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
        return False
    course = enrollment.course
    return send_templated_email_once(
        key=f"enrollment_confirmation:{enrollment.pk}:{enrollment.enrolled_at.timestamp():.6f}",
        to=[enrollment.user.email],
        template="enrollment_confirmation",
        context={
            "name": enrollment.user.get_full_name(),
            "course_title": course.title,
            "instructor": course.instructor.get_full_name() if course.instructor_id else "",
            "enrolled_at": enrollment.enrolled_at,
            "course_url": f"{settings.PUBLIC_BASE_URL}/api/v1/courses/{course.pk}/",
        },
    )
