"""Django admin for modules and lessons, and their inlines on the course page.

Every save goes through `lessons.services`, which keep positions gap-free: positions are shown
read-only; the optional "Move to position" field inserts the item there (shifting siblings).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet

from courses.admin import CourseAdmin, sync_instance
from courses.models import Course
from eduflow.core.exceptions import ProblemError

from . import services
from .models import Lesson, Module

_MOVE_TO_HELP = "Optional: insert at this position (siblings shift). Left empty: append or keep."


# --- course page inlines -------------------------------------------------------------------


class _ServiceInlineFormSet(BaseInlineFormSet):
    """Saves through the services instead of writing rows itself. `actor` is bound per request."""

    actor = None

    def save(self, commit=True):
        super().save(commit=False)
        for obj in self.deleted_objects:
            if type(obj).objects.filter(pk=obj.pk).exists():  # a deleted module took it along
                self.delete_via_service(obj)
        saved = []
        for obj, changed in self.changed_objects:
            if type(obj).objects.filter(pk=obj.pk).exists():
                sync_instance(obj, self.update_via_service(obj, changed))
                saved.append(obj)
        for obj in self.new_objects:
            sync_instance(obj, self.create_via_service(obj))
            saved.append(obj)
        return saved


class ModuleInlineFormSet(_ServiceInlineFormSet):
    def create_via_service(self, obj):
        return services.module_create(actor=self.actor, course=self.instance, title=obj.title)

    def update_via_service(self, obj, changed):
        return services.module_update(actor=self.actor, module=obj, title=obj.title)

    def delete_via_service(self, obj):
        services.module_delete(actor=self.actor, module=obj)


_LESSON_INLINE_FIELDS = ("title", "module", "kind", "duration_seconds", "is_preview")


class LessonInlineFormSet(_ServiceInlineFormSet):
    def create_via_service(self, obj):
        return services.lesson_create(
            actor=self.actor,
            course=self.instance,
            **{name: getattr(obj, name) for name in _LESSON_INLINE_FIELDS},
        )

    def update_via_service(self, obj, changed):
        data = {name: getattr(obj, name) for name in _LESSON_INLINE_FIELDS if name in changed}
        return services.lesson_update(actor=self.actor, lesson=obj, **data)

    def delete_via_service(self, obj):
        services.lesson_delete(actor=self.actor, lesson=obj)


class _ServiceInline(admin.TabularInline):
    extra = 0
    readonly_fields = ("position",)
    ordering = ("position",)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"actor": request.user})


class ModuleInline(_ServiceInline):
    model = Module
    formset = ModuleInlineFormSet
    fields = ("position", "title")


class LessonInline(_ServiceInline):
    model = Lesson
    formset = LessonInlineFormSet
    fields = ("position", *_LESSON_INLINE_FIELDS)
    ordering = ("module__position", "position")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "module":
            course_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = (
                Module.objects.filter(course_id=course_id) if course_id else Module.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


admin.site.unregister(Course)


@admin.register(Course)
class CourseWithContentAdmin(CourseAdmin):
    """The course admin with its modules and lessons edited in place."""

    inlines = (ModuleInline, LessonInline)


# --- modules and lessons ---------------------------------------------------------------------


class _PositionedAdmin(admin.ModelAdmin):
    readonly_fields = ("position", "created_at", "updated_at")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            if not type(obj).objects.filter(pk=obj.pk).exists():
                continue  # deleted with its module earlier in this loop
            try:
                self.delete_model(request, obj)
            except ProblemError as exc:
                self.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)


class ModuleAdminForm(forms.ModelForm):
    move_to = forms.IntegerField(
        required=False, min_value=1, label="Move to position", help_text=_MOVE_TO_HELP
    )

    class Meta:
        model = Module
        fields = ("course", "title")


@admin.register(Module)
class ModuleAdmin(_PositionedAdmin):
    form = ModuleAdminForm
    list_display = ("title", "course", "position")
    list_select_related = ("course",)
    search_fields = ("title", "course__title")
    ordering = ("course__title", "course_id", "position")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        move_to = data.get("move_to")
        if change:
            saved = services.module_update(
                actor=request.user,
                module=obj,
                title=data["title"],
                course=data["course"],
                position=services.UNSET if move_to is None else move_to,
            )
        else:
            saved = services.module_create(
                actor=request.user, course=data["course"], title=data["title"], position=move_to
            )
        sync_instance(obj, saved)

    def delete_model(self, request, obj):
        services.module_delete(actor=request.user, module=obj)


class LessonAdminForm(forms.ModelForm):
    move_to = forms.IntegerField(
        required=False, min_value=1, label="Move to position", help_text=_MOVE_TO_HELP
    )

    class Meta:
        model = Lesson
        fields = ("course", "module", "title", "kind", "body", "duration_seconds", "is_preview")

    def clean(self):
        data = super().clean()
        course, module = data.get("course"), data.get("module")
        if course is not None and module is not None and module.course_id != course.pk:
            self.add_error("module", "The module must belong to the lesson's course.")
        return data


@admin.register(Lesson)
class LessonAdmin(_PositionedAdmin):
    form = LessonAdminForm
    list_display = ("title", "course", "module", "position", "kind", "is_preview")
    list_filter = ("kind", "is_preview")
    list_select_related = ("course", "module")
    search_fields = ("title", "course__title", "module__title")
    ordering = ("course__title", "course_id", "module__position", "position")

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        move_to = data.pop("move_to", None)
        if change:
            saved = services.lesson_update(
                actor=request.user,
                lesson=obj,
                position=services.UNSET if move_to is None else move_to,
                **data,
            )
        else:
            saved = services.lesson_create(actor=request.user, position=move_to, **data)
        sync_instance(obj, saved)

    def delete_model(self, request, obj):
        services.lesson_delete(actor=request.user, lesson=obj)
