"""Enrollment shapes: a read shape summarising user and course, a write shape for enrolling."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from courses.models import Course

from .models import Certificate, Enrollment
from .services import certificate_download_url, certificate_verify_url

# The browsable API renders related fields as a <select> of every row in the queryset; a plain
# id input keeps it from listing other users (their emails) or every visible course.
ID_INPUT = {"base_template": "input.html"}


class EnrollmentUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username", "full_name")
        read_only_fields = fields


class EnrollmentCourseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Course
        fields = ("id", "slug", "title")
        read_only_fields = fields


class EnrollmentSerializer(serializers.ModelSerializer):
    user = EnrollmentUserSerializer(read_only=True)
    course = EnrollmentCourseSerializer(read_only=True)

    class Meta:
        model = Enrollment
        fields = (
            "id",
            "user",
            "course",
            "status",
            "enrolled_at",
            "completed_at",
            "cancelled_at",
        )
        read_only_fields = fields


class VisibleCourseField(serializers.PrimaryKeyRelatedField):
    """A course id among the courses the caller may see; others read as unknown ids."""

    def get_queryset(self):
        request = self.context.get("request")
        # Only what the enroll service reads before it locks the course by id (who may enroll
        # others); the locked read brings the rest.
        return Course.objects.visible_to(getattr(request, "user", None)).only("id", "instructor_id")


class EnrollmentCreateSerializer(serializers.Serializer):
    """`{"course": <id>}` to enroll yourself; `"user": <id>` to enroll someone else."""

    course = VisibleCourseField(
        pk_field=serializers.UUIDField(),
        error_messages={
            "does_not_exist": "No course with this id is open to you.",
            "incorrect_type": "Give the course id as a UUID string.",
        },
        help_text="Id of the course to enroll into.",
        style=ID_INPUT,
    )
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        pk_field=serializers.UUIDField(),
        required=False,
        allow_null=True,
        error_messages={
            "does_not_exist": "No active user with this id.",
            "incorrect_type": "Give the user id as a UUID string.",
        },
        help_text="Id of the user to enroll (admins and the course's instructor only). "
        "Defaults to the caller.",
        style=ID_INPUT,
    )


# --- Certificates -----------------------------------------------------------------------------


class CertificateSerializer(serializers.ModelSerializer):
    """A certificate as its owner, the course's instructor or an admin sees it."""

    user = EnrollmentUserSerializer(read_only=True)
    course = EnrollmentCourseSerializer(read_only=True)
    download_url = serializers.SerializerMethodField(
        help_text="PDF download (owner and admins); null until the PDF is rendered."
    )
    verify_url = serializers.SerializerMethodField(help_text="Public verification link.")

    class Meta:
        model = Certificate
        fields = (
            "id",
            "user",
            "course",
            "code",
            "status",
            "issued_at",
            "revoked_at",
            "revoked_reason",
            "learner_name",
            "course_title",
            "instructor_name",
            "completed_on",
            "pdf_sha256",
            "download_url",
            "verify_url",
        )
        read_only_fields = fields

    def get_download_url(self, certificate: Certificate) -> str | None:
        if not certificate.pdf:
            return None
        return certificate_download_url(certificate=certificate)

    def get_verify_url(self, certificate: Certificate) -> str:
        return certificate_verify_url(code=certificate.code)


class CertificateVerificationSerializer(serializers.ModelSerializer):
    """What anyone holding the code may learn about a certificate (public, no account data)."""

    class Meta:
        model = Certificate
        fields = (
            "code",
            "status",
            "learner_name",
            "course_title",
            "instructor_name",
            "completed_on",
            "issued_at",
            "revoked_at",
            "pdf_sha256",
        )
        read_only_fields = fields


class CertificateRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000,
        trim_whitespace=True,
        help_text="Why the certificate is revoked (kept with it; not shown publicly).",
    )
