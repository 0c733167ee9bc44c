"""Enrollments: one row per (user, course), reactivated on re-enrollment."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from eduflow.core.permissions import is_admin, is_instructor


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# Enrollments that hold a seat (count against capacity) and grant access to content.
SEAT_HOLDING = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


class EnrollmentQuerySet(models.QuerySet):
    def holding_seat(self) -> EnrollmentQuerySet:
        return self.filter(status__in=SEAT_HOLDING)

    def visible_to(self, user) -> EnrollmentQuerySet:
        """Admins see all; instructors enrollments in their courses and their own; students own."""
        if is_admin(user):
            return self
        if is_instructor(user):
            return self.filter(Q(course__instructor=user) | Q(user=user))
        return self.filter(user=user)


class Enrollment(models.Model):
    """A learner's place in a course."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    course = models.ForeignKey(
        "courses.Course", on_delete=models.CASCADE, related_name="enrollments"
    )
    status = models.CharField(
        max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        ordering = ["-enrolled_at", "id"]
        indexes = [
            models.Index(fields=["-enrolled_at", "id"], name="enrollment_enrolled_idx"),
            models.Index(fields=["course", "status"], name="enrollment_course_status_idx"),
            models.Index(fields=["user", "status"], name="enrollment_user_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course"], name="enrollment_user_course_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in EnrollmentStatus]),
                name="enrollment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.course}"
