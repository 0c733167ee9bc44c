"""Who may do what with media assets.

Every asset endpoint needs an account (401 otherwise). Uploading needs the instructor or admin
role (403 otherwise). The queryset holds the caller's own assets (all of them for admins), so
anybody else's asset answers 404; on a visible asset, the owner and admins may do everything.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from eduflow.core.permissions import can_author, is_admin


class MediaAssetPermission(BasePermission):
    message = "Only instructors and administrators can upload media."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if getattr(view, "action", None) == "create":
            return can_author(request.user)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return is_admin(request.user) or obj.owner_id == request.user.pk
