"""Category and course endpoints. Views validate, call one service, serialize the result."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from eduflow.core.filtering import FilterBackend
from eduflow.core.http_caching import ConditionalReadMixin
from eduflow.core.permissions import ReadOnlyOrAdmin
from media.selectors import asset_picture_response

from . import catalog_cache, selectors, services
from .filters import CourseFilter
from .models import Course
from .permissions import CoursePermission
from .serializers import (
    CategorySerializer,
    CourseReader,
    CourseSerializer,
    CourseWriteSerializer,
)

# Path ids are UUIDs; anything else does not match a route and answers a problem+json 404.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_NOT_FOUND = OpenApiResponse(description="Unknown, or not visible to the caller.")
_FORBIDDEN = OpenApiResponse(description="Visible, but the caller may not change it.")
_CONFLICT = OpenApiResponse(description="Refused in the current state (see `code`).")


@extend_schema_view(
    list=extend_schema(summary="List categories (public)."),
    retrieve=extend_schema(summary="Get a category (public)."),
    create=extend_schema(summary="Create a category (admins)."),
    update=extend_schema(summary="Replace a category (admins)."),
    partial_update=extend_schema(summary="Change a category (admins)."),
    destroy=extend_schema(
        summary="Delete a category no course uses (admins).",
        responses={204: None, 409: _CONFLICT},
    ),
)
class CategoryViewSet(ConditionalReadMixin, viewsets.ModelViewSet):
    """Subject areas. Everyone reads; administrators write."""

    serializer_class = CategorySerializer
    permission_classes = [ReadOnlyOrAdmin]
    filter_backends = [filters.SearchFilter]
    search_fields = ["name", "slug"]
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return selectors.category_list()

    def perform_create(self, serializer):
        serializer.instance = services.category_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.category_update(
            actor=self.request.user, category=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.category_delete(actor=self.request.user, category=instance)


@extend_schema_view(
    list=extend_schema(
        summary="List the courses the caller can see.",
        description=(
            "Anonymous callers and students see published courses; instructors also their own; "
            "admins all. `search` looks in title, subtitle and description."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a course.", responses={200: CourseSerializer, 404: _NOT_FOUND}
    ),
)
class CourseViewSet(ConditionalReadMixin, viewsets.ModelViewSet):
    """Courses and their life cycle: draft → published → archived.

    The public list and detail are answered from the catalog cache (see `catalog_cache`).
    """

    serializer_class = CourseSerializer
    permission_classes = [CoursePermission]
    filter_backends = [FilterBackend, filters.SearchFilter]
    filterset_class = CourseFilter
    search_fields = ["title", "subtitle", "description"]
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if self.action == "list":
            return selectors.course_page_source(user=self.request.user)
        return selectors.course_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return CourseWriteSerializer
        return CourseSerializer

    def list(self, request, *args, **kwargs):
        return catalog_cache.cached_read(self, request, "list", self._list)

    def _list(self):
        # The page is chosen on the course table alone; lesson totals only for its rows.
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        courses = selectors.attach_lesson_stats(list(page))
        return self.get_paginated_response(CourseReader(self.request).many(courses))

    def retrieve(self, request, *args, **kwargs):
        return catalog_cache.cached_read(
            self, request, "detail", lambda: Response(CourseReader(request).one(self.get_object()))
        )

    def perform_content_negotiation(self, request, force=False):
        # The thumbnail answers with image bytes whatever the Accept header says; its errors
        # are problem+json.
        return super().perform_content_negotiation(
            request, force=force or self.action == "thumbnail"
        )

    def _course_response(self, course: Course, status_code: int = status.HTTP_200_OK):
        fresh = selectors.course_get_with_stats(pk=course.pk)
        return Response(
            CourseSerializer(fresh, context=self.get_serializer_context()).data, status_code
        )

    @extend_schema(
        summary="Create a draft course (instructors and admins).",
        request=CourseWriteSerializer,
        responses={201: CourseSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        course = services.course_create(actor=request.user, **serializer.validated_data)
        return self._course_response(course, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace a course's catalog data (owner or admin).",
        request=CourseWriteSerializer,
        responses={200: CourseSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    def update(self, request, *args, **kwargs):
        course = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        course = services.course_update(
            actor=request.user, course=course, **serializer.validated_data
        )
        return self._course_response(course)

    @extend_schema(
        summary="Change a course's catalog data (owner or admin).",
        request=CourseWriteSerializer,
        responses={200: CourseSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(
        summary="Delete a course nobody enrolled in (owner or admin).",
        responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    def destroy(self, request, *args, **kwargs):
        services.course_delete(actor=request.user, course=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Publish a course (needs at least one lesson).",
        request=None,
        responses={200: CourseSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        course = services.course_publish(actor=request.user, course=self.get_object())
        return self._course_response(course)

    @extend_schema(
        summary="Archive a course (hidden from the catalog).",
        request=None,
        responses={200: CourseSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        course = services.course_archive(actor=request.user, course=self.get_object())
        return self._course_response(course)

    @extend_schema(
        summary="The course's thumbnail image (public for everyone who can see the course).",
        description=(
            "WebP image, at most 1280x720. Local storage: the bytes; S3 storage: a redirect to a "
            "short-lived presigned URL. `thumbnail_url` in the course carries a version "
            "parameter, so a changed thumbnail gets a new URL."
        ),
        responses={
            (200, "image/webp"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="S3 storage: redirect to a presigned URL."),
            404: OpenApiResponse(description="Unknown or hidden course, or no thumbnail."),
        },
    )
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        course = get_object_or_404(
            Course.objects.visible_to(request.user).select_related("thumbnail"), pk=pk
        )
        if course.thumbnail is None:
            raise NotFound("This course has no thumbnail.")
        return asset_picture_response(asset=course.thumbnail, public=course.is_published)
