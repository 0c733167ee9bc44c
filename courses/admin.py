"""Django admin for categories and courses. Saves and actions go through the services, so the
admin obeys the same rules as the API (slugs, ownership, publish needs lessons ...).

The module and lesson inlines of the course page are added by `lessons.admin` (courses must
not depend on lessons).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models

from eduflow.core.exceptions import ProblemError

from . import selectors, services
from .models import Category, Course


def sync_instance(target: models.Model, source: models.Model) -> None:
    """Copy a row saved by a service into the instance the admin keeps working with."""
    for field in type(source)._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


class CategoryAdminForm(forms.ModelForm):
    slug = forms.SlugField(
        max_length=120, required=False, help_text="Left empty: made from the name."
    )

    class Meta:
        model = Category
        fields = ("name", "slug")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        data = {"name": form.cleaned_data["name"], "slug": form.cleaned_data.get("slug") or ""}
        if change:
            saved = services.category_update(actor=request.user, category=obj, **data)
        else:
            saved = services.category_create(actor=request.user, **data)
        sync_instance(obj, saved)

    def delete_model(self, request, obj):
        services.category_delete(actor=request.user, category=obj)

    def delete_queryset(self, request, queryset):
        for category in queryset:
            try:
                services.category_delete(actor=request.user, category=category)
            except ProblemError as exc:
                self.message_user(request, f"{category}: {exc.detail}", messages.ERROR)


COURSE_FORM_FIELDS = (
    "title",
    "slug",
    "subtitle",
    "description",
    "category",
    "difficulty",
    "language",
    "price",
    "currency",
    "capacity",
    "instructor",
)


class CourseAdminForm(forms.ModelForm):
    slug = forms.SlugField(
        max_length=140, required=False, help_text="Left empty: made from the title."
    )

    class Meta:
        model = Course
        fields = COURSE_FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instructor"].queryset = selectors.instructor_candidates()


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    form = CourseAdminForm
    list_display = (
        "title",
        "status",
        "instructor",
        "category",
        "difficulty",
        "price",
        "currency",
        "published_at",
        "created_at",
    )
    list_filter = ("status", "difficulty", "category")
    list_select_related = ("instructor", "category")
    search_fields = ("title", "slug", "subtitle", "instructor__email", "instructor__username")
    readonly_fields = ("status", "published_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    actions = ("publish_courses", "archive_courses")

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in COURSE_FORM_FIELDS}
        data["slug"] = data["slug"] or ""
        if change:
            saved = services.course_update(actor=request.user, course=obj, **data)
        else:
            saved = services.course_create(actor=request.user, **data)
        sync_instance(obj, saved)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A course learners enrolled in is archived, not deleted (the API answers 409).
        if obj is not None and obj.enrollments.exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.course_delete(actor=request.user, course=obj)

    def delete_queryset(self, request, queryset):
        for course in queryset:
            try:
                services.course_delete(actor=request.user, course=course)
            except ProblemError as exc:
                self.message_user(request, f"{course}: {exc.detail}", messages.ERROR)

    def _run_action(self, request, queryset, service, verb: str) -> None:
        done = 0
        for course in queryset:
            try:
                service(actor=request.user, course=course)
            except ProblemError as exc:
                self.message_user(request, f"{course!s}: not {verb}: {exc.detail}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} course(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Publish selected courses")
    def publish_courses(self, request, queryset):
        self._run_action(request, queryset, services.course_publish, "published")

    @admin.action(description="Archive selected courses")
    def archive_courses(self, request, queryset):
        self._run_action(request, queryset, services.course_archive, "archived")
