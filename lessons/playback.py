"""`POST /api/v1/lessons/{id}/playback/`: a short-lived playback grant for a lesson's video.

Lessons decides who may watch; media signs the grant (`media.playback.grant_playback`).
Watchers are the readers of the lesson body: learners holding a seat in the course, the course's
instructor, admins, and anyone for a preview lesson (of a course they can see, so of a published
course for everyone but its owner and admins). Others get 403, a hidden course 404.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from eduflow.core.exceptions import Conflict, Forbidden
from media.models import AssetKind
from media.playback import grant_playback

from . import selectors


class PlaybackGrantSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["local", "mux"])
    hls_url = serializers.URLField(help_text="Master playlist; the token in it expires.")
    expires_at = serializers.DateTimeField()
    thumbnail_url = serializers.URLField(allow_null=True)


class LessonPlaybackView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Get a playback grant for the lesson's video.",
        description=(
            "For learners holding a seat, the course's instructor and admins; for anyone when "
            "the lesson is a preview. The URLs stop working at `expires_at` (ask again). "
            "409 `lesson_has_no_video` when no video is attached, 409 `media_not_ready` while "
            "it is processing (or failed)."
        ),
        request=None,
        responses={
            200: PlaybackGrantSerializer,
            403: OpenApiResponse(description="Not enrolled (`playback_forbidden`)."),
            404: OpenApiResponse(description="Unknown lesson, or its course is hidden."),
            409: OpenApiResponse(description="`lesson_has_no_video` or `media_not_ready`."),
        },
        tags=["lessons"],
    )
    def post(self, request, pk):
        lesson = get_object_or_404(
            selectors.lesson_list(user=request.user).select_related("asset"), pk=pk
        )
        if not selectors.LessonAccess(user=request.user).can_read_body(lesson):
            raise Forbidden("Enroll in the course to watch this lesson.", code="playback_forbidden")
        asset = lesson.asset
        if asset is None or asset.kind != AssetKind.VIDEO:
            raise Conflict("This lesson has no video.", code="lesson_has_no_video")
        grant = grant_playback(asset=asset, user=request.user)
        data = grant.as_dict()
        data["hls_url"] = request.build_absolute_uri(grant.hls_url)
        if grant.thumbnail_url:
            data["thumbnail_url"] = request.build_absolute_uri(grant.thumbnail_url)
        return Response(PlaybackGrantSerializer(data).data)
