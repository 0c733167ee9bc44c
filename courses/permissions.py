"""Who may do what with courses.

Reads are open to everyone; which courses a caller sees is decided by the queryset
(`Course.objects.visible_to`), so hidden courses answer 404. Writes need an account (401
otherwise); creating needs the instructor or admin role; changing a visible course needs to own
it or be an admin (403 otherwise).
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from eduflow.core.permissions import can_author

from .selectors import course_is_editable_by


class CoursePermission(BasePermission):
    message = "Only the course's instructor or an administrator can change it."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(view, "action", None) == "create":
            self.message = "Only instructors and administrators can create courses."
            return can_author(request.user)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return course_is_editable_by(user=request.user, course=obj)
