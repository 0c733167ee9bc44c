"""Module and lesson shapes. Writes resolve `course` and `module` among what the caller sees."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from courses.models import Course
from courses.selectors import course_is_editable_by
from eduflow.core.exceptions import Forbidden
from media.models import MediaAsset
from media.selectors import asset_list

from .models import Lesson, LessonKind, Module
from .selectors import LessonAccess

# Largest value a PositiveIntegerField holds on every supported database.
MAX_POSITIVE_INT = 2_147_483_647


class ModuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Module
        fields = ("id", "course", "title", "position")
        read_only_fields = fields


class _CourseField(serializers.PrimaryKeyRelatedField):
    """A course among those visible to the caller; 403 when visible but not theirs to edit."""

    def __init__(self, **kwargs):
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(**kwargs)

    def get_queryset(self):
        return Course.objects.visible_to(self.context["request"].user)

    def to_internal_value(self, data):
        course = super().to_internal_value(data)
        if not course_is_editable_by(user=self.context["request"].user, course=course):
            raise Forbidden("Only the course's instructor or an administrator can change it.")
        return course


class _ModuleField(serializers.PrimaryKeyRelatedField):
    """A module of a course visible to the caller."""

    def __init__(self, **kwargs):
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(**kwargs)

    def get_queryset(self):
        visible = Course.objects.visible_to(self.context["request"].user).values("pk")
        return Module.objects.filter(course__in=visible)


_POSITION_HELP = (
    "1-based place among the siblings. Left out: append (or keep). Given: insert there and "
    "shift the siblings; values past the end mean the end."
)


class ModuleWriteSerializer(serializers.Serializer):
    """Needs the request in its context."""

    course = _CourseField(queryset=Course.objects.none())
    title = serializers.CharField(max_length=200)
    position = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, required=False, help_text=_POSITION_HELP
    )


class LessonSerializer(serializers.ModelSerializer):
    """A lesson as clients read it. `body` is null (and `body_locked` true) for callers without
    access: the lesson is not a preview and they are neither admin, the course's instructor,
    nor a learner holding a seat. Needs a `LessonAccess` as `lesson_access` in the context."""

    body = serializers.SerializerMethodField()
    body_locked = serializers.SerializerMethodField()

    class Meta:
        model = Lesson
        fields = (
            "id",
            "course",
            "module",
            "title",
            "kind",
            "body",
            "body_locked",
            "duration_seconds",
            "position",
            "is_preview",
            "asset",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def _access(self) -> LessonAccess:
        access = self.context.get("lesson_access")
        if access is None:
            access = LessonAccess(user=self.context["request"].user)
            self.context["lesson_access"] = access
        return access

    @extend_schema_field(
        {"type": "string", "nullable": True, "description": "Markdown; null when locked."}
    )
    def get_body(self, obj: Lesson) -> str | None:
        return obj.body if self._access().can_read_body(obj) else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_body_locked(self, obj: Lesson) -> bool:
        return not self._access().can_read_body(obj)


class LessonWriteSerializer(serializers.Serializer):
    """Needs the request in its context. A given `module` must belong to the lesson's course."""

    course = _CourseField(queryset=Course.objects.none())
    module = _ModuleField(queryset=Module.objects.none(), required=False, allow_null=True)
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=LessonKind.choices, required=False)
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Markdown."
    )
    duration_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_POSITIVE_INT, required=False
    )
    position = serializers.IntegerField(
        min_value=1, max_value=MAX_POSITIVE_INT, required=False, help_text=_POSITION_HELP
    )
    is_preview = serializers.BooleanField(required=False)
    asset = serializers.PrimaryKeyRelatedField(
        queryset=MediaAsset.objects.none(),
        required=False,
        allow_null=True,
        pk_field=serializers.UUIDField(),
        help_text="The video of a video lesson or the document of a document lesson: an asset "
        "of the course's instructor (admins: any); null detaches it.",
    )

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        # Only assets the caller may see can be named (their own; admins: all).
        fields["asset"].queryset = asset_list(user=request.user if request else None)
        return fields

    def validate(self, attrs):
        lesson: Lesson | None = self.instance
        course = attrs.get("course", lesson.course if lesson is not None else None)
        if "module" in attrs:
            module = attrs["module"]
        elif lesson is not None and course.pk == lesson.course_id:
            module = lesson.module
        else:
            module = None
        if module is not None and module.course_id != course.pk:
            raise serializers.ValidationError(
                {"module": ["The module must belong to the lesson's course."]}
            )
        return attrs


class ReorderSerializer(serializers.Serializer):
    """Either `{"modules": [...]}` or `{"module": <id or null>, "lessons": [...]}`."""

    modules = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=10_000,
        help_text="Every module of the course, in the new order.",
    )
    module = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="With `lessons`: the module whose lessons are reordered; null or left out for "
        "the lessons outside any module.",
    )
    lessons = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=10_000,
        help_text="Every lesson of that module (or outside any module), in the new order.",
    )

    def validate(self, attrs):
        if ("modules" in attrs) == ("lessons" in attrs):
            raise serializers.ValidationError(
                "Send either `modules`, or `lessons` with the `module` they belong to."
            )
        if "modules" in attrs and "module" in attrs:
            raise serializers.ValidationError({"module": ["Only goes with `lessons`."]})
        return attrs


class OutlineLessonSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    position = serializers.IntegerField()


class OutlineModuleSerializer(OutlineLessonSerializer):
    lessons = OutlineLessonSerializer(many=True)


class OutlineSerializer(serializers.Serializer):
    """A course's structure: modules with their lessons, then the lessons in no module."""

    modules = OutlineModuleSerializer(many=True)
    lessons = OutlineLessonSerializer(many=True)
