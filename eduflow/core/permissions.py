"""Role helpers and DRF permission classes shared by every app.

Policy (written once, tested per endpoint): anonymous callers get only what an endpoint opts
into; objects outside the caller's queryset answer 404; forbidden actions on visible objects
answer 403.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

ADMIN = "admin"
INSTRUCTOR = "instructor"
STUDENT = "student"


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.role == ADMIN))


def is_instructor(user) -> bool:
    return bool(user and user.is_authenticated and user.role == INSTRUCTOR)


def can_author(user) -> bool:
    """Instructors and admins create and manage course content."""
    return is_admin(user) or is_instructor(user)


class IsAdmin(BasePermission):
    message = "Only administrators can do this."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


class ReadOnlyOrAuthor(BasePermission):
    """Anyone may read (subject to queryset scoping); only instructors and admins may write."""

    message = "Only instructors and administrators can change course content."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return can_author(request.user)


class ReadOnlyOrAdmin(BasePermission):
    message = "Only administrators can change this."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return is_admin(request.user)
