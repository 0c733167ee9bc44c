"""Media asset shapes. Storage keys, the HLS encryption key and Mux ids are never exposed."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from .models import AssetKind, AssetStatus, MediaAsset

# Parts of `renditions` clients may see; storage keys (`master`, each variant's `playlist`)
# stay inside.
_PUBLIC_RENDITION_KEYS = ("segment_seconds", "encryption")
_PUBLIC_VARIANT_KEYS = ("name", "width", "height", "bandwidth", "video_kbps", "audio_kbps")


def public_renditions(renditions: dict[str, Any] | None) -> dict[str, Any]:
    renditions = renditions or {}
    public = {key: renditions[key] for key in _PUBLIC_RENDITION_KEYS if key in renditions}
    variants = renditions.get("variants")
    if isinstance(variants, list):
        public["variants"] = [
            {key: variant[key] for key in _PUBLIC_VARIANT_KEYS if key in variant}
            for variant in variants
            if isinstance(variant, dict)
        ]
    return public


def asset_has_picture(asset: MediaAsset) -> bool:
    """Whether `GET /api/v1/media/{id}/thumbnail/` has something to show for this asset."""
    if asset.kind == AssetKind.IMAGE:
        return asset.status == AssetStatus.READY and bool(asset.original)
    return bool(asset.thumbnail)


class MediaAssetSerializer(serializers.ModelSerializer):
    """An asset as its owner (or an administrator) reads it."""

    renditions = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = MediaAsset
        fields = (
            "id",
            "kind",
            "status",
            "content_type",
            "size",
            "sha256",
            "provider",
            "metadata",
            "renditions",
            "error",
            "original_filename",
            "thumbnail_url",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "description": "HLS outputs of a video: `segment_seconds`, `encryption` and "
            "`variants` (name, width, height, bandwidth ...). Empty until transcoded.",
            "additionalProperties": True,
        }
    )
    def get_renditions(self, obj: MediaAsset) -> dict[str, Any]:
        return public_renditions(obj.renditions)

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, obj: MediaAsset) -> str | None:
        """The image itself for images, a video's poster frame once transcoded, else null."""
        if not asset_has_picture(obj):
            return None
        return reverse(
            "media-asset-thumbnail", kwargs={"pk": obj.pk}, request=self.context.get("request")
        )


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The file to upload. Its type is detected from the content; the name and the "
        "Content-Type sent with it are ignored (the name is kept for display).",
    )
