"""Read helpers for media assets, shared by the views, the admin and other apps.

Visibility: administrators see every asset; everyone else only the assets they uploaded
(others' assets answer 404). Other apps attach assets through these helpers, never by querying
someone else's files.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpResponse

from eduflow.core.permissions import is_admin

from . import storage
from .models import AssetKind, MediaAsset


def asset_list(*, user) -> QuerySet[MediaAsset]:
    """Assets the user may see and manage: their own; all of them for administrators."""
    if is_admin(user):
        return MediaAsset.objects.all()
    if not getattr(user, "is_authenticated", False):
        return MediaAsset.objects.none()
    return MediaAsset.objects.owned_by(user)


def asset_get_for_update(*, pk) -> MediaAsset | None:
    """The asset row locked for the rest of the transaction (None when it is gone).

    Attaching an asset to a course or lesson and deleting it both take this lock, so an asset
    cannot be deleted while it is being attached.
    """
    return MediaAsset.objects.select_for_update().filter(pk=pk).first()


def asset_picture_response(*, asset: MediaAsset, public: bool) -> HttpResponse:
    """An HTTP response with an asset's picture: the WebP of an image asset, or the poster
    frame of a video. Local files are streamed; on S3 it is a redirect to a presigned URL.

    `public` (course thumbnails of published courses) lets shared caches keep it for an hour;
    callers version the URL with the asset id, so a new picture gets a new URL.
    """
    if asset.kind == AssetKind.IMAGE:
        key, content_type = asset.original.name, asset.content_type or "image/webp"
    else:
        key, content_type = asset.thumbnail.name, "image/jpeg"
    if not key:
        raise Http404("This asset has no picture.")
    return storage.file_response(
        key,
        content_type=content_type,
        cache_control="public, max-age=3600" if public else "private, max-age=300",
    )
