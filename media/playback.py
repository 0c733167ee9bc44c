"""Secure playback: grants, signed tokens, playlist rewriting, file serving and the access hook.

A grant (`grant_playback`) is what a player needs to start: the master playlist URL, when it
stops working, and a thumbnail URL. For local assets the URL carries a token signed with the
project's secret key (dedicated salt) binding the asset, the user (or nobody, for previews of a
published course) and an expiry (PLAYBACK_TOKEN_TTL). Playlists are rewritten per request so
every variant, segment and key URI carries that token; on S3 storage the segment URIs are
short-lived presigned URLs instead (the key always comes from Django). Mux assets get Mux's
signed URLs (see `media.mux`).

Media does not know about lessons: who may read a document is decided by access checks other
apps register with `register_asset_access` (lessons does, in its AppConfig.ready()).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, Storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header

from eduflow.core.exceptions import Conflict, Forbidden, problem_response
from eduflow.core.permissions import is_admin

from . import mux
from .models import AssetKind, AssetStatus, MediaAsset, Provider
from .storage import get_storage, hls_prefix, is_s3
from .transcoding import MASTER_PLAYLIST

TOKEN_SALT = "media.playback.token.v1"  # noqa: S105 (a signing salt, not a secret)
CHUNK_SIZE = 64 * 1024
HLS_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
}
_PATH_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


# --- tokens -------------------------------------------------------------------------------


class PlaybackTokenError(Forbidden):
    default_code = "playback_token_invalid"
    default_detail = "The playback token is invalid."


@dataclass(frozen=True)
class PlaybackToken:
    value: str
    asset_id: str
    user_id: str | None
    expires: int  # unix time

    @property
    def seconds_left(self) -> int:
        return max(0, self.expires - int(time.time()))


def _user_id(user) -> str | None:
    return str(user.pk) if getattr(user, "is_authenticated", False) else None


def issue_token(*, asset_id, user, now: float | None = None) -> PlaybackToken:
    """A signed token for one asset, bound to `user` (None/anonymous: anyone may use it)."""
    expires = int(time.time() if now is None else now) + settings.PLAYBACK_TOKEN_TTL
    payload = {"a": str(asset_id), "u": _user_id(user), "e": expires}
    value = signing.Signer(salt=TOKEN_SALT).sign_object(payload)
    return PlaybackToken(value=value, asset_id=str(asset_id), user_id=payload["u"], expires=expires)


def verify_token(token: str | None, *, asset_id, user, now: float | None = None) -> PlaybackToken:
    """The token's content if it is genuine, unexpired, for this asset and usable by `user`.

    A token bound to a user works for requests without credentials (players do not send them)
    and for that same user; a request authenticated as somebody else is refused.
    """
    if not token:
        raise PlaybackTokenError(
            "A playback token (?token=) is required.", code="playback_token_missing"
        )
    try:
        payload = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise PlaybackTokenError() from exc
    if not isinstance(payload, dict) or not {"a", "u", "e"} <= payload.keys():
        raise PlaybackTokenError()
    if payload["a"] != str(asset_id):
        raise PlaybackTokenError("The playback token is for another file.")
    if not isinstance(payload["e"], int) or payload["e"] < (time.time() if now is None else now):
        raise PlaybackTokenError(
            "The playback token has expired; ask for a new grant.", code="playback_token_expired"
        )
    requester = _user_id(user)
    if payload["u"] is not None and requester is not None and payload["u"] != requester:
        raise PlaybackTokenError(
            "The playback token belongs to another user.", code="playback_token_wrong_user"
        )
    return PlaybackToken(
        value=token, asset_id=payload["a"], user_id=payload["u"], expires=payload["e"]
    )


# --- storage keys and URLs ----------------------------------------------------------------


def clean_hls_path(path: str) -> str | None:
    """`path` when it is a plain relative file path with a known extension, else None.

    Only names made of letters, digits, `_`, `-` and `.` (not starting with a dot), joined by
    single slashes, pass: no `..`, no absolute paths, no backslashes, no empty parts.
    """
    parts = path.split("/")
    if not parts or len(parts) > 3 or not all(_PATH_PART.match(part) for part in parts):
        return None
    if posixpath.splitext(parts[-1])[1].lower() not in HLS_CONTENT_TYPES:
        return None
    return path


def content_type_for(path: str) -> str:
    return HLS_CONTENT_TYPES[posixpath.splitext(path)[1].lower()]


def presigned_url(
    storage: Storage,
    key: str,
    *,
    expires_in: int,
    content_type: str | None = None,
    attachment_name: str | None = None,
) -> str | None:
    """A short-lived direct URL for `key` on S3-compatible storage; None on other storages."""
    if not is_s3(storage):
        return None
    parameters: dict[str, str] = {}
    if content_type:
        parameters["ResponseContentType"] = content_type
    if attachment_name:
        parameters["ResponseContentDisposition"] = content_disposition_header(True, attachment_name)
    return storage.url(key, parameters=parameters or None, expire=max(1, expires_in))


def _with_token(url: str, token: PlaybackToken) -> str:
    return f"{url}?token={quote(token.value, safe='')}"


def hls_url(asset_id, path: str, token: PlaybackToken) -> str:
    return _with_token(reverse("media-hls", kwargs={"asset_id": asset_id, "path": path}), token)


def key_url(asset_id, token: PlaybackToken) -> str:
    return _with_token(reverse("media-hls-key", kwargs={"asset_id": asset_id}), token)


def poster_url(asset_id, token: PlaybackToken) -> str:
    return _with_token(reverse("media-poster", kwargs={"asset_id": asset_id}), token)


# --- playlists ----------------------------------------------------------------------------


class PlaylistError(ValueError):
    """A stored playlist refers to something outside the asset's HLS folder."""


def _resolve(base: str, uri: str) -> str:
    if "://" in uri or uri.startswith("/") or "?" in uri or "#" in uri:
        raise PlaylistError(f"unexpected URI in playlist: {uri!r}")
    joined = posixpath.normpath(posixpath.join(base, uri))
    cleaned = clean_hls_path(joined)
    if cleaned is None:
        raise PlaylistError(f"URI outside the asset's files: {uri!r}")
    return cleaned


def rewrite_playlist(
    text: str,
    *,
    playlist_path: str,
    media_url: Callable[[str], str],
    key_uri: str,
) -> str:
    """Point every URI of an HLS playlist at a servable URL.

    `playlist_path` is the playlist's path below the asset's HLS folder (URIs in it are relative
    to its directory); `media_url(path)` turns a file path into a URL (with the token, or
    presigned); every `#EXT-X-KEY`/`#EXT-X-SESSION-KEY` URI becomes `key_uri`.
    """
    base = posixpath.dirname(playlist_path)
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            lines.append("")
        elif line.startswith(("#EXT-X-KEY:", "#EXT-X-SESSION-KEY:")):
            lines.append(_URI_ATTRIBUTE.sub(lambda _m: f'URI="{key_uri}"', line))
        elif line.startswith("#"):
            lines.append(
                _URI_ATTRIBUTE.sub(lambda m: f'URI="{media_url(_resolve(base, m.group(1)))}"', line)
            )
        else:
            lines.append(media_url(_resolve(base, line)))
    return "\n".join(lines) + "\n"


def render_playlist(*, asset_id, path: str, token: PlaybackToken, storage: Storage) -> str:
    """The stored playlist at `path`, rewritten for the holder of `token`."""
    with storage.open(hls_prefix(asset_id) + path, "rb") as handle:
        text = handle.read().decode("utf-8")
    s3 = is_s3(storage)
    hls_base = reverse("media-hls", kwargs={"asset_id": asset_id, "path": MASTER_PLAYLIST})
    hls_base = hls_base[: -len(MASTER_PLAYLIST)]
    expires_in = token.seconds_left

    def media_url(file_path: str) -> str:
        if s3 and not file_path.endswith(".m3u8"):
            url = presigned_url(
                storage,
                hls_prefix(asset_id) + file_path,
                expires_in=expires_in,
                content_type=content_type_for(file_path),
            )
            if url:
                return url
        return _with_token(hls_base + file_path, token)

    return rewrite_playlist(
        text, playlist_path=path, media_url=media_url, key_uri=key_url(asset_id, token)
    )


# --- grants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    provider: str
    hls_url: str
    expires_at: dt.datetime
    thumbnail_url: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "hls_url": self.hls_url,
            "expires_at": self.expires_at,
            "thumbnail_url": self.thumbnail_url,
        }


def _utc(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def _master_path(asset: MediaAsset) -> str:
    master = str((asset.renditions or {}).get("master") or "")
    prefix = hls_prefix(asset.pk)
    relative = master[len(prefix) :] if master.startswith(prefix) else MASTER_PLAYLIST
    return clean_hls_path(relative) or MASTER_PLAYLIST


def grant_playback(*, asset: MediaAsset, user) -> Grant:
    """A playback grant for `user` (anonymous allowed: the caller decided access).

    409 `media_not_playable` for assets that are not videos, 409 `media_not_ready` until the
    video is ready.
    """
    if asset.kind != AssetKind.VIDEO:
        raise Conflict("Only videos can be played.", code="media_not_playable")
    if asset.status != AssetStatus.READY:
        raise Conflict(
            f"The video is not ready yet (status: {asset.status}).", code="media_not_ready"
        )
    if asset.provider == Provider.MUX:
        mux.require_enabled()
        signed = mux.signed_playback(asset.mux_playback_id)
        return Grant(
            provider=Provider.MUX,
            hls_url=signed.hls_url,
            expires_at=_utc(signed.expires_at),
            thumbnail_url=signed.thumbnail_url,
        )
    token = issue_token(asset_id=asset.pk, user=user)
    thumbnail = None
    if asset.thumbnail:
        thumbnail = presigned_url(
            get_storage(),
            asset.thumbnail.name,
            expires_in=settings.PLAYBACK_TOKEN_TTL,
            content_type="image/jpeg",
        ) or poster_url(asset.pk, token)
    return Grant(
        provider=Provider.LOCAL,
        hls_url=hls_url(asset.pk, _master_path(asset), token),
        expires_at=_utc(token.expires),
        thumbnail_url=thumbnail,
    )


# --- who may read an asset ----------------------------------------------------------------

AccessCheck = Callable[..., bool | None]
_access_checks: list[AccessCheck] = []


def register_asset_access(check: AccessCheck) -> AccessCheck:
    """Add `check(*, user, asset) -> True | False | None` to the asset access policy.

    True: the user may read the asset. False: the user can see something that uses the asset
    but may not read it (403). None: nothing known (404 unless another check knows). Owners and
    admins may always read their assets. Registering the same function twice is harmless.
    """
    if check not in _access_checks:
        _access_checks.append(check)
    return check


def unregister_asset_access(check: AccessCheck) -> None:
    if check in _access_checks:
        _access_checks.remove(check)


def asset_access(*, user, asset: MediaAsset) -> Literal["allow", "forbidden", "hidden"]:
    if getattr(user, "is_authenticated", False) and (asset.owner_id == user.pk or is_admin(user)):
        return "allow"
    seen = False
    for check in list(_access_checks):
        decision = check(user=user, asset=asset)
        if decision:
            return "allow"
        seen = seen or decision is False
    return "forbidden" if seen else "hidden"


# --- serving files ------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    pass


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None to send the whole file.

    Malformed headers and multi-range requests are ignored (whole file, as RFC 9110 allows);
    ranges starting past the end raise RangeNotSatisfiable.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


def _read_span(handle, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def serve_file(
    request,
    *,
    storage: Storage,
    key: str,
    content_type: str,
    cache_control: str,
    attachment_name: str | None = None,
) -> HttpResponse:
    """Answer a GET for a stored file: 200, 206 for a byte range, 416 for an impossible one.

    With MEDIA_X_ACCEL_REDIRECT set and local storage, nginx sends the file (and the ranges).
    Raises FileNotFoundError when the file does not exist.
    """
    accel = settings.MEDIA_X_ACCEL_REDIRECT
    if accel and isinstance(storage, FileSystemStorage):
        if not storage.exists(key):
            raise FileNotFoundError(key)
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(key)
    else:
        size = storage.size(key)
        try:
            span = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            response = problem_response(
                request,
                status_code=416,
                code="range_not_satisfiable",
                detail=f"The range asked for is outside the file ({size} bytes).",
            )
            response["Content-Range"] = f"bytes */{size}"
            response["Cache-Control"] = cache_control
            return response
        handle = storage.open(key, "rb")
        if span is None:
            response = FileResponse(handle, content_type=content_type)
            response.block_size = CHUNK_SIZE  # when no sendfile file_wrapper is available
            response["Content-Length"] = str(size)
        else:
            start, end = span
            response = StreamingHttpResponse(
                _read_span(handle, start, end - start + 1), status=206, content_type=content_type
            )
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
            response["Content-Length"] = str(end - start + 1)
        response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache_control
    if attachment_name:
        response["Content-Disposition"] = content_disposition_header(True, attachment_name)
    return response
