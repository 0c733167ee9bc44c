"""The Mux video provider: direct uploads, webhooks and signed playback.

Mux is used when its credentials are set (settings refuse a partial configuration). The API is
called through mux_python with the host taken from MUX_API_BASE_URL, never inside a database
transaction. Webhooks are verified (`Mux-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">`, 5 minutes of tolerance, constant-time comparison) and applied idempotently
under a row lock. Playback URLs carry RS256 JWTs signed with the Mux signing key: `kid` header,
`sub` = playback id, `aud` "v" (video) or "t" (thumbnail), expiring after MUX_PLAYBACK_TTL
minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import mux_python
import urllib3
from django.conf import settings
from django.db import transaction
from rest_framework import status

from eduflow.core.exceptions import Conflict, ProblemError

from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .signals import asset_ready

logger = logging.getLogger(__name__)

STREAM_BASE = "https://stream.mux.com"
IMAGE_BASE = "https://image.mux.com"
SIGNATURE_TOLERANCE_SECONDS = 300
API_TIMEOUT_SECONDS = 15


class MuxUnavailable(ProblemError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "mux_unavailable"
    default_detail = "The video service could not be reached; try again later."


class WebhookSignatureMissing(ProblemError):
    default_code = "webhook_signature_missing"
    default_detail = "The Mux-Signature header is missing or malformed."


class WebhookSignatureInvalid(ProblemError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "webhook_signature_invalid"
    default_detail = "The webhook signature does not match its body."


class WebhookSignatureExpired(ProblemError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "webhook_signature_expired"
    default_detail = "The webhook signature is outside the accepted time window."


def is_enabled() -> bool:
    return bool(getattr(settings, "MUX_ENABLED", False))


def require_enabled() -> None:
    if not is_enabled():
        raise Conflict(
            "Mux is not configured on this server; upload the file to /api/v1/media/ instead.",
            code="mux_not_configured",
        )


# --- signed playback ----------------------------------------------------------------------


def private_key_pem() -> str:
    """The signing key as PEM (MUX_SIGNING_PRIVATE_KEY holds it base64-encoded, as Mux gives it;
    a raw PEM is accepted too)."""
    value = settings.MUX_SIGNING_PRIVATE_KEY.strip()
    if value.startswith("-----BEGIN"):
        return value
    return base64.b64decode(value).decode("ascii")


def playback_token(playback_id: str, *, audience: str, now: float | None = None) -> str:
    """An RS256 JWT for one playback id: audience "v" for video, "t" for thumbnails."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": playback_id, "aud": audience, "exp": issued + settings.MUX_PLAYBACK_TTL * 60}
    return jwt.encode(
        claims,
        private_key_pem(),
        algorithm="RS256",
        headers={"kid": settings.MUX_SIGNING_KEY_ID},
    )


@dataclass(frozen=True)
class MuxPlayback:
    hls_url: str
    thumbnail_url: str
    expires_at: int  # unix time


def signed_playback(playback_id: str, *, now: float | None = None) -> MuxPlayback:
    issued = int(time.time() if now is None else now)
    video = playback_token(playback_id, audience="v", now=issued)
    thumb = playback_token(playback_id, audience="t", now=issued)
    return MuxPlayback(
        hls_url=f"{STREAM_BASE}/{playback_id}.m3u8?token={video}",
        thumbnail_url=f"{IMAGE_BASE}/{playback_id}/thumbnail.jpg?token={thumb}",
        expires_at=issued + settings.MUX_PLAYBACK_TTL * 60,
    )


# --- API ----------------------------------------------------------------------------------


def _api_client() -> mux_python.ApiClient:
    configuration = mux_python.Configuration(
        host=settings.MUX_API_BASE_URL.rstrip("/"),
        username=settings.MUX_TOKEN_ID,
        password=settings.MUX_TOKEN_SECRET,
    )
    return mux_python.ApiClient(configuration)


def create_direct_upload(*, owner) -> tuple[MediaAsset, str]:
    """Ask Mux for a direct upload URL, then record a new video asset for it.

    The Mux call happens before (outside) the database transaction; the asset id travels as the
    upload's `passthrough`, so webhooks find the asset even if they arrive out of order. A Mux
    upload whose asset row could not be written simply expires unused at Mux.
    """
    require_enabled()
    asset_id = uuid.uuid4()
    request = mux_python.CreateUploadRequest(
        cors_origin=settings.MUX_CORS_ORIGIN,
        new_asset_settings=mux_python.CreateAssetRequest(
            playback_policy=[mux_python.PlaybackPolicy.SIGNED],
            passthrough=str(asset_id),
        ),
    )
    try:
        with _api_client() as client:
            response = mux_python.DirectUploadsApi(client).create_direct_upload(
                request, _request_timeout=API_TIMEOUT_SECONDS
            )
    except mux_python.ApiException as exc:
        logger.warning("mux create upload failed: HTTP %s %s", exc.status, exc.reason)
        raise MuxUnavailable() from exc
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        logger.warning("mux create upload failed: %s", exc)
        raise MuxUnavailable() from exc
    upload = response.data
    if not upload or not upload.id or not upload.url:
        raise MuxUnavailable("The video service answered without an upload URL.")
    asset = MediaAsset.objects.create(
        id=asset_id,
        owner=owner,
        kind=AssetKind.VIDEO,
        provider=Provider.MUX,
        status=AssetStatus.UPLOADED,
        mux_upload_id=upload.id,
    )
    return asset, upload.url


# --- webhooks -----------------------------------------------------------------------------


def verify_webhook_signature(
    *, header: str | None, body: bytes, secret: str, now: float | None = None
) -> None:
    """Check a `Mux-Signature` header against the raw body; raise a problem when it fails."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or not signatures:
        raise WebhookSignatureMissing()
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookSignatureExpired()
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureInvalid()


def _locked_asset(*, mux_asset_id: str = "", upload_id: str = "", passthrough: str = ""):
    queryset = MediaAsset.objects.select_for_update().filter(provider=Provider.MUX)
    if mux_asset_id:
        asset = queryset.filter(mux_asset_id=mux_asset_id).first()
        if asset is not None:
            return asset
    if upload_id:
        asset = queryset.filter(mux_upload_id=upload_id).first()
        if asset is not None:
            return asset
    if passthrough:
        try:
            return queryset.filter(pk=uuid.UUID(passthrough)).first()
        except ValueError:
            return None
    return None


def _passthrough(data: dict[str, Any]) -> str:
    value = data.get("passthrough") or (data.get("new_asset_settings") or {}).get("passthrough")
    return str(value or "")


def _playback_id(data: dict[str, Any]) -> str:
    ids = [item for item in data.get("playback_ids") or [] if isinstance(item, dict)]
    for item in ids:
        if item.get("policy") == "signed" and item.get("id"):
            return str(item["id"])
    return str(ids[0].get("id") or "") if ids else ""


def _video_metadata(data: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    try:
        duration = float(data.get("duration") or 0)
    except (TypeError, ValueError):
        duration = 0.0
    if duration > 0:
        metadata["duration"] = round(duration, 3)
    for track in data.get("tracks") or []:
        if isinstance(track, dict) and track.get("type") == "video":
            if track.get("max_width") and track.get("max_height"):
                metadata["width"] = int(track["max_width"])
                metadata["height"] = int(track["max_height"])
            break
    return metadata


def _error_message(data: dict[str, Any]) -> str:
    errors = data.get("errors") or {}
    messages = [str(m) for m in errors.get("messages") or [] if m]
    text = "; ".join(messages) or str(errors.get("type") or "unknown error")
    return f"Mux could not process the video: {text}"


@transaction.atomic
def apply_webhook_event(event: dict[str, Any]) -> str:
    """Apply one verified webhook event; returns what happened (for logs and tests).

    Replaying an event, or receiving events out of order, leaves the asset as the latest state:
    ready is final (a late "errored" does not undo it) and each change is made once.
    """
    kind = event.get("type")
    data = event.get("data")
    if not isinstance(data, dict):
        return "ignored"
    if kind == "video.upload.asset_created":
        asset = _locked_asset(upload_id=str(data.get("id") or ""), passthrough=_passthrough(data))
        mux_asset_id = str(data.get("asset_id") or "")
        if asset is None or not mux_asset_id:
            return "unknown_asset"
        if asset.mux_asset_id == mux_asset_id and asset.status != AssetStatus.UPLOADED:
            return "unchanged"
        asset.mux_asset_id = mux_asset_id
        if asset.status == AssetStatus.UPLOADED:
            asset.status = AssetStatus.PROCESSING
        asset.save(update_fields=["mux_asset_id", "status", "updated_at"])
        return "processing"
    if kind == "video.asset.ready":
        asset = _locked_asset(
            mux_asset_id=str(data.get("id") or ""),
            upload_id=str(data.get("upload_id") or ""),
            passthrough=_passthrough(data),
        )
        playback_id = _playback_id(data)
        if asset is None:
            return "unknown_asset"
        if not playback_id:
            return "ignored"
        if asset.status == AssetStatus.READY and asset.mux_playback_id == playback_id:
            return "unchanged"
        asset.mux_asset_id = str(data.get("id") or asset.mux_asset_id)
        asset.mux_playback_id = playback_id
        asset.metadata = {**asset.metadata, **_video_metadata(data)}
        asset.status = AssetStatus.READY
        asset.error = ""
        asset.save(
            update_fields=[
                "mux_asset_id",
                "mux_playback_id",
                "metadata",
                "status",
                "error",
                "updated_at",
            ]
        )
        asset_id, duration = asset.pk, asset.metadata.get("duration")
        transaction.on_commit(
            lambda: asset_ready.send(
                sender=MediaAsset, asset_id=asset_id, kind=AssetKind.VIDEO, duration=duration
            )
        )
        return "ready"
    if kind == "video.asset.errored":
        asset = _locked_asset(
            mux_asset_id=str(data.get("id") or ""),
            upload_id=str(data.get("upload_id") or ""),
            passthrough=_passthrough(data),
        )
        if asset is None:
            return "unknown_asset"
        if asset.status in (AssetStatus.READY, AssetStatus.FAILED):
            return "unchanged"
        asset.mux_asset_id = str(data.get("id") or asset.mux_asset_id)
        asset.status = AssetStatus.FAILED
        asset.error = _error_message(data)[:2000]
        asset.save(update_fields=["mux_asset_id", "status", "error", "updated_at"])
        return "failed"
    return "ignored"
