"""Who may manage which enrollments.

Reading is scoped by `Enrollment.objects.visible_to(user)` (hidden rows answer 404); these
rules decide the actions on visible rows and on courses (forbidden actions answer 403).
"""

from __future__ import annotations

from eduflow.core.permissions import is_admin


def can_manage_roster(user, course) -> bool:
    """Admins and the course's owning instructor may enroll other users into it."""
    if not getattr(user, "is_authenticated", False):
        return False
    return is_admin(user) or course.instructor_id == user.pk


def can_cancel_enrollment(user, enrollment) -> bool:
    """The enrolled user, the course's owning instructor and admins may cancel an enrollment."""
    if not getattr(user, "is_authenticated", False):
        return False
    if enrollment.user_id == user.pk:
        return True
    return is_admin(user) or enrollment.course.instructor_id == user.pk
