"""Uploaded files and what is derived from them (renditions, thumbnails)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class AssetKind(models.TextChoices):
    IMAGE = "image", "Image"
    DOCUMENT = "document", "Document"
    VIDEO = "video", "Video"


class AssetStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Provider(models.TextChoices):
    LOCAL = "local", "Local (ffmpeg + HLS)"
    MUX = "mux", "Mux"


def original_upload_to(instance: MediaAsset, filename: str) -> str:
    """Deterministic key per asset; the client's file name never becomes part of a path."""
    return f"assets/{instance.pk}/original"


def thumbnail_upload_to(instance: MediaAsset, filename: str) -> str:
    return f"assets/{instance.pk}/thumbnail.jpg"


class MediaAssetQuerySet(models.QuerySet):
    def owned_by(self, user) -> MediaAssetQuerySet:
        return self.filter(owner=user)


class MediaAsset(models.Model):
    """An uploaded image, document or video, and the outputs processed from it.

    `metadata` holds what was measured from the content (`duration`, `width`, `height`,
    `page_count`); `renditions` holds the HLS outputs (`master` storage key, `variants` list).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_assets"
    )
    kind = models.CharField(max_length=20, choices=AssetKind.choices)
    original = models.FileField(upload_to=original_upload_to, max_length=500, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=AssetStatus.choices, default=AssetStatus.UPLOADED
    )
    error = models.TextField(blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.LOCAL)
    metadata = models.JSONField(default=dict, blank=True)
    renditions = models.JSONField(default=dict, blank=True)
    thumbnail = models.FileField(upload_to=thumbnail_upload_to, max_length=500, blank=True)
    # AES-128 key for the HLS segments of this asset; served only to holders of a playback grant.
    hls_key = models.BinaryField(max_length=16, null=True, blank=True, editable=False)
    mux_upload_id = models.CharField(max_length=100, blank=True)
    mux_asset_id = models.CharField(max_length=100, blank=True)
    mux_playback_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MediaAssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["-created_at", "id"], name="asset_created_idx"),
            models.Index(fields=["owner", "-created_at"], name="asset_owner_idx"),
            models.Index(fields=["mux_asset_id"], name="asset_mux_asset_idx"),
            models.Index(fields=["mux_upload_id"], name="asset_mux_upload_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in AssetKind]), name="asset_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in AssetStatus]), name="asset_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(provider__in=[p.value for p in Provider]), name="asset_provider_valid"
            ),
            models.CheckConstraint(condition=Q(size__gte=0), name="asset_size_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.original_filename or self.pk}"

    @property
    def is_ready(self) -> bool:
        return self.status == AssetStatus.READY
