"""Category and course shapes. Reads and writes are separate where they differ."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from accounts.models import User
from eduflow.core.exceptions import Forbidden
from eduflow.core.permissions import is_admin
from eduflow.core.rendering import drf_datetime
from media.models import MediaAsset
from media.selectors import asset_list

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
    thumbnail_url = serializers.SerializerMethodField()

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
            "thumbnail",
            "thumbnail_url",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, obj: Course) -> str | None:
        """Public URL of the thumbnail (for everyone who can see the course), or null.

        Versioned by the asset id, so a new thumbnail gets a new URL and caches stay correct.
        """
        if obj.thumbnail_id is None:
            return None
        request = self.context.get("request")
        url = reverse("course-thumbnail", kwargs={"pk": obj.pk}, request=request)
        return f"{url}?v={obj.thumbnail_id.hex[:12]}"


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
    thumbnail = serializers.PrimaryKeyRelatedField(
        queryset=MediaAsset.objects.none(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
        help_text="A ready image asset of the course's instructor (admins: any image asset); "
        "null removes the thumbnail.",
    )

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        # Only assets the caller may see can be named (their own; admins: all).
        fields["thumbnail"].queryset = asset_list(user=request.user if request else None)
        return fields

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


_CENTS = Decimal("0.01")
_PLACEHOLDER_PK = "00000000-0000-0000-0000-000000000000"


class CourseReader:
    """`CourseSerializer`'s output for many courses, built directly: the same JSON, a fraction
    of the work (no field objects per course). Catalog reads are the hottest path there is.

    The equality of the two is pinned by tests; `CourseSerializer` stays the documented shape.
    """

    def __init__(self, request) -> None:
        # The thumbnail URL differs between courses only by the course id.
        self._thumbnail_url = reverse(
            "course-thumbnail", kwargs={"pk": _PLACEHOLDER_PK}, request=request
        )

    def thumbnail_url(self, course: Course) -> str | None:
        if course.thumbnail_id is None:
            return None
        url = self._thumbnail_url.replace(_PLACEHOLDER_PK, str(course.pk))
        return f"{url}?v={course.thumbnail_id.hex[:12]}"

    def one(self, course: Course) -> dict:
        category = course.category
        instructor = course.instructor
        return {
            "id": str(course.pk),
            "slug": course.slug,
            "title": course.title,
            "subtitle": course.subtitle,
            "description": course.description,
            "category": None
            if category is None
            else {"id": str(category.pk), "name": category.name, "slug": category.slug},
            "difficulty": course.difficulty,
            "language": course.language,
            "price": format(Decimal(course.price).quantize(_CENTS), "f"),
            "currency": course.currency,
            "capacity": course.capacity,
            "status": course.status,
            "instructor": {
                "id": str(instructor.pk),
                "username": instructor.username,
                "full_name": instructor.full_name,
            },
            "published_at": drf_datetime(course.published_at),
            "created_at": drf_datetime(course.created_at),
            "updated_at": drf_datetime(course.updated_at),
            "lesson_count": course.lesson_count,
            "total_duration_seconds": course.total_duration_seconds,
            "thumbnail": None if course.thumbnail_id is None else str(course.thumbnail_id),
            "thumbnail_url": self.thumbnail_url(course),
        }

    def many(self, courses) -> list[dict]:
        return [self.one(course) for course in courses]
