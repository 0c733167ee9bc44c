"""Modules (sections) and lessons, ordered by gap-free positions within their parent."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from courses.catalog_cache import CatalogQuerySet


class Module(models.Model):
    """A section of a course."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="modules")
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["course_id", "position", "id"]
        indexes = [models.Index(fields=["course", "position", "id"], name="module_order_idx")]
        constraints = [
            models.UniqueConstraint(fields=["course", "position"], name="module_position_unique"),
            models.CheckConstraint(condition=Q(position__gte=1), name="module_position_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class LessonKind(models.TextChoices):
    VIDEO = "video", "Video"
    TEXT = "text", "Text"
    DOCUMENT = "document", "Document"


class Lesson(models.Model):
    """A unit of content. Its parent for ordering is its module, or the course when it has none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="lessons")
    module = models.ForeignKey(
        Module, on_delete=models.CASCADE, related_name="lessons", null=True, blank=True
    )
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=LessonKind.choices, default=LessonKind.TEXT)
    body = models.TextField(blank=True, help_text="Markdown.")
    duration_seconds = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField()
    is_preview = models.BooleanField(default=False)
    # The video of a video lesson or the document of a document lesson; PROTECT: an asset in
    # use cannot be deleted.
    asset = models.ForeignKey(
        "media.MediaAsset",
        on_delete=models.PROTECT,
        related_name="lessons",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        # Lessons outside any module come first, then module by module (same on every database).
        ordering = ["course_id", F("module__position").asc(nulls_first=True), "position", "id"]
        indexes = [
            models.Index(fields=["course", "module", "position"], name="lesson_order_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["module", "position"],
                condition=Q(module__isnull=False),
                name="lesson_module_position_unique",
            ),
            models.UniqueConstraint(
                fields=["course", "position"],
                condition=Q(module__isnull=True),
                name="lesson_course_position_unique",
            ),
            models.CheckConstraint(condition=Q(position__gte=1), name="lesson_position_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in LessonKind]), name="lesson_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title
