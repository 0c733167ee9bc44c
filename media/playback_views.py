"""Streaming, download and Mux endpoints of the media app.

- `GET media/{id}/hls/<path>?token=`: HLS playlists (rewritten for the token holder) and
  segments (byte ranges, `Cache-Control: private`); on S3 storage segments are presigned URLs.
- `GET media/{id}/key/?token=`: the AES-128 key of the asset's segments.
- `GET media/{id}/poster/?token=`: the video's thumbnail for a grant holder.
- `GET media/{id}/download/`: a document, for whoever may read a lesson body using it.
- `POST media/uploads/mux/`: a Mux direct upload with a new asset (instructors and admins).
- `POST media/webhooks/mux/`: Mux events, authenticated by their signature only.

Token-gated endpoints are not throttled per client (players fetch a segment every few seconds,
many learners may share an address); the signed, expiring token is their gate.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from eduflow.core.exceptions import Conflict, Forbidden, ProblemError
from eduflow.core.permissions import can_author

from . import mux
from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .playback import (
    PlaybackToken,
    PlaylistError,
    asset_access,
    clean_hls_path,
    content_type_for,
    presigned_url,
    render_playlist,
    serve_file,
    verify_token,
)
from .serializers import MediaAssetSerializer
from .storage import get_storage, hls_prefix, is_s3, thumbnail_key

logger = logging.getLogger(__name__)

_TOKEN = OpenApiParameter(
    "token", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, description="From a grant."
)
_TOKEN_REFUSED = OpenApiResponse(
    description="Missing, tampered, expired, other-asset or other-user token (problem+json)."
)
_NOT_FOUND = OpenApiResponse(description="No such file (problem+json).")
_RANGE_ERROR = OpenApiResponse(description="Range not satisfiable (problem+json).")


class _AnyAccept(BaseContentNegotiation):
    """Players and browsers ask for media types DRF has no renderer for; never answer 406.

    Successful answers here are plain HttpResponses; errors render as problem+json.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _TokenView(APIView):
    permission_classes = [AllowAny]
    throttle_classes: list = []
    content_negotiation_class = _AnyAccept

    def token(self, request, asset_id) -> PlaybackToken:
        return verify_token(request.query_params.get("token"), asset_id=asset_id, user=request.user)


def _redirect(url: str, *, max_age: int) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = f"private, max-age={max(0, min(max_age, 300))}"
    return response


class HlsFileView(_TokenView):
    @extend_schema(
        summary="An HLS playlist (rewritten with the token) or segment (byte ranges).",
        parameters=[_TOKEN],
        responses={
            (200, "application/vnd.apple.mpegurl"): OpenApiTypes.STR,
            (206, "video/mp2t"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="S3 storage: presigned segment URL."),
            403: _TOKEN_REFUSED,
            404: _NOT_FOUND,
            416: _RANGE_ERROR,
        },
        tags=["media"],
    )
    def get(self, request, asset_id, path):
        token = self.token(request, asset_id)
        clean = clean_hls_path(path)
        if clean is None:
            raise NotFound("No such file.")
        storage = get_storage()
        if clean.endswith(".m3u8"):
            try:
                body = render_playlist(asset_id=asset_id, path=clean, token=token, storage=storage)
            except FileNotFoundError as exc:
                raise NotFound("No such file.") from exc
            except (PlaylistError, UnicodeDecodeError) as exc:
                logger.error(
                    "unservable playlist", extra={"asset_id": str(asset_id), "path": clean}
                )
                raise NotFound("No such file.") from exc
            response = HttpResponse(body, content_type=content_type_for(clean))
            response["Cache-Control"] = "private, no-cache"
            return response
        key = hls_prefix(asset_id) + clean
        if is_s3(storage):
            if not storage.exists(key):
                raise NotFound("No such file.")
            url = presigned_url(
                storage, key, expires_in=token.seconds_left, content_type=content_type_for(clean)
            )
            return _redirect(url, max_age=token.seconds_left)
        try:
            return serve_file(
                request,
                storage=storage,
                key=key,
                content_type=content_type_for(clean),
                cache_control=f"private, max-age={token.seconds_left}",
            )
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound("No such file.") from exc


class HlsKeyView(_TokenView):
    @extend_schema(
        summary="The AES-128 key of the asset's HLS segments (16 bytes).",
        parameters=[_TOKEN],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            403: _TOKEN_REFUSED,
            404: _NOT_FOUND,
        },
        tags=["media"],
    )
    def get(self, request, asset_id):
        self.token(request, asset_id)
        key = (
            MediaAsset.objects.filter(
                pk=asset_id, provider=Provider.LOCAL, status=AssetStatus.READY
            )
            .values_list("hls_key", flat=True)
            .first()
        )
        if not key:
            raise NotFound("No key for this file.")
        response = HttpResponse(bytes(key), content_type="application/octet-stream")
        response["Cache-Control"] = "private, no-store"
        return response


class PosterView(_TokenView):
    @extend_schema(
        summary="The video's thumbnail (JPEG) for a grant holder.",
        parameters=[_TOKEN],
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="S3 storage: presigned URL."),
            403: _TOKEN_REFUSED,
            404: _NOT_FOUND,
        },
        tags=["media"],
    )
    def get(self, request, asset_id):
        token = self.token(request, asset_id)
        storage = get_storage()
        key = thumbnail_key(asset_id)
        if is_s3(storage):
            if not storage.exists(key):
                raise NotFound("No thumbnail.")
            url = presigned_url(
                storage, key, expires_in=token.seconds_left, content_type="image/jpeg"
            )
            return _redirect(url, max_age=token.seconds_left)
        try:
            return serve_file(
                request,
                storage=storage,
                key=key,
                content_type="image/jpeg",
                cache_control=f"private, max-age={token.seconds_left}",
            )
        except FileNotFoundError as exc:
            raise NotFound("No thumbnail.") from exc


class AssetDownloadView(APIView):
    """Documents, to the audience of the lessons that use them (plus the owner and admins)."""

    permission_classes = [AllowAny]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Download a document (byte ranges supported).",
        description=(
            "Open to the asset's owner, admins, and whoever may read the body of a lesson using "
            "the document (enrolled learners, the course's instructor; anyone for a preview "
            "lesson of a published course). Others: 403 when they can see such a lesson, else "
            "404. On S3 storage the answer is a redirect to a short-lived presigned URL."
        ),
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="S3 storage: presigned URL."),
            403: OpenApiResponse(description="Visible through a lesson, but locked."),
            404: _NOT_FOUND,
            409: OpenApiResponse(description="`media_not_ready`."),
            416: _RANGE_ERROR,
        },
        tags=["media"],
    )
    def get(self, request, asset_id):
        asset = MediaAsset.objects.filter(pk=asset_id).first()
        if asset is None or asset.kind != AssetKind.DOCUMENT:
            raise NotFound("No such document.")
        decision = asset_access(user=request.user, asset=asset)
        if decision == "hidden":
            raise NotFound("No such document.")
        if decision == "forbidden":
            raise Forbidden(
                "Enroll in the course to download this document.", code="media_access_denied"
            )
        if asset.status != AssetStatus.READY or not asset.original:
            raise Conflict("The document is not ready yet.", code="media_not_ready")
        storage = get_storage()
        filename = asset.original_filename or f"{asset.pk}"
        content_type = asset.content_type or "application/octet-stream"
        if is_s3(storage):
            url = presigned_url(
                storage,
                asset.original.name,
                expires_in=settings.PLAYBACK_TOKEN_TTL,
                content_type=content_type,
                attachment_name=filename,
            )
            return _redirect(url, max_age=settings.PLAYBACK_TOKEN_TTL)
        try:
            return serve_file(
                request,
                storage=storage,
                key=asset.original.name,
                content_type=content_type,
                cache_control="private, max-age=300",
                attachment_name=filename,
            )
        except FileNotFoundError as exc:
            raise NotFound("The document's file is missing.") from exc


class MuxUploadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Start a Mux direct upload (instructors and admins).",
        description=(
            "Creates a Mux direct upload (signed playback policy) and a new video asset "
            "(provider `mux`, status `uploaded`). PUT the file to `upload_url`; Mux's webhooks "
            "then make the asset ready. 409 `mux_not_configured` when Mux is not set up, 502 "
            "`mux_unavailable` when Mux cannot be reached."
        ),
        request=None,
        responses={
            201: inline_serializer(
                "MuxUpload",
                fields={"asset": MediaAssetSerializer(), "upload_url": serializers.URLField()},
            ),
            403: OpenApiResponse(description="Students cannot upload."),
            409: OpenApiResponse(description="`mux_not_configured`."),
            502: OpenApiResponse(description="`mux_unavailable`."),
        },
        tags=["media"],
    )
    def post(self, request):
        if not can_author(request.user):
            raise Forbidden("Only instructors and administrators can upload videos.")
        asset, upload_url = mux.create_direct_upload(owner=request.user)
        data = MediaAssetSerializer(asset, context={"request": request}).data
        return Response({"asset": data, "upload_url": upload_url}, status=201)


class MuxWebhookView(APIView):
    """Authenticated by the `Mux-Signature` header alone (no session, so no CSRF)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [JSONParser]  # the view reads the raw body; this is for the schema
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Receive a Mux webhook event.",
        description=(
            "Verifies `Mux-Signature` (400 `webhook_signature_missing`, 401 "
            "`webhook_signature_invalid` / `webhook_signature_expired`), then applies "
            "`video.upload.asset_created`, `video.asset.ready` and `video.asset.errored` "
            "idempotently. Other events are acknowledged and ignored."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            200: inline_serializer("MuxWebhookResult", fields={"result": serializers.CharField()}),
            400: OpenApiResponse(description="Missing signature or malformed JSON."),
            401: OpenApiResponse(description="Bad or stale signature."),
            409: OpenApiResponse(description="`mux_not_configured`."),
        },
        auth=[],
        tags=["media"],
    )
    def post(self, request):
        mux.require_enabled()
        body = request.body
        mux.verify_webhook_signature(
            header=request.headers.get("Mux-Signature"),
            body=body,
            secret=settings.MUX_WEBHOOK_SECRET,
        )
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProblemError(
                "The webhook body is not JSON.", code="invalid_webhook_payload"
            ) from exc
        if not isinstance(event, dict):
            raise ProblemError(
                "The webhook body is not a JSON object.", code="invalid_webhook_payload"
            )
        result = mux.apply_webhook_event(event)
        logger.info("mux webhook", extra={"event_type": str(event.get("type")), "result": result})
        return Response({"result": result})
