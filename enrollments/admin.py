"""Enrollment admin: browse and search rosters; cancel and complete through the services.

Rows are read-only here (no add, no field edits) so the admin obeys the same rules as the API:
state changes go through the cancel and complete actions, which call the services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import ngettext

from eduflow.core.exceptions import ProblemError

from . import services
from .models import Enrollment


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "course", "status", "enrolled_at")
    list_filter = ("status", "course")
    search_fields = ("user__email", "course__title")
    list_select_related = ("user", "course")
    date_hierarchy = "enrolled_at"
    ordering = ("-enrolled_at", "id")
    actions = ("cancel_enrollments", "complete_enrollments")
    readonly_fields = (
        "id",
        "user",
        "course",
        "status",
        "enrolled_at",
        "completed_at",
        "cancelled_at",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        """May run the cancel/complete actions (staff holding the change permission)."""
        return request.user.has_perm("enrollments.change_enrollment")

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Enrollments are cancelled, not deleted, so the roster keeps its history. The delete
        # permission itself stays, so deleting a user or course (which cascades) still works.
        actions.pop("delete_selected", None)
        return actions

    def _run(self, request, queryset, apply, verb: str) -> None:
        done = 0
        for enrollment in queryset.select_related("user", "course"):
            try:
                apply(enrollment)
            except ProblemError as exc:
                self.message_user(request, f"{enrollment}: {exc.detail}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(count)d enrollment %(verb)s.", "%(count)d enrollments %(verb)s.", done)
                % {"count": done, "verb": verb},
                messages.SUCCESS,
            )

    @admin.action(description="Cancel selected enrollments", permissions=["manage"])
    def cancel_enrollments(self, request, queryset) -> None:
        self._run(
            request,
            queryset,
            lambda enrollment: services.enrollment_cancel(
                actor=request.user, enrollment=enrollment
            ),
            "cancelled",
        )

    @admin.action(description="Mark selected enrollments completed", permissions=["manage"])
    def complete_enrollments(self, request, queryset) -> None:
        self._run(
            request,
            queryset,
            lambda enrollment: services.enrollment_complete(enrollment=enrollment),
            "completed",
        )
