"""Enrollments: one row per (user, course), reactivated on re-enrollment."""

from __future__ import annotations

import secrets
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


# --- Certificates ---------------------------------------------------------------------------


def new_verification_code() -> str:
    """A public, unguessable, URL-safe verification code (128 random bits, 22 characters)."""
    return secrets.token_urlsafe(16)


def certificate_pdf_key(instance: Certificate, filename: str = "") -> str:
    """Storage key of a certificate's PDF: `certificates/<id>.pdf` (deterministic, overwritten)."""
    return f"certificates/{instance.pk}.pdf"


class CertificateStatus(models.TextChoices):
    VALID = "valid", "Valid"
    REVOKED = "revoked", "Revoked"


class CertificateQuerySet(models.QuerySet):
    def visible_to(self, user) -> CertificateQuerySet:
        """Admins see all; instructors those of their courses and their own; learners own."""
        if is_admin(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if is_instructor(user):
            return self.filter(Q(course__instructor=user) | Q(user=user))
        return self.filter(user=user)


class Certificate(models.Model):
    """Proof that a learner completed a course: one per (user, course), issued once.

    What is printed (learner name, course title, instructor, completion date) is frozen at issue
    time, so later profile or course edits never change an issued certificate, and re-rendering
    the PDF prints the same data.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificates"
    )
    course = models.ForeignKey(
        "courses.Course", on_delete=models.CASCADE, related_name="certificates"
    )
    code = models.CharField(
        "verification code", max_length=43, unique=True, default=new_verification_code
    )
    status = models.CharField(
        max_length=20, choices=CertificateStatus.choices, default=CertificateStatus.VALID
    )
    issued_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Frozen copy of what is printed.
    learner_name = models.CharField(max_length=200)
    course_title = models.CharField(max_length=200)
    instructor_name = models.CharField(max_length=200)
    completed_on = models.DateField()
    pdf = models.FileField(upload_to=certificate_pdf_key, max_length=255, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "id"]
        indexes = [
            models.Index(fields=["-issued_at", "id"], name="certificate_issued_idx"),
            models.Index(fields=["course", "status"], name="certificate_course_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course"], name="certificate_user_course_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in CertificateStatus]),
                name="certificate_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=CertificateStatus.VALID, revoked_at__isnull=True)
                    | Q(status=CertificateStatus.REVOKED, revoked_at__isnull=False)
                ),
                name="certificate_revoked_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.learner_name}: {self.course_title}"

    @property
    def is_valid(self) -> bool:
        return self.status == CertificateStatus.VALID
