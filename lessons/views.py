"""Module and lesson endpoints, and the course reorder action (it orders lessons and modules).

Views validate, call one service, serialize the result.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Course
from eduflow.core.filtering import FilterBackend
from eduflow.core.http_caching import ConditionalReadMixin

from . import selectors, services
from .filters import LessonFilter, ModuleFilter
from .permissions import CourseContentPermission
from .serializers import (
    LessonSerializer,
    LessonWriteSerializer,
    ModuleSerializer,
    ModuleWriteSerializer,
    OutlineSerializer,
    ReorderSerializer,
)

# Path ids are UUIDs; anything else does not match a route and answers a problem+json 404.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_BAD_REQUEST = OpenApiResponse(
    description="Invalid input, including a `course` or `module` the caller cannot see."
)
_FORBIDDEN = OpenApiResponse(description="The course is visible, but not the caller's to edit.")
_NOT_FOUND = OpenApiResponse(description="Unknown, or its course is not visible to the caller.")
_WRITE_ERRORS = {400: _BAD_REQUEST, 403: _FORBIDDEN}
_OBJECT_WRITE_ERRORS = {400: _BAD_REQUEST, 403: _FORBIDDEN, 404: _NOT_FOUND}


class _CourseContentViewSet(ConditionalReadMixin, viewsets.ModelViewSet):
    permission_classes = [CourseContentPermission]
    filter_backends = [FilterBackend]
    lookup_value_regex = UUID_PATTERN
    read_serializer_class: type
    write_serializer_class: type

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return self.write_serializer_class
        return self.read_serializer_class

    def _read(self, instance, status_code: int = status.HTTP_200_OK) -> Response:
        serializer = self.read_serializer_class(instance, context=self.get_serializer_context())
        return Response(serializer.data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._read(self._create(serializer.validated_data), status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(
            instance, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        return self._read(self._update(instance, serializer.validated_data))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs):
        self._delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List modules of the courses the caller can see."),
    retrieve=extend_schema(
        summary="Get a module.", responses={200: ModuleSerializer, 404: _NOT_FOUND}
    ),
    create=extend_schema(
        summary="Add a module to a course (owner or admin).",
        request=ModuleWriteSerializer,
        responses={201: ModuleSerializer, **_WRITE_ERRORS},
    ),
    update=extend_schema(
        summary="Replace a module; a new `course` moves it with its lessons.",
        request=ModuleWriteSerializer,
        responses={200: ModuleSerializer, **_OBJECT_WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Rename, reorder or move a module.",
        request=ModuleWriteSerializer,
        responses={200: ModuleSerializer, **_OBJECT_WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a module and its lessons.",
        responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class ModuleViewSet(_CourseContentViewSet):
    """Sections of a course, ordered by `position`."""

    read_serializer_class = ModuleSerializer
    write_serializer_class = ModuleWriteSerializer
    serializer_class = ModuleSerializer
    filterset_class = ModuleFilter

    def get_queryset(self):
        queryset = selectors.module_list(user=self.request.user)
        if self.action != "list":
            queryset = queryset.select_related("course")
        return queryset

    def _create(self, data):
        return services.module_create(actor=self.request.user, **data)

    def _update(self, module, data):
        return services.module_update(actor=self.request.user, module=module, **data)

    def _delete(self, module):
        services.module_delete(actor=self.request.user, module=module)


@extend_schema_view(
    list=extend_schema(summary="List lessons of the courses the caller can see."),
    retrieve=extend_schema(
        summary="Get a lesson.", responses={200: LessonSerializer, 404: _NOT_FOUND}
    ),
    create=extend_schema(
        summary="Add a lesson to a course or module (owner or admin).",
        request=LessonWriteSerializer,
        responses={201: LessonSerializer, **_WRITE_ERRORS},
    ),
    update=extend_schema(
        summary="Replace a lesson; a new `module` or `course` moves it.",
        request=LessonWriteSerializer,
        responses={200: LessonSerializer, **_OBJECT_WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change, reorder or move a lesson.",
        request=LessonWriteSerializer,
        responses={200: LessonSerializer, **_OBJECT_WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a lesson.", responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND}
    ),
)
class LessonViewSet(_CourseContentViewSet):
    """Lessons. `body` is returned to learners with a seat, the owner and admins, or for
    previews; otherwise it is null and `body_locked` is true."""

    read_serializer_class = LessonSerializer
    write_serializer_class = LessonWriteSerializer
    serializer_class = LessonSerializer
    filterset_class = LessonFilter

    def get_queryset(self):
        queryset = selectors.lesson_list(user=self.request.user)
        if self.action != "list":
            queryset = queryset.select_related("course", "module")
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["lesson_access"] = selectors.LessonAccess(user=self.request.user)
        return context

    def _create(self, data):
        lesson = services.lesson_create(actor=self.request.user, **data)
        return selectors.lesson_get(pk=lesson.pk)

    def _update(self, lesson, data):
        lesson = services.lesson_update(actor=self.request.user, lesson=lesson, **data)
        return selectors.lesson_get(pk=lesson.pk)

    def _delete(self, lesson):
        services.lesson_delete(actor=self.request.user, lesson=lesson)


class CourseReorderView(APIView):
    """`POST /api/v1/courses/{id}/reorder/`: reorder the modules, or the lessons of one parent."""

    permission_classes = [CourseContentPermission]

    @extend_schema(
        summary="Reorder a course's modules, or the lessons of one module (owner or admin).",
        description=(
            'Body `{"modules": [ids]}` or `{"module": id|null, "lessons": [ids]}`. The list '
            "must name every current sibling exactly once. Answers the course outline."
        ),
        request=ReorderSerializer,
        responses={200: OutlineSerializer, **_OBJECT_WRITE_ERRORS},
        tags=["courses"],
    )
    def post(self, request, pk):
        course = get_object_or_404(Course.objects.visible_to(request.user), pk=pk)
        self.check_object_permissions(request, course)
        serializer = ReorderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "modules" in data:
            services.course_reorder_modules(
                actor=request.user, course=course, module_ids=data["modules"]
            )
        else:
            services.course_reorder_lessons(
                actor=request.user,
                course=course,
                module_id=data.get("module"),
                lesson_ids=data["lessons"],
            )
        return Response(OutlineSerializer(selectors.course_outline(course=course)).data)
