"""Category and course shapes. Reads and writes are separate where they differ."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import RegexValidator
from rest_framework import serializers

from accounts.models import User
from eduflow.core.exceptions import Forbidden
from eduflow.core.permissions import is_admin

from .models import Category, Course, Difficulty

# Largest value a PositiveIntegerField holds on every supported database.
MAX_POSITIVE_INT = 2_147_483_647


class CategorySerializer(serializers.ModelSerializer):
    """Read and write shape of a category; `slug` is generated from `name` when left out."""

    slug = serializers.SlugField(max_length=120, required=False, allow_blank=True)

    class Meta:
        model = Category
        fields = ("id", "name", "slug", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class CategorySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ("id", "name", "slug")
        read_only_fields = fields


class InstructorSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username", "full_name")
        read_only_fields = fields


class CourseSerializer(serializers.ModelSerializer):
    """A course as clients read it. Expects the annotations of `selectors.course_with_stats`."""

    category = CategorySummarySerializer(read_only=True, allow_null=True)
    instructor = InstructorSummarySerializer(read_only=True)
    lesson_count = serializers.IntegerField(read_only=True)
    total_duration_seconds = serializers.IntegerField(read_only=True)

    class Meta:
        model = Course
        fields = (
            "id",
            "slug",
            "title",
            "subtitle",
            "description",
            "category",
            "difficulty",
            "language",
            "price",
            "currency",
            "capacity",
            "status",
            "instructor",
            "published_at",
            "created_at",
            "updated_at",
            "lesson_count",
            "total_duration_seconds",
        )
        read_only_fields = fields


class CourseWriteSerializer(serializers.Serializer):
    """What a caller may set on a course. `status` and `published_at` are not among them.

    Needs the request in its context: `instructor` is resolved for the caller.
    """

    slug = serializers.SlugField(max_length=140, required=False, allow_blank=True)
    title = serializers.CharField(max_length=200)
    subtitle = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
    )
    difficulty = serializers.ChoiceField(choices=Difficulty.choices, required=False)
    language = serializers.CharField(
        max_length=10,
        required=False,
        validators=[
            RegexValidator(
                r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
                "Use a language tag such as `en` or `pt-BR`.",
            )
        ],
    )
    price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0"), required=False
    )
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        error_messages={"invalid": "Use a three-letter ISO 4217 currency code such as `USD`."},
    )
    capacity = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, required=False, allow_null=True
    )
    instructor = serializers.UUIDField(
        required=False, help_text="Owner of the course; only administrators may set another user."
    )

    def validate_instructor(self, value) -> User:
        actor = self.context["request"].user
        if value == actor.pk:
            return actor
        if not is_admin(actor):
            # Instructors learn nothing about other accounts, not even whether they exist.
            raise Forbidden(
                "Only administrators can assign a course to another instructor.",
                code="cannot_assign_instructor",
            )
        user = User.objects.filter(pk=value).first()
        if user is None:
            raise serializers.ValidationError("No user with this id.")
        return user

    def validate_currency(self, value: str) -> str:
        return value.upper()
