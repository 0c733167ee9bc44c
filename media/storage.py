"""Where asset files live, and the storage operations the media app needs.

Every file of an asset sits under one deterministic prefix, `assets/<id>/`:

- `assets/<id>/original`: the stored upload (for images: the re-encoded WebP, never the
  uploaded bytes, which may carry EXIF);
- `assets/<id>/thumbnail.jpg`: a video's poster frame;
- `assets/<id>/hls/...`: the HLS renditions of a video.

The backend is Django's default storage: `FileSystemStorage` under MEDIA_ROOT, or
django-storages' `S3Storage` when AWS_STORAGE_BUCKET_NAME is set. On top of the Storage API this
module adds what it lacks: writing at an exact key (overwrite, never a renamed copy), deleting
a whole prefix, and answering a request with a file (streamed locally, a presigned redirect on
S3).
"""

from __future__ import annotations

import shutil
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

ASSETS_PREFIX = "assets"


def asset_prefix(asset_id: UUID | str) -> str:
    return f"{ASSETS_PREFIX}/{UUID(str(asset_id))}/"


def original_key(asset_id: UUID | str) -> str:
    return f"{asset_prefix(asset_id)}original"


def thumbnail_key(asset_id: UUID | str) -> str:
    return f"{asset_prefix(asset_id)}thumbnail.jpg"


def hls_prefix(asset_id: UUID | str) -> str:
    return f"{asset_prefix(asset_id)}hls/"


def get_storage() -> Storage:
    """The storage asset files are written to (Django's default storage)."""
    return default_storage


def is_s3(storage: Storage | None = None) -> bool:
    """Whether the storage is an S3-compatible bucket (django-storages' S3Storage)."""
    return isinstance(storage or get_storage(), S3Storage)


def _is_local(storage: Storage) -> bool:
    return isinstance(storage, FileSystemStorage)


class _Named(File):
    """A file handed to a storage with the content type it must be stored under.

    django-storages takes the object's Content-Type from `content.content_type`; an upload's own
    attribute holds what the client claimed, so it is never passed through as is.
    """

    def __init__(self, file: Any, *, name: str, content_type: str | None) -> None:
        super().__init__(file, name=name)
        self.content_type = content_type


def put(key: str, content: Any, *, content_type: str | None = None, storage=None) -> str:
    """Write `content` (a file object or File) at exactly `key`, replacing what is there.

    The content is read in chunks by the storage (S3: multipart upload); `key` is returned.
    """
    storage = storage or get_storage()
    file_obj = getattr(content, "file", content)
    if hasattr(file_obj, "seek"):
        file_obj.seek(0)
    wrapped = _Named(file_obj, name=key, content_type=content_type)
    if not getattr(storage, "file_overwrite", False) and storage.exists(key):
        storage.delete(key)
    saved = storage.save(key, wrapped)
    if saved != key:
        # Another writer created the key in between: never leave a renamed copy behind.
        storage.delete(saved)
        raise FileExistsError(f"Storage key {key!r} was taken while writing it.")
    return saved


def delete_key(key: str, *, storage=None) -> None:
    """Delete one object; a missing one is not an error."""
    (storage or get_storage()).delete(key)


def list_prefix(prefix: str, *, storage=None) -> list[str]:
    """Every key under `prefix` (recursive), sorted."""
    storage = storage or get_storage()
    if is_s3(storage):
        bucket_prefix = storage._normalize_name(clean_name(prefix))
        location = storage._normalize_name("")
        return sorted(
            obj.key[len(location) :].lstrip("/") if location else obj.key
            for obj in storage.bucket.objects.filter(Prefix=bucket_prefix)
        )
    keys: list[str] = []

    def walk(directory: str) -> None:
        try:
            dirs, files = storage.listdir(directory)
        except FileNotFoundError:
            return
        keys.extend(f"{directory}{name}" for name in files)
        for name in dirs:
            walk(f"{directory}{name}/")

    walk(prefix if prefix.endswith("/") else f"{prefix}/")
    return sorted(keys)


def delete_prefix(prefix: str, *, storage=None) -> int:
    """Delete everything under `prefix`; returns how many files were removed.

    Deleting what is already gone is not an error, so running it twice is harmless.
    """
    if not prefix.strip("/") or not prefix.endswith("/"):
        raise ValueError(f"Refusing to delete under {prefix!r}: give a directory-like prefix.")
    storage = storage or get_storage()
    if is_s3(storage):
        bucket_prefix = storage._normalize_name(clean_name(prefix))
        objects = storage.bucket.objects.filter(Prefix=bucket_prefix)
        removed = 0
        for response in objects.delete():
            removed += len(response.get("Deleted", []))
        return removed
    keys = list_prefix(prefix, storage=storage)
    for key in keys:
        storage.delete(key)
    if _is_local(storage):
        # Remove the emptied directories too (path() refuses to leave MEDIA_ROOT).
        shutil.rmtree(storage.path(prefix), ignore_errors=True)
    return len(keys)


def file_response(
    key: str,
    *,
    content_type: str,
    filename: str | None = None,
    attachment: bool = False,
    cache_control: str = "private, max-age=300",
    storage=None,
) -> HttpResponse:
    """Answer with the file at `key`.

    S3: a 302 to a presigned URL (valid AWS_QUERYSTRING_EXPIRE seconds) that makes the bucket
    answer with `content_type`. Local files: streamed in chunks by Django, or handed to nginx
    with `X-Accel-Redirect` when MEDIA_X_ACCEL_REDIRECT is set. A missing file is a 404.
    """
    storage = storage or get_storage()
    disposition = "attachment" if attachment else "inline"
    if filename:
        disposition += f"; filename*=UTF-8''{_quote(filename)}"
    if is_s3(storage):
        expire = int(getattr(settings, "AWS_QUERYSTRING_EXPIRE", 600))
        url = storage.url(
            key,
            parameters={
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
            },
            expire=expire,
        )
        response: HttpResponse = HttpResponseRedirect(url)
        # The presigned URL expires: a cached redirect must not outlive it.
        response["Cache-Control"] = f"private, max-age={max(0, min(300, expire // 2))}"
        return response
    accel_prefix = getattr(settings, "MEDIA_X_ACCEL_REDIRECT", "")
    if accel_prefix and _is_local(storage):
        if not storage.exists(key):
            raise Http404("No such file.")
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = f"{accel_prefix.rstrip('/')}/{key}"
    else:
        try:
            handle = storage.open(key, "rb")
        except FileNotFoundError as exc:
            raise Http404("No such file.") from exc
        response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _quote(filename: str) -> str:
    from urllib.parse import quote

    return quote(filename, safe="")
