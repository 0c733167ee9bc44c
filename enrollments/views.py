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
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from eduflow.core.exceptions import Conflict, Forbidden
from eduflow.core.permissions import is_admin
from eduflow.core.throttling import ClientIpMixin, WindowRateThrottle
from media.storage import file_response

from . import selectors, services
from .filters import EnrollmentFilter
from .models import Certificate, Enrollment
from .serializers import (
    CertificateRevokeSerializer,
    CertificateSerializer,
    CertificateVerificationSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
)

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


# --- Certificates -----------------------------------------------------------------------------
_CERT_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Certificate id."
)


class CertificateVerifyThrottle(ClientIpMixin, WindowRateThrottle):
    """Public verification requests per client address (rate `certificate_verify`)."""

    scope = "certificate_verify"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


@extend_schema_view(
    list=extend_schema(
        summary="List certificates",
        description="Learners see their own; instructors those of their courses (and their "
        "own); admins all.",
    ),
    retrieve=extend_schema(
        summary="Get a certificate",
        parameters=[_CERT_ID],
        responses={
            200: CertificateSerializer,
            404: OpenApiResponse(description="Unknown or not visible to the caller. " + _PROBLEM),
        },
    ),
)
class CertificateViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Certificates issued when a course is completed: list, read, download, revoke."""

    serializer_class = CertificateSerializer
    filter_backends: list = []
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no real caller
            return Certificate.objects.none()
        return selectors.certificate_list(user=self.request.user)

    @extend_schema(
        summary="Download a certificate's PDF",
        description="The owner and admins get the PDF (`application/pdf`; on S3 storage a "
        "redirect to a short-lived presigned URL). Others who can see the certificate get 403.",
        parameters=[_CERT_ID],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The certificate PDF."
            ),
            302: OpenApiResponse(description="Presigned URL of the PDF (S3 storage)."),
            403: OpenApiResponse(description="`cannot_download_certificate`. " + _PROBLEM),
            404: OpenApiResponse(description="Unknown or not visible to the caller. " + _PROBLEM),
            409: OpenApiResponse(
                description="`certificate_not_ready`: the PDF is still being rendered. " + _PROBLEM
            ),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        certificate = self.get_object()
        if not (is_admin(request.user) or certificate.user_id == request.user.pk):
            raise Forbidden(
                "Only the certificate's owner and administrators can download it.",
                code="cannot_download_certificate",
            )
        if not certificate.pdf:
            raise Conflict(
                "The certificate's PDF is still being prepared; try again shortly.",
                code="certificate_not_ready",
            )
        return file_response(
            certificate.pdf.name,
            content_type="application/pdf",
            filename=f"certificate-{certificate.code}.pdf",
            attachment=True,
        )

    @extend_schema(
        summary="Revoke a certificate",
        description="Administrators only. Verification then answers `revoked`.",
        parameters=[_CERT_ID],
        request=CertificateRevokeSerializer,
        responses={
            200: CertificateSerializer,
            400: OpenApiResponse(description="`validation_error`: no reason given. " + _PROBLEM),
            403: OpenApiResponse(description="`cannot_revoke_certificate`. " + _PROBLEM),
            404: OpenApiResponse(description="Unknown or not visible to the caller. " + _PROBLEM),
            409: OpenApiResponse(description="`certificate_already_revoked`. " + _PROBLEM),
        },
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        certificate = self.get_object()
        if not is_admin(request.user):
            raise Forbidden(
                "Only administrators can revoke certificates.", code="cannot_revoke_certificate"
            )
        serializer = CertificateRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        certificate = services.certificate_revoke(
            actor=request.user, certificate=certificate, reason=serializer.validated_data["reason"]
        )
        return Response(CertificateSerializer(certificate).data)


class CertificateVerifyView(APIView):
    """Public certificate verification by code: no account needed, throttled per address."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [CertificateVerifyThrottle]

    @extend_schema(
        summary="Verify a certificate",
        description="Public (no authentication). Status (`valid`/`revoked`), learner name, "
        "course, dates and the sha256 of the PDF of the certificate with this code.",
        parameters=[
            OpenApiParameter(
                "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Verification code."
            )
        ],
        responses={
            200: CertificateVerificationSerializer,
            404: OpenApiResponse(description="`not_found`: unknown code. " + _PROBLEM),
            429: OpenApiResponse(description="`throttled`: too many requests. " + _PROBLEM),
        },
    )
    def get(self, request, code: str):
        certificate = selectors.certificate_by_code(code=code)
        if certificate is None:
            raise NotFound("No certificate has this verification code.")
        return Response(CertificateVerificationSerializer(certificate).data)
