"""Progress endpoints. Views validate, call one service or selector, serialize the result.

Policy (see `progress.permissions`): every endpoint needs an account (401); lessons and courses
the caller cannot see answer like unknown ids (400 on `lesson` in a heartbeat body, 404 in a
path); a learner without a seat gets 403 `not_enrolled`; other learners' progress and the
analytics are for the course's instructor and admins (403 otherwise).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Course
from eduflow.core.exceptions import Conflict
from eduflow.core.pagination import PageNumberPagination
from lessons.models import LessonKind
from lessons.selectors import lesson_list

from . import permissions, selectors, services
from .selectors import LessonRef
from .serializers import (
    CourseAnalyticsSerializer,
    CourseProgressQuerySerializer,
    CourseProgressSerializer,
    DashboardSerializer,
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    HistoryEntrySerializer,
    HistoryPageSerializer,
    LessonCompleteResultSerializer,
    LessonStateSerializer,
    RetentionSerializer,
    dashboard_payload,
)

_PROBLEM = "Problem details (`application/problem+json`) with a stable `code`."
_UNAUTHENTICATED = OpenApiResponse(description="`not_authenticated`. " + _PROBLEM)
_NOT_FOUND = OpenApiResponse(description="Unknown, or not visible to the caller. " + _PROBLEM)
_NOT_ENROLLED = OpenApiResponse(
    description="`not_enrolled`: no active or completed enrollment in the course. " + _PROBLEM
)
_STAFF_ONLY = OpenApiResponse(
    description="`not_course_staff`: only the course's instructor and admins. " + _PROBLEM
)
_TAGS = ["progress"]


def _visible_course(request, pk) -> Course:
    return get_object_or_404(Course.objects.visible_to(request.user), pk=pk)


class HeartbeatView(APIView):
    """`POST /api/v1/progress/heartbeat/`."""

    parser_classes = [JSONParser]

    @extend_schema(
        summary="Report what the player played (video lessons).",
        description=(
            "Merges `ranges` into the learner's watched intervals for the lesson (clamped to its "
            "duration), moves the resume position and completes the lesson once enough is "
            "watched. The same (`session`, `seq`) applied twice changes nothing; heartbeats may "
            "arrive out of order. New seconds beyond the wall-clock time since the session's "
            "previous heartbeat (times the maximum playback rate, plus slack) are ignored and "
            "reported as `ignored_seconds`. The course's instructor and admins get a preview "
            "(`recorded: false`). Completing the last lesson completes the enrollment."
        ),
        request=HeartbeatSerializer,
        responses={
            200: HeartbeatResultSerializer,
            400: OpenApiResponse(
                description="`validation_error` (unknown or hidden lesson, ranges reversed or "
                "outside [0, duration], more than 100 ranges, non-numeric values) or "
                "`parse_error`. " + _PROBLEM
            ),
            401: _UNAUTHENTICATED,
            403: _NOT_ENROLLED,
            409: OpenApiResponse(
                description="`lesson_not_video`, `lesson_duration_unknown`, `progress_busy`. "
                + _PROBLEM
            ),
        },
        tags=_TAGS,
    )
    def post(self, request):
        serializer = HeartbeatSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        lesson = serializer.validated_data["lesson"]
        result = services.heartbeat_record(
            user=request.user, lesson=lesson, heartbeat=serializer.heartbeat()
        )
        state = selectors.lesson_state(LessonRef.of(lesson), result.record)
        return Response(
            {
                **LessonStateSerializer(state).data,
                "recorded": result.recorded,
                "applied": result.applied,
                "added_seconds": result.added_seconds,
                "ignored_seconds": result.trimmed_seconds,
                "course_completed": result.course_completed,
            }
        )


class LessonCompleteView(APIView):
    """`POST /api/v1/progress/lessons/{id}/complete/`."""

    @extend_schema(
        summary="Complete a text or document lesson.",
        description="Idempotent. The course's instructor and admins get a preview "
        "(`recorded: false`). Completing the last lesson completes the enrollment.",
        request=None,
        responses={
            200: LessonCompleteResultSerializer,
            401: _UNAUTHENTICATED,
            403: _NOT_ENROLLED,
            404: _NOT_FOUND,
            409: OpenApiResponse(description="`lesson_is_video`. " + _PROBLEM),
        },
        tags=_TAGS,
    )
    def post(self, request, pk):
        lesson = get_object_or_404(lesson_list(user=request.user).select_related("course"), pk=pk)
        result = services.lesson_complete(user=request.user, lesson=lesson)
        state = selectors.lesson_state(LessonRef.of(lesson), result.record)
        return Response(
            {
                **LessonStateSerializer(state).data,
                "recorded": result.recorded,
                "newly_completed": result.newly_completed,
                "course_completed": result.course_completed,
            }
        )


class CourseProgressView(APIView):
    """`GET /api/v1/progress/courses/{id}/`."""

    @extend_schema(
        summary="Progress in a course: percent complete, lessons, where to resume.",
        description=(
            "Your own progress (you need an active or completed enrollment), or with "
            "`?user=<id>` a learner's (the course's instructor and admins; the learner must "
            "have an enrollment in the course)."
        ),
        parameters=[
            OpenApiParameter(
                "user", OpenApiTypes.UUID, description="A learner of the course (staff only)."
            )
        ],
        responses={
            200: CourseProgressSerializer,
            400: OpenApiResponse(description="`validation_error`: `user` is not a UUID."),
            401: _UNAUTHENTICATED,
            403: OpenApiResponse(
                description="`not_enrolled`, or `not_course_staff` for `?user=` by others. "
                + _PROBLEM
            ),
            404: _NOT_FOUND,
        },
        tags=_TAGS,
    )
    def get(self, request, pk):
        course = _visible_course(request, pk)
        query = CourseProgressQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id, status = permissions.course_progress_subject(
            user=request.user, course=course, requested_user_id=query.validated_data.get("user")
        )
        progress = selectors.course_progress(
            course=course,
            user_id=user_id,
            enrollment_status=status,
            policy=services.progress_policy(),
        )
        return Response(CourseProgressSerializer(progress).data)


class DashboardView(APIView):
    """`GET /api/v1/progress/dashboard/`."""

    @extend_schema(
        summary="Your courses with percent complete, last activity and where to resume.",
        description="Every active or completed enrollment in a course you can still open, "
        "newest enrollment first.",
        responses={200: DashboardSerializer, 401: _UNAUTHENTICATED},
        tags=_TAGS,
    )
    def get(self, request):
        entries = selectors.dashboard(user=request.user, policy=services.progress_policy())
        # Same JSON as `DashboardSerializer` (pinned by a test), built without the field tree.
        return Response(dashboard_payload(entries))


class HistoryView(APIView):
    """`GET /api/v1/progress/history/`."""

    pagination_class = PageNumberPagination

    @extend_schema(
        summary="Your recent lesson activity, newest first.",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Up to 100, default 20."),
        ],
        responses={
            200: HistoryPageSerializer,
            401: _UNAUTHENTICATED,
            404: OpenApiResponse(description="`not_found`: no such page. " + _PROBLEM),
        },
        tags=_TAGS,
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.History(request.user.pk), request, view=self)
        return paginator.get_paginated_response(HistoryEntrySerializer(page, many=True).data)


class CourseAnalyticsView(APIView):
    """`GET /api/v1/courses/{id}/analytics/`."""

    @extend_schema(
        summary="Course analytics: enrollments, active learners, completion, per lesson figures.",
        responses={
            200: CourseAnalyticsSerializer,
            401: _UNAUTHENTICATED,
            403: _STAFF_ONLY,
            404: _NOT_FOUND,
        },
        tags=["courses"],
    )
    def get(self, request, pk):
        course = _visible_course(request, pk)
        permissions.require_course_staff(user=request.user, course=course)
        return Response(CourseAnalyticsSerializer(selectors.course_analytics(course=course)).data)


class LessonRetentionView(APIView):
    """`GET /api/v1/lessons/{id}/analytics/retention/`."""

    @extend_schema(
        summary="Drop-off curve of a video lesson: share of viewers per 5-second bucket.",
        description="A bucket counts for a viewer when their watched intervals cover its "
        "midpoint. Viewers are learners with any watched second of the lesson.",
        responses={
            200: RetentionSerializer,
            401: _UNAUTHENTICATED,
            403: _STAFF_ONLY,
            404: _NOT_FOUND,
            409: OpenApiResponse(description="`lesson_not_video`. " + _PROBLEM),
        },
        tags=["lessons"],
    )
    def get(self, request, pk):
        lesson = get_object_or_404(lesson_list(user=request.user).select_related("course"), pk=pk)
        permissions.require_course_staff(user=request.user, course=lesson.course)
        if lesson.kind != LessonKind.VIDEO:
            raise Conflict("Retention is measured for video lessons.", code="lesson_not_video")
        return Response(RetentionSerializer(selectors.lesson_retention(lesson=lesson)).data)
