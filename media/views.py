"""Asset endpoints: upload, list, get, delete, and an asset's picture.

Views validate, call one service, serialize the result. Playback, HLS serving, downloads and
Mux live in `media.playback_views`.
"""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from . import selectors, services
from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .permissions import MediaAssetPermission
from .serializers import MediaAssetSerializer, MediaUploadSerializer, asset_has_picture
from .validation import MediaUploadLimitHandler

# Path ids are UUIDs; anything else does not match a route and answers a problem+json 404.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_NOT_FOUND = OpenApiResponse(description="Unknown, or not the caller's asset.")
_REFUSED = OpenApiResponse(
    description="Refused file: `unsupported_file_type`, `corrupt_file`, `encrypted_document`, "
    "`image_dimensions_too_large`, `unsafe_archive`, `empty_file`, or `validation_error` "
    "when no `file` part was sent."
)
_TOO_LARGE = OpenApiResponse(description="`file_too_large`: past the limit for its kind.")
_IN_USE = OpenApiResponse(description="`asset_in_use`: a course or a lesson uses the asset.")
_PICTURE = {
    (200, "image/webp"): OpenApiTypes.BINARY,
    (200, "image/jpeg"): OpenApiTypes.BINARY,
    302: OpenApiResponse(description="S3 storage: redirect to a short-lived presigned URL."),
}


class MediaAssetFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AssetKind.choices)
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices)
    provider = django_filters.ChoiceFilter(choices=Provider.choices)

    class Meta:
        model = MediaAsset
        fields = ("kind", "status", "provider")


@extend_schema_view(
    list=extend_schema(
        summary="List the caller's media assets (admins: all).",
        description="Newest first. Filter with `kind`, `status`, `provider`.",
    ),
    retrieve=extend_schema(
        summary="Get a media asset (owner or admin).",
        responses={200: MediaAssetSerializer, 404: _NOT_FOUND},
    ),
)
class MediaAssetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Uploaded images, documents and videos."""

    serializer_class = MediaAssetSerializer
    permission_classes = [MediaAssetPermission]
    parser_classes = [MultiPartParser]
    filter_backends = [DjangoFilterBackend]
    filterset_class = MediaAssetFilter
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return selectors.asset_list(user=self.request.user)

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            # Size limits apply while the body streams in (see MediaUploadLimitHandler).
            request.upload_handlers.insert(0, MediaUploadLimitHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # The picture endpoint answers with image bytes whatever the Accept header says; its
        # errors are problem+json.
        return super().perform_content_negotiation(
            request, force=force or self.action == "thumbnail"
        )

    @extend_schema(
        summary="Upload an image, a document or a video (instructors and admins).",
        description=(
            "Multipart form with one `file` part. The kind is detected from the content "
            "(never from the name or the Content-Type). Images are re-encoded to WebP "
            "(at most 1280x720, metadata stripped) and documents validated: both are `ready` "
            "at once. Videos are `uploaded` and transcoded in the background."
        ),
        request={"multipart/form-data": MediaUploadSerializer},
        responses={
            201: MediaAssetSerializer,
            400: _REFUSED,
            403: OpenApiResponse(description="Students may not upload."),
            413: _TOO_LARGE,
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = MediaUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asset = services.asset_create(actor=request.user, file=serializer.validated_data["file"])
        if asset.kind == AssetKind.VIDEO:
            # With Celery in eager mode the transcode already ran on commit: answer what is
            # stored now, not the state before it.
            asset.refresh_from_db()
        data = self.get_serializer(asset).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Delete an asset and, in the background, all its files (owner or admin).",
        responses={204: None, 404: _NOT_FOUND, 409: _IN_USE},
    )
    def destroy(self, request, *args, **kwargs):
        services.asset_delete(actor=request.user, asset=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="An asset's picture: the image itself, or a video's poster frame (owner or admin).",
        responses={**_PICTURE, 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        asset = self.get_object()
        if not asset_has_picture(asset):
            raise NotFound("This asset has no picture (yet).")
        return selectors.asset_picture_response(asset=asset, public=False)
