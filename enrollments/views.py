"""Enrollment endpoints. Views validate, call one service, serialize.

Everyone sees only the enrollments `Enrollment.objects.visible_to` gives them (others answer
404); the services decide who may enroll whom and who may cancel (403 otherwise).
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from . import selectors, services
from .filters import EnrollmentFilter
from .models import Enrollment
from .serializers import EnrollmentCreateSerializer, EnrollmentSerializer

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Enrollment id.")
_PROBLEM = "Problem details (`application/problem+json`) with a stable `code`."


@extend_schema_view(
    list=extend_schema(
        summary="List enrollments",
        description="Students see their own; instructors those in their courses and their own; "
        "admins all.",
    ),
    retrieve=extend_schema(
        summary="Get an enrollment",
        parameters=[_ID],
        responses={
            200: EnrollmentSerializer,
            404: OpenApiResponse(description="Unknown or not visible to the caller. " + _PROBLEM),
        },
    ),
    create=extend_schema(
        summary="Enroll into a course",
        description=(
            "Enroll yourself into a published free course, or (admins and the course's "
            "instructor) another user with `user`. Re-enrolling after cancelling reactivates "
            "the same enrollment."
        ),
        request=EnrollmentCreateSerializer,
        responses={
            201: EnrollmentSerializer,
            400: OpenApiResponse(
                description="`validation_error`: unknown or hidden course, unknown user. "
                + _PROBLEM
            ),
            402: OpenApiResponse(description="`payment_required`: paid course. " + _PROBLEM),
            403: OpenApiResponse(
                description="`cannot_enroll_others`: enrolling someone else. " + _PROBLEM
            ),
            409: OpenApiResponse(
                description="`already_enrolled`, `course_full` or `course_not_published`. "
                + _PROBLEM
            ),
        },
    ),
    destroy=extend_schema(
        summary="Cancel an enrollment",
        parameters=[_ID],
        description="The enrollment is kept with status `cancelled`; cancelling twice is harmless.",
        responses={
            204: None,
            403: OpenApiResponse(description="`cannot_cancel_enrollment`. " + _PROBLEM),
            404: OpenApiResponse(description="Unknown or not visible to the caller. " + _PROBLEM),
            409: OpenApiResponse(
                description="`enrollment_completed`: completed enrollments stay. " + _PROBLEM
            ),
        },
    ),
)
class EnrollmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Enroll, list, read and cancel enrollments."""

    serializer_class = EnrollmentSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = EnrollmentFilter
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no real caller
            return Enrollment.objects.none()
        return selectors.enrollment_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return EnrollmentCreateSerializer
        return EnrollmentSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrollment = services.enrollment_create(
            actor=request.user,
            course=serializer.validated_data["course"],
            user=serializer.validated_data.get("user"),
        )
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.enrollment_cancel(actor=request.user, enrollment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
