"""Query-string filters of the module and lesson lists. Malformed ids answer 400."""

from __future__ import annotations

import django_filters

from .models import Lesson, Module


class ModuleFilter(django_filters.FilterSet):
    course = django_filters.UUIDFilter(field_name="course_id", help_text="Course id.")

    class Meta:
        model = Module
        fields = ("course",)


class LessonFilter(django_filters.FilterSet):
    course = django_filters.UUIDFilter(field_name="course_id", help_text="Course id.")
    module = django_filters.UUIDFilter(field_name="module_id", help_text="Module id.")

    class Meta:
        model = Lesson
        fields = ("course", "module")
