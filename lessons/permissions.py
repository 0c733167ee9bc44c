"""Who may do what with modules and lessons.

Reads are open to everyone; the queryset holds only items of courses the caller can see, so
others answer 404. Writes need an account (401 otherwise) and the right to edit the item's
course: its instructor or an admin (403 otherwise). Which course a new item goes into is
checked by the write serializers (invisible course: 400 on `course`; visible but not the
caller's: 403).
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from courses.selectors import course_is_editable_by


class CourseContentPermission(BasePermission):
    message = "Only the course's instructor or an administrator can change it."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        course = obj if hasattr(obj, "instructor_id") else obj.course
        return course_is_editable_by(user=request.user, course=course)
