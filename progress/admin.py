"""Read-only admin for the SQL progress store (with MONGO_URL set, progress lives in MongoDB and
these lists stay empty). Progress changes only through heartbeats and lesson completion, and is
erased with its user or lesson, so the admin neither adds, changes nor deletes records."""

from __future__ import annotations

from django.contrib import admin

from .models import LessonProgress


@admin.register(LessonProgress)
class LessonProgressAdmin(admin.ModelAdmin):
    list_display = (
        "user_id",
        "lesson_id",
        "course_id",
        "coverage",
        "position",
        "completed",
        "updated_at",
    )
    list_filter = ("completed",)
    search_fields = ("=user_id", "=lesson_id", "=course_id")
    ordering = ("-updated_at", "id")
    show_full_result_count = False
    fields = (
        "user_id",
        "course_id",
        "lesson_id",
        "duration",
        "watched_seconds",
        "coverage",
        "position",
        "completed",
        "completed_at",
        "started_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
