"""Shapes of the progress API. Input is strict: numbers must be finite JSON numbers (not strings
or booleans), ranges are `[start, end]` pairs with `0 <= start <= end`, at most 100 of them."""

from __future__ import annotations

import math

from django.db.models import OuterRef, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from enrollments.models import SEAT_HOLDING, Enrollment
from lessons.models import Lesson, LessonKind
from lessons.selectors import lesson_list

from .ledger import Heartbeat

MAX_RANGES = 100
MAX_SEQ = 2**53 - 1  # the largest integer every JSON client holds exactly
# Lesson durations are whole seconds rounded from the media's real length, so the player may
# report up to half a second more; such values are clamped, anything further out is refused.
DURATION_TOLERANCE = 0.5
SESSION_PATTERN = r"^[A-Za-z0-9._:-]+$"
LESSON_STATUSES = ["not_started", "in_progress", "completed"]


@extend_schema_field(OpenApiTypes.DOUBLE)
class FiniteNumberField(serializers.Field):
    """A JSON number (int or float), finite, optionally at least `min_value`."""

    default_error_messages = {
        "invalid": "A finite number is required.",
        "min_value": "Ensure this value is greater than or equal to {min_value}.",
    }

    def __init__(self, *, min_value: float | None = None, **kwargs) -> None:
        self.min_value = min_value
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, int):
            if abs(data) > MAX_SEQ:
                self.fail("invalid")
            data = float(data)
        if not math.isfinite(data):
            self.fail("invalid")
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.INT64)
class SequenceNumberField(serializers.Field):
    """A JSON integer in [0, 2**53 - 1]."""

    default_error_messages = {
        "invalid": "An integer from 0 to 9007199254740991 is required.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data <= MAX_SEQ:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class RangeField(serializers.ListField):
    """`[start, end]` in media seconds, `0 <= start <= end`."""

    default_error_messages = {
        "pair": "A range is a list of two numbers: [start, end].",
        "reversed": "A range's start must not be after its end.",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(child=FiniteNumberField(min_value=0), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list) or len(data) != 2:
            self.fail("pair")
        start, end = super().to_internal_value(data)
        if start > end:
            self.fail("reversed")
        return (start, end)


# What a heartbeat reads of its lesson (never the body).
_HEARTBEAT_LESSON_FIELDS = ("id", "course_id", "title", "kind", "duration_seconds")


class _VisibleLessonField(serializers.PrimaryKeyRelatedField):
    """A lesson of a course the caller can see; others answer like unknown ids.

    The heartbeat is the hottest write of the API, so this one query also answers who the
    caller is in the course: the lesson comes with `course_instructor_id` and
    `seat_status` (the caller's active or completed enrollment status, None without a seat),
    which `services.heartbeat_access` turns into the recording decision without loading the
    course or asking again. Only the fields a heartbeat uses are read.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(**kwargs)

    def get_queryset(self):
        user = self.context["request"].user
        seat = (
            Enrollment.objects.filter(
                user=user, course=OuterRef("course_id"), status__in=SEAT_HOLDING
            )
            .order_by()
            .values("status")[:1]
        )  # (user, course) is unique: no ordering needed
        return (
            lesson_list(user=user)
            .only(*_HEARTBEAT_LESSON_FIELDS)
            .annotate(seat_status=Subquery(seat))
        )


class HeartbeatSerializer(serializers.Serializer):
    """A player heartbeat. Needs the request in its context (the lesson must be visible)."""

    lesson = _VisibleLessonField(
        queryset=Lesson.objects.none(),
        error_messages={"does_not_exist": "No lesson with this id is open to you."},
        help_text="A video lesson of a course you are enrolled in.",
    )
    session = serializers.RegexField(
        SESSION_PATTERN,
        min_length=1,
        max_length=64,
        help_text="The playback session (one per player instance): letters, digits, `._:-`.",
    )
    seq = SequenceNumberField(
        help_text="Heartbeat number within the session, from 0; a repeated number is ignored."
    )
    position = FiniteNumberField(min_value=0, help_text="Current playback position (seconds).")
    ranges = serializers.ListField(
        child=RangeField(),
        max_length=MAX_RANGES,
        required=False,
        default=list,
        help_text="Stretches played since the previous heartbeat, `[[start, end], ...]` in "
        "media seconds (at most 100).",
    )

    def validate(self, attrs):
        lesson = attrs["lesson"]
        if lesson.kind == LessonKind.VIDEO and lesson.duration_seconds > 0:
            limit = lesson.duration_seconds + DURATION_TOLERANCE
            errors = {}
            outside = [index for index, (_, end) in enumerate(attrs["ranges"]) if end > limit]
            if outside:
                errors["ranges"] = [
                    f"Range {index} ends after the lesson's duration ({lesson.duration_seconds} s)."
                    for index in outside
                ]
            if attrs["position"] > limit:
                errors["position"] = [
                    f"Position is after the lesson's duration ({lesson.duration_seconds} s)."
                ]
            if errors:
                raise serializers.ValidationError(errors)
        return attrs

    def heartbeat(self) -> Heartbeat:
        data = self.validated_data
        return Heartbeat(
            session=data["session"],
            seq=data["seq"],
            position=data["position"],
            ranges=tuple(data["ranges"]),
        )


# --- Output -----------------------------------------------------------------------------------


# A pattern, not an enum: the schema generator names enums by field name, and this one would
# collide with the other `status` enums of the API.
LESSON_STATUS_SCHEMA = {
    "type": "string",
    "pattern": "^(" + "|".join(LESSON_STATUSES) + ")$",
    "description": "`not_started`, `in_progress` or `completed`.",
}


@extend_schema_field(LESSON_STATUS_SCHEMA)
class LessonStatusField(serializers.CharField):
    """`not_started`, `in_progress` or `completed`."""


class LessonStateSerializer(serializers.Serializer):
    """A learner's state in one lesson (`selectors.LessonState`)."""

    lesson = serializers.UUIDField(source="lesson.id")
    course = serializers.UUIDField(source="lesson.course_id")
    title = serializers.CharField(source="lesson.title")
    kind = serializers.CharField(source="lesson.kind")
    status = LessonStatusField()
    watched_seconds = serializers.FloatField()
    duration = serializers.FloatField(help_text="The lesson's duration in seconds.")
    coverage = serializers.FloatField(
        help_text="Watched share of the video, 0 to 1 (1 for a completed text or document)."
    )
    position = serializers.FloatField(help_text="Resume position in seconds.")
    completed = serializers.BooleanField()
    completed_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class HeartbeatResultSerializer(LessonStateSerializer):
    recorded = serializers.BooleanField(
        help_text="False for previews by the course's instructor or an admin: nothing stored."
    )
    applied = serializers.BooleanField(
        help_text="False when this (session, seq) was already applied: nothing changed."
    )
    added_seconds = serializers.FloatField(help_text="Newly watched seconds counted.")
    ignored_seconds = serializers.FloatField(
        help_text="Newly claimed seconds beyond what the wall-clock time since the session's "
        "previous heartbeat allows (ignored, not an error)."
    )
    course_completed = serializers.BooleanField(
        help_text="Your enrollment in the course is completed."
    )


class LessonCompleteResultSerializer(LessonStateSerializer):
    recorded = serializers.BooleanField()
    newly_completed = serializers.BooleanField()
    course_completed = serializers.BooleanField()


class ResumeSerializer(serializers.Serializer):
    lesson = serializers.UUIDField(source="lesson.id")
    title = serializers.CharField(source="lesson.title")
    kind = serializers.CharField(source="lesson.kind")
    position = serializers.FloatField()


class CourseProgressSerializer(serializers.Serializer):
    course = serializers.UUIDField(source="course.id")
    course_title = serializers.CharField(source="course.title")
    user = serializers.UUIDField(source="user_id")
    enrollment_status = serializers.CharField(allow_null=True)
    percent_complete = serializers.FloatField()
    completed_lessons = serializers.IntegerField()
    total_lessons = serializers.IntegerField()
    last_activity_at = serializers.DateTimeField(allow_null=True)
    resume = ResumeSerializer(allow_null=True)
    lessons = LessonStateSerializer(many=True)


class DashboardCourseSerializer(serializers.Serializer):
    enrollment = serializers.UUIDField(source="enrollment.id")
    enrollment_status = serializers.CharField(source="enrollment.status")
    enrolled_at = serializers.DateTimeField(source="enrollment.enrolled_at")
    course = serializers.UUIDField(source="enrollment.course_id")
    course_title = serializers.CharField(source="enrollment.course.title")
    course_slug = serializers.CharField(source="enrollment.course.slug")
    percent_complete = serializers.FloatField(source="progress.percent_complete")
    completed_lessons = serializers.IntegerField(source="progress.completed_lessons")
    total_lessons = serializers.IntegerField(source="progress.total_lessons")
    last_activity_at = serializers.DateTimeField(
        source="progress.last_activity_at", allow_null=True
    )
    resume = ResumeSerializer(source="progress.resume", allow_null=True)


class DashboardSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = DashboardCourseSerializer(many=True)


class HistoryEntrySerializer(serializers.Serializer):
    lesson = serializers.UUIDField(source="record.lesson_id")
    lesson_title = serializers.CharField(allow_null=True)
    kind = serializers.CharField(source="lesson_kind", allow_null=True)
    course = serializers.UUIDField(source="record.course_id")
    course_title = serializers.CharField(allow_null=True)
    status = serializers.SerializerMethodField()
    watched_seconds = serializers.FloatField(source="record.watched_seconds")
    coverage = serializers.FloatField(source="record.coverage")
    position = serializers.FloatField(source="record.position")
    completed = serializers.BooleanField(source="record.completed")
    completed_at = serializers.DateTimeField(source="record.completed_at", allow_null=True)
    started_at = serializers.DateTimeField(source="record.started_at")
    updated_at = serializers.DateTimeField(source="record.updated_at")

    @extend_schema_field(LESSON_STATUS_SCHEMA)
    def get_status(self, entry) -> str:
        return "completed" if entry.record.completed else "in_progress"


class HistoryPageSerializer(serializers.Serializer):
    """One page of history (documentation shape of the paginated answer)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)


class LessonAnalyticsSerializer(serializers.Serializer):
    lesson = serializers.UUIDField(source="lesson.id")
    title = serializers.CharField(source="lesson.title")
    kind = serializers.CharField(source="lesson.kind")
    started = serializers.IntegerField(help_text="Learners with any progress in the lesson.")
    completed = serializers.IntegerField()
    median_coverage = serializers.FloatField(
        allow_null=True, help_text="Median coverage of the learners who started (null: none)."
    )


class CourseAnalyticsSerializer(serializers.Serializer):
    course = serializers.UUIDField(source="course.id")
    enrollments = serializers.IntegerField(help_text="Active and completed enrollments.")
    completed_enrollments = serializers.IntegerField()
    completion_rate = serializers.FloatField(help_text="completed_enrollments / enrollments.")
    active_learners_7d = serializers.IntegerField(
        help_text="Learners with progress recorded in the last 7 days."
    )
    lessons = LessonAnalyticsSerializer(many=True)


class RetentionBucketSerializer(serializers.Serializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    viewers = serializers.IntegerField()
    share = serializers.FloatField(help_text="viewers / the lesson's viewers, 0 to 1.")


class RetentionSerializer(serializers.Serializer):
    lesson = serializers.UUIDField(source="lesson.id")
    duration = serializers.FloatField(source="lesson.duration")
    bucket_seconds = serializers.IntegerField()
    viewers = serializers.IntegerField(help_text="Learners with any watched second.")
    buckets = RetentionBucketSerializer(many=True)


class CourseProgressQuerySerializer(serializers.Serializer):
    user = serializers.UUIDField(
        required=False, help_text="A learner of the course (the course's instructor, admins)."
    )


# --- The dashboard, built directly ------------------------------------------------------------

# The dashboard is read on every visit to a learner's home page; walking `DashboardSerializer`'s
# field tree costs more than the rest of the request's Python. `dashboard_payload` builds the
# same JSON directly; `DashboardSerializer` stays the documented shape, and a test pins the two
# equal. Datetimes go through DRF's own field so their format follows the settings exactly.
_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def dashboard_payload(entries) -> dict:
    """`DashboardSerializer({"count": ..., "results": entries}).data`, as a plain dict."""
    results = []
    for entry in entries:
        enrollment, progress = entry.enrollment, entry.progress
        resume = progress.resume
        results.append(
            {
                "enrollment": str(enrollment.id),
                "enrollment_status": str(enrollment.status),
                "enrolled_at": _datetime(enrollment.enrolled_at),
                "course": str(enrollment.course_id),
                "course_title": str(enrollment.course.title),
                "course_slug": str(enrollment.course.slug),
                "percent_complete": float(progress.percent_complete),
                "completed_lessons": int(progress.completed_lessons),
                "total_lessons": int(progress.total_lessons),
                "last_activity_at": _datetime(progress.last_activity_at),
                "resume": None
                if resume is None
                else {
                    "lesson": str(resume.lesson.id),
                    "title": str(resume.lesson.title),
                    "kind": str(resume.lesson.kind),
                    "position": float(resume.position),
                },
            }
        )
    return {"count": len(results), "results": results}
