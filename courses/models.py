"""Categories and courses."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from eduflow.core.permissions import is_admin, is_instructor

from .catalog_cache import CatalogQuerySet


class Category(models.Model):
    """A subject area courses are filed under."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "categories"
        indexes = [models.Index(fields=["name", "id"], name="category_name_idx")]

    def __str__(self) -> str:
        return self.name


class CourseStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class Difficulty(models.TextChoices):
    BEGINNER = "beginner", "Beginner"
    INTERMEDIATE = "intermediate", "Intermediate"
    ADVANCED = "advanced", "Advanced"


class CourseQuerySet(CatalogQuerySet):
    def published(self) -> CourseQuerySet:
        return self.filter(status=CourseStatus.PUBLISHED)

    def visible_to(self, user) -> CourseQuerySet:
        """Admins see all courses; instructors published ones and their own; others published."""
        if is_admin(user):
            return self
        if is_instructor(user):
            return self.filter(Q(status=CourseStatus.PUBLISHED) | Q(instructor=user))
        return self.published()

    def editable_by(self, user) -> CourseQuerySet:
        if is_admin(user):
            return self
        if is_instructor(user):
            return self.filter(instructor=user)
        return self.none()


class Course(models.Model):
    """A course owned by one instructor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=140, unique=True)
    title = models.CharField(max_length=200)
    subtitle = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="courses", null=True, blank=True
    )
    difficulty = models.CharField(
        max_length=20, choices=Difficulty.choices, default=Difficulty.BEGINNER
    )
    language = models.CharField(max_length=10, default="en")
    price = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD")
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Maximum number of enrollments; empty for no limit."
    )
    status = models.CharField(
        max_length=20, choices=CourseStatus.choices, default=CourseStatus.DRAFT
    )
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="courses_taught"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    # An image asset (re-encoded WebP); PROTECT: an asset in use cannot be deleted.
    thumbnail = models.ForeignKey(
        "media.MediaAsset",
        on_delete=models.PROTECT,
        related_name="course_thumbnails",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["-created_at", "id"], name="course_created_idx"),
            models.Index(fields=["status", "-created_at"], name="course_status_created_idx"),
            models.Index(fields=["instructor", "status"], name="course_instructor_idx"),
            models.Index(fields=["title", "id"], name="course_title_idx"),
            models.Index(fields=["price", "id"], name="course_price_idx"),
            # course_published_newest_idx (the catalog's default order) is made by migration
            # 0003 in SQL of each database: SQLite cannot say NULLS LAST in an index.
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="course_price_non_negative"),
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(capacity__gte=1),
                name="course_capacity_positive",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in CourseStatus]), name="course_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(difficulty__in=[d.value for d in Difficulty]),
                name="course_difficulty_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_published(self) -> bool:
        return self.status == CourseStatus.PUBLISHED

    @property
    def is_free(self) -> bool:
        return self.price == 0
