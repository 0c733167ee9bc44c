"""Enrollment admin: browse and search rosters; cancel and complete through the services.

Rows are read-only here (no add, no field edits) so the admin obeys the same rules as the API:
state changes go through the cancel and complete actions, which call the services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from eduflow.core.exceptions import ProblemError

from . import services
from .models import Certificate, Enrollment


class ActionsOnlyAdmin(admin.ModelAdmin):
    """Rows are read-only here; changes go through actions that call the services.

    Those actions need the model's change permission (`permissions=["manage"]`).
    """

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(Enrollment)
class EnrollmentAdmin(ActionsOnlyAdmin):
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


class CertificateRevokeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Kept with the certificate; verification then answers `revoked`.",
    )


@admin.register(Certificate)
class CertificateAdmin(ActionsOnlyAdmin):
    """Certificates are issued by the completion flow, never added or edited here; revoking and
    re-rendering go through the services (re-rendering prints the frozen data again)."""

    list_display = ("learner_name", "course_title", "user", "course", "status", "issued_at")
    list_filter = ("status",)
    search_fields = ("code", "learner_name", "course_title", "user__email")
    list_select_related = ("user", "course")
    date_hierarchy = "issued_at"
    ordering = ("-issued_at", "id")
    actions = ("revoke_certificates", "rerender_certificates")
    readonly_fields = (
        "id",
        "user",
        "course",
        "code",
        "status",
        "issued_at",
        "revoked_at",
        "revoked_reason",
        "revoked_by",
        "learner_name",
        "course_title",
        "instructor_name",
        "completed_on",
        "pdf",
        "pdf_sha256",
        "rendered_at",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    @admin.action(description="Revoke selected certificates", permissions=["manage"])
    def revoke_certificates(self, request, queryset):
        form = CertificateRevokeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for certificate in queryset:
                try:
                    services.certificate_revoke(
                        actor=request.user,
                        certificate=certificate,
                        reason=form.cleaned_data["reason"],
                    )
                except ProblemError as exc:
                    self.message_user(request, f"{certificate}: {exc.detail}", messages.WARNING)
                else:
                    done += 1
            if done:
                self.message_user(
                    request,
                    ngettext("%d certificate revoked.", "%d certificates revoked.", done) % done,
                    messages.SUCCESS,
                )
            return None
        # Ask for the reason first (the page posts the same action back with `apply`).
        return TemplateResponse(
            request,
            "admin/enrollments/certificate/revoke.html",
            {
                **self.admin_site.each_context(request),
                "title": "Revoke certificates",
                "opts": self.model._meta,
                "certificates": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Re-render PDFs of selected certificates", permissions=["manage"])
    def rerender_certificates(self, request, queryset) -> None:
        done = 0
        for certificate in queryset:
            try:
                services.certificate_rerender(actor=request.user, certificate=certificate)
            except (ProblemError, Http404) as exc:
                self.message_user(request, f"{certificate}: {exc}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%d certificate re-rendered.", "%d certificates re-rendered.", done)
                % done,
                messages.SUCCESS,
            )
