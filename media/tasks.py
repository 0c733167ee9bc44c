"""Celery tasks of the media app (queue `media`). Each takes an asset id and is safe to rerun."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import tempfile
from pathlib import Path
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, OperationalError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from . import transcoding
from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .playback import content_type_for
from .signals import asset_ready
from .storage import (
    delete_key,
    delete_prefix,
    get_storage,
    hls_prefix,
    list_prefix,
    put,
    thumbnail_key,
)

logger = logging.getLogger(__name__)


# --- transcoding ----------------------------------------------------------------------------
# The lease: how long a `processing` claim keeps other workers away. Longer than the task's
# hard time limit, so only a claim whose worker died can go stale.
TRANSCODE_SOFT_LIMIT = settings.MEDIA_TRANSCODE_TIMEOUT + 120
TRANSCODE_HARD_LIMIT = settings.MEDIA_TRANSCODE_TIMEOUT + 180
TRANSCODE_LEASE = dt.timedelta(seconds=TRANSCODE_HARD_LIMIT + 60)
_COPY_CHUNK = 1024 * 1024
_RETRYABLE_S3_CODES = {
    "SlowDown",
    "Throttling",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}


class TransientMediaError(Exception):
    """Storage, network or database trouble worth retrying later."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError
    ):
        return False
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or error.get("Code") in _RETRYABLE_S3_CODES
    return isinstance(exc, OSError | OperationalError | BotoCoreError)


def _claim_key(asset_id: str) -> str:
    return f"media:transcode:claim:{asset_id}"


def _claim(asset_id: str, *, task_id: str | None) -> str | None:
    """Mark the asset `processing` for this run, or say why there is nothing to do.

    A `processing` asset whose claim is younger than the lease belongs to another run and is
    left alone, unless this is the same task delivered again after its worker died (the task id
    of the claim is kept in the cache for the length of the lease).
    """
    with transaction.atomic():
        asset = MediaAsset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None:
            return "gone"
        if asset.kind != AssetKind.VIDEO or asset.provider != Provider.LOCAL:
            return "skipped"
        if asset.status == AssetStatus.READY:
            return "ready"
        claimed = asset.status == AssetStatus.PROCESSING and asset.updated_at > (
            timezone.now() - TRANSCODE_LEASE
        )
        if claimed and (not task_id or cache.get(_claim_key(asset_id)) != task_id):
            return "busy"
        asset.status = AssetStatus.PROCESSING
        asset.error = ""
        asset.save(update_fields=["status", "error", "updated_at"])
    if task_id:
        cache.set(_claim_key(asset_id), task_id, timeout=int(TRANSCODE_LEASE.total_seconds()))
    return None


def _release(asset_id: str) -> None:
    """Give the claim back (status `uploaded`) so a retry can take it.

    Best effort: when the database is what failed, the retry (same task id) still recognises
    its own claim through the cache.
    """
    try:
        MediaAsset.objects.filter(pk=asset_id, status=AssetStatus.PROCESSING).update(
            status=AssetStatus.UPLOADED, updated_at=timezone.now()
        )
    except DatabaseError:
        logger.warning("could not release the transcode claim", extra={"asset_id": asset_id})


def _fail(asset_id: str, message: str) -> None:
    logger.warning("transcode failed", extra={"asset_id": asset_id, "error": message})
    with transaction.atomic():
        asset = MediaAsset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is not None and asset.status != AssetStatus.READY:
            asset.status = AssetStatus.FAILED
            asset.error = message[:2000]
            asset.save(update_fields=["status", "error", "updated_at"])
    cache.delete(_claim_key(asset_id))


def _copy_original(asset: MediaAsset, target: Path, storage) -> None:
    """Copy the stored original to a local file, chunk by chunk (local or S3 storage)."""
    if not asset.original:
        raise transcoding.CorruptMedia("The asset has no uploaded file.")
    try:
        source = storage.open(asset.original.name, "rb")
    except FileNotFoundError as exc:
        raise transcoding.TranscodeError("The uploaded file is missing from storage.") from exc
    with source, target.open("wb") as out:
        for chunk in iter(lambda: source.read(_COPY_CHUNK), b""):
            out.write(chunk)


def _store_outputs(asset_id: str, output: transcoding.TranscodeOutput, storage) -> list[str]:
    """Upload the HLS files at their deterministic keys and remove any key a run left behind."""
    prefix = hls_prefix(asset_id)
    written = []
    for path in sorted(output.hls_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(output.hls_dir).as_posix()
        with path.open("rb") as handle:
            written.append(
                put(
                    prefix + relative,
                    handle,
                    content_type=content_type_for(relative),
                    storage=storage,
                )
            )
    for stale in set(list_prefix(prefix, storage=storage)) - set(written):
        delete_key(stale, storage=storage)
    if output.thumbnail is not None:
        with output.thumbnail.open("rb") as handle:
            put(thumbnail_key(asset_id), handle, content_type="image/jpeg", storage=storage)
    return written


def _publish(asset_id: str, output: transcoding.TranscodeOutput, key: bytes, storage) -> str:
    with transaction.atomic():
        asset = MediaAsset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None:
            # Deleted while transcoding: its file clean-up may already have run.
            delete_prefix(hls_prefix(asset_id), storage=storage)
            delete_key(thumbnail_key(asset_id), storage=storage)
            return "gone"
        info = output.probe
        asset.metadata = {
            **(asset.metadata or {}),
            "duration": round(info.duration, 3),
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "has_audio": info.has_audio,
        }
        prefix = hls_prefix(asset_id)
        asset.renditions = {
            "master": prefix + transcoding.MASTER_PLAYLIST,
            "segment_seconds": transcoding.SEGMENT_SECONDS,
            "encryption": "AES-128",
            "variants": [
                {**r.as_dict(), "playlist": f"{prefix}{r.name}/{transcoding.VARIANT_PLAYLIST}"}
                for r in output.renditions
            ],
        }
        asset.thumbnail.name = thumbnail_key(asset_id) if output.thumbnail else ""
        asset.hls_key = key
        asset.status = AssetStatus.READY
        asset.error = ""
        asset.save(
            update_fields=[
                "metadata",
                "renditions",
                "thumbnail",
                "hls_key",
                "status",
                "error",
                "updated_at",
            ]
        )
        duration = asset.metadata["duration"]
        transaction.on_commit(lambda: _announce_ready(asset_id, duration))
    cache.delete(_claim_key(asset_id))
    return "ready"


def _announce_ready(asset_id: str, duration: float | None) -> None:
    for receiver, result in asset_ready.send_robust(
        sender=MediaAsset, asset_id=UUID(str(asset_id)), kind=AssetKind.VIDEO, duration=duration
    ):
        if isinstance(result, Exception):
            logger.error(
                "asset_ready receiver failed",
                exc_info=result,
                extra={
                    "asset_id": str(asset_id),
                    "receiver": getattr(receiver, "__qualname__", ""),
                },
            )


def _transcode(asset_id: str) -> tuple[transcoding.TranscodeOutput, bytes, list[str]]:
    """The slow part, outside any transaction: copy, probe, ffmpeg, upload."""
    transcoding.require_binaries()
    storage = get_storage()
    asset = MediaAsset.objects.get(pk=asset_id)
    key = bytes(asset.hls_key) if asset.hls_key else secrets.token_bytes(16)
    with tempfile.TemporaryDirectory(prefix="eduflow-transcode-") as tmp:
        workdir = Path(tmp)
        source = workdir / "source"
        _copy_original(asset, source, storage)
        output = transcoding.transcode(
            source,
            workdir / "out",
            key=key,
            iv=secrets.token_bytes(16),
            key_uri=reverse("media-hls-key", kwargs={"asset_id": asset.pk}),
            timeout=settings.MEDIA_TRANSCODE_TIMEOUT,
        )
        written = _store_outputs(asset_id, output, storage)
    return output, key, written


@shared_task(
    bind=True,
    name="media.transcode_asset",
    acks_late=True,
    soft_time_limit=TRANSCODE_SOFT_LIMIT,
    time_limit=TRANSCODE_HARD_LIMIT,
    autoretry_for=(TransientMediaError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=settings.MEDIA_TRANSCODE_MAX_RETRIES,
)
def transcode_asset(self, asset_id: str) -> str:
    """Transcode an uploaded video into an encrypted HLS ladder and mark it ready (or failed).

    Returns what happened: "ready", "failed", or why nothing was done ("gone", "ready" already,
    "busy" with another run, "skipped" for non-local or non-video assets). Safe to run twice:
    outputs go to deterministic keys and a ready asset is left alone. Storage, network and
    database errors are retried with exponential backoff and jitter; a video ffmpeg cannot read
    fails at once with a readable `error`.
    """
    asset_id = str(asset_id)
    try:
        skipped = _claim(asset_id, task_id=self.request.id)
        if skipped is not None:
            return skipped
        storage = get_storage()
        output, key, _written = _transcode(asset_id)
        return _publish(asset_id, output, key, storage)
    except transcoding.TranscodeError as exc:
        _fail(asset_id, str(exc))
        return "failed"
    except SoftTimeLimitExceeded:
        _fail(asset_id, f"Transcoding took longer than {TRANSCODE_SOFT_LIMIT} seconds.")
        return "failed"
    except MediaAsset.DoesNotExist:
        return "gone"
    except Exception as exc:
        if not _is_transient(exc):
            logger.exception("transcode crashed", extra={"asset_id": asset_id})
            _fail(asset_id, "Transcoding failed because of an internal error.")
            raise
        attempts = self.request.retries + 1
        if self.request.retries >= (self.max_retries or 0):
            _fail(asset_id, f"Transcoding failed after {attempts} attempts: {exc}")
            return "failed"
        logger.warning(
            "transcode will retry",
            extra={"asset_id": asset_id, "attempt": attempts, "error": str(exc)},
        )
        _release(asset_id)
        raise TransientMediaError(str(exc)) from exc


# --- deleting files -------------------------------------------------------------------------


@shared_task(
    name="media.delete_asset_files",
    acks_late=True,
    autoretry_for=(OSError, BotoCoreError, ClientError),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def delete_asset_files(asset_id: str, keys: list[str] | None = None) -> int:
    """Remove every file of a deleted asset: everything under `assets/<id>/` (original,
    renditions, thumbnail) plus any other stored `keys` the row pointed to.

    Queued on commit by `services.asset_delete`. Does nothing while a row with this id exists
    (files of a live asset are never removed). Safe to run twice: deleting what is already gone
    is not an error. Returns how many files under the prefix were removed.
    """
    from .storage import asset_prefix

    if MediaAsset.objects.filter(pk=asset_id).exists():
        logger.warning("asset still exists; files kept", extra={"asset_id": str(asset_id)})
        return 0
    storage = get_storage()
    prefix = asset_prefix(asset_id)
    removed = delete_prefix(prefix, storage=storage)
    for key in keys or []:
        if key and not key.startswith(prefix):
            delete_key(key, storage=storage)
    return removed


# --- scheduled clean-up ---------------------------------------------------------------------


@shared_task(
    name="media.clean_up_stuck_assets",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
)
def clean_up_stuck_assets() -> dict[str, int] | None:
    """Scheduled: local videos left `uploaded` or `processing` for longer than
    MEDIA_STUCK_AFTER_MINUTES are queued for transcoding again (the count is kept in
    `metadata["requeues"]`), at most MEDIA_STUCK_MAX_REQUEUES times; after that they are marked
    failed with a readable error.

    Runs under a lock on the shared cache (None when another run holds it). Safe to run twice:
    a re-queued asset is fresh again (its `updated_at` moves), so the next run leaves it alone.
    """
    from eduflow.core.locks import cache_lock

    with cache_lock("job:media.clean_up_stuck_assets", timeout=300) as acquired:
        if not acquired:
            logger.info("media clean-up skipped: another run holds the lock")
            return None
        return _clean_up_stuck_assets()


def _clean_up_stuck_assets() -> dict[str, int]:
    threshold = dt.timedelta(minutes=settings.MEDIA_STUCK_AFTER_MINUTES)
    stuck = Q(
        kind=AssetKind.VIDEO,
        provider=Provider.LOCAL,
        status__in=(AssetStatus.UPLOADED, AssetStatus.PROCESSING),
    )
    cutoff = timezone.now() - threshold
    candidates = list(
        MediaAsset.objects.filter(stuck, updated_at__lt=cutoff).values_list("pk", flat=True)
    )
    requeued = failed = 0
    for asset_id in candidates:
        with transaction.atomic():
            asset = (
                MediaAsset.objects.select_for_update()
                .filter(stuck, pk=asset_id, updated_at__lt=timezone.now() - threshold)
                .first()
            )
            if asset is None:  # finished, deleted or handled since the query above
                continue
            requeues = int((asset.metadata or {}).get("requeues", 0))
            if requeues >= settings.MEDIA_STUCK_MAX_REQUEUES:
                asset.status = AssetStatus.FAILED
                asset.error = (
                    f"Processing did not finish after {requeues + 1} attempts "
                    f"({settings.MEDIA_STUCK_AFTER_MINUTES} minutes each); upload the video again."
                )
                asset.save(update_fields=["status", "error", "updated_at"])
                failed += 1
                continue
            asset.metadata = {**(asset.metadata or {}), "requeues": requeues + 1}
            asset.status = AssetStatus.UPLOADED
            asset.save(update_fields=["metadata", "status", "updated_at"])
            transaction.on_commit(functools.partial(transcode_asset.delay, str(asset_id)))
            requeued += 1
        cache.delete(_claim_key(str(asset_id)))
    if requeued or failed:
        logger.warning("stuck media assets", extra={"requeued": requeued, "failed": failed})
    return {"requeued": requeued, "failed": failed}
