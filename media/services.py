"""Every change to media assets: uploads, deletion, and the checks other apps run to attach one.

Uploads (`asset_create`) are validated from their content before anything is stored (see
`media.validation`), then written at deterministic keys (`media.storage`), then recorded:

- images: re-encoded to WebP (`media.images`), `ready` at once;
- documents: validated (`media.documents`), stored as uploaded, `ready` at once;
- videos: probed (`media.validation.probe_video`), stored as uploaded, `uploaded`, and the
  transcoding task is queued when the transaction commits.

Errors: 403 `permission_denied` (not an instructor or admin, or not the asset's owner),
400/413 codes from `media.validation`, 409 `asset_in_use` (deleting an asset a course or a
lesson uses).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError

from accounts.models import User
from eduflow.core.exceptions import Conflict, Forbidden
from eduflow.core.permissions import can_author, is_admin

from . import selectors, storage, tasks
from .documents import inspect_document
from .images import WEBP_CONTENT_TYPE, process_image
from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .validation import (
    UploadRejected,
    ensure_size_allowed,
    probe_video,
    read_head,
    sniff,
)

_HASH_CHUNK = 1024 * 1024
_FILENAME_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_filename(name: str | None) -> str:
    """The client's file name for display only: last path part, no control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _CONTROL.sub("", unicodedata.normalize("NFC", base)).strip()
    if len(base) > _FILENAME_MAX:
        _stem, dot, ext = base.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        base = base[: _FILENAME_MAX - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return base


def _digest(file: Any) -> tuple[str, int]:
    """sha256 and size of a file object, read in chunks from the start."""
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while chunk := file.read(_HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return digest.hexdigest(), size


@dataclass
class _Prepared:
    kind: str
    content: Any
    content_type: str
    status: str
    metadata: dict


def _prepare(file: Any) -> _Prepared:
    """Decide the kind from the content and validate it. Nothing is written here."""
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
        file.seek(0)
    if not size:
        raise UploadRejected("The file is empty.", code="empty_file")
    sniffed = sniff(read_head(file))
    ensure_size_allowed(sniffed.kind, size)
    if sniffed.kind == AssetKind.IMAGE:
        image = process_image(file, sniffed)
        return _Prepared(
            kind=AssetKind.IMAGE,
            content=io.BytesIO(image.data),
            content_type=WEBP_CONTENT_TYPE,
            status=AssetStatus.READY,
            metadata={
                "width": image.width,
                "height": image.height,
                "source_format": sniffed.format,
                "source_width": image.source_width,
                "source_height": image.source_height,
            },
        )
    if sniffed.kind == AssetKind.DOCUMENT:
        metadata = {"format": sniffed.format, **inspect_document(file, sniffed)}
        return _Prepared(
            kind=AssetKind.DOCUMENT,
            content=file,
            content_type=sniffed.content_type,
            status=AssetStatus.READY,
            metadata=metadata,
        )
    metadata = {"format": sniffed.format, **probe_video(file, sniffed)}
    return _Prepared(
        kind=AssetKind.VIDEO,
        content=file,
        content_type=sniffed.content_type,
        status=AssetStatus.UPLOADED,
        metadata=metadata,
    )


def _queue_on_commit(task: Any, *args: Any) -> None:
    """Queue `task` with these arguments once the current transaction commits."""
    transaction.on_commit(lambda: task.delay(*args))


def asset_create(*, actor: User, file: Any) -> MediaAsset:
    """Validate an uploaded file, store it and record the asset (see the module docstring).

    `file` is a Django `UploadedFile` (or any seekable file object with a `name`); it is read
    in chunks, never whole. A refused file leaves nothing behind.
    """
    if not can_author(actor):
        raise Forbidden("Only instructors and administrators can upload media.")
    prepared = _prepare(file)
    sha256, size = _digest(prepared.content)
    asset_id = uuid.uuid4()
    key = storage.put(
        storage.original_key(asset_id), prepared.content, content_type=prepared.content_type
    )
    try:
        with transaction.atomic():
            asset = MediaAsset.objects.create(
                id=asset_id,
                owner=actor,
                kind=prepared.kind,
                original=key,
                original_filename=clean_filename(getattr(file, "name", "")),
                content_type=prepared.content_type,
                size=size,
                sha256=sha256,
                status=prepared.status,
                provider=Provider.LOCAL,
                metadata=prepared.metadata,
            )
            if prepared.kind == AssetKind.VIDEO:
                _queue_on_commit(tasks.transcode_asset, str(asset_id))
    except BaseException:
        storage.delete_prefix(storage.asset_prefix(asset_id))
        raise
    return asset


def _describe_users(protected: Collection[Any]) -> str:
    counts = Counter(str(obj._meta.verbose_name) for obj in protected)
    parts = [f"{count} {name}{'s' if count > 1 else ''}" for name, count in sorted(counts.items())]
    return ", ".join(parts)


@transaction.atomic
def asset_delete(*, actor: User, asset: MediaAsset) -> None:
    """Delete an asset's row now and its files (original, renditions, thumbnail) after commit.

    Refused with 409 `asset_in_use` while a course or a lesson uses it. Deleting an asset that
    is already gone does nothing.
    """
    locked = selectors.asset_get_for_update(pk=asset.pk)
    if locked is None:
        return
    if not (is_admin(actor) or locked.owner_id == actor.pk):
        raise Forbidden("Only the asset's owner or an administrator can delete it.")
    keys = [name for name in (locked.original.name, locked.thumbnail.name) if name]
    try:
        with transaction.atomic():
            locked.delete()
    except (ProtectedError, RestrictedError) as exc:
        users = _describe_users(getattr(exc, "protected_objects", None) or exc.restricted_objects)
        raise Conflict(
            f"This asset is in use ({users}); detach it before deleting it.",
            code="asset_in_use",
        ) from exc
    _queue_on_commit(tasks.delete_asset_files, str(asset.pk), keys)


# --- attaching assets (called by the courses and lessons services) -----------------------------


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def asset_lock_for_attachment(
    *,
    actor: User,
    owner_id: Any,
    asset: MediaAsset,
    kinds: Collection[str],
    field: str,
    require_ready: bool,
) -> MediaAsset:
    """Lock an asset that is being attached to content owned by user `owner_id`, and check it.

    The asset must still exist, be of one of `kinds`, belong to that user (administrators may
    attach any asset), not have failed processing, and be ready when `require_ready`. Problems
    are a Django `ValidationError` on `field` (a 400 naming that field).
    """
    locked = selectors.asset_get_for_update(pk=asset.pk)
    if locked is None:
        raise ValidationError({field: ["This asset no longer exists."]})
    if locked.kind not in kinds:
        wanted = " or ".join(sorted(kinds))
        raise ValidationError(
            {field: [f"This needs {_a(wanted)} asset; the asset given is {_a(locked.kind)}."]}
        )
    if not (is_admin(actor) or locked.owner_id == owner_id):
        raise ValidationError({field: ["The asset must belong to the course's instructor."]})
    if locked.status == AssetStatus.FAILED:
        raise ValidationError(
            {field: [f"This asset failed processing: {locked.error or 'error'}."]}
        )
    if require_ready and locked.status != AssetStatus.READY:
        raise ValidationError({field: [f"This asset is not ready yet (status: {locked.status})."]})
    return locked
