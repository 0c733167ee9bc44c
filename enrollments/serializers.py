"""Enrollment shapes: a read shape summarising user and course, a write shape for enrolling."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from courses.models import Course

from .models import Enrollment

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
        return Course.objects.visible_to(getattr(request, "user", None))


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
