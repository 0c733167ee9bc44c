"""What an uploaded file is, decided from its bytes only, and the errors for files we refuse.

`sniff()` looks at the first bytes (magic numbers) and names one accepted format or refuses
the file; the kind-specific validators then decode the content (`images`, `documents`,
`probe_video` here) before anything is stored. The client's file name and Content-Type are
never consulted.

Accepted formats:

- images: PNG, JPEG, GIF, WebP (re-encoded to WebP by `media.images`);
- documents: PDF, PowerPoint PPTX (Office Open XML package);
- videos: MP4 / QuickTime (ISO base media), Matroska / WebM, AVI.

Refused with 400 problem+json (`code`):

- `unsupported_file_type`: anything else, named when recognisable (SVG, HTML, executables and
  scripts, plain or other Office zip archives, legacy Office files, audio-only files ...);
- `corrupt_file`: an accepted format that does not decode (including truncated files);
- `encrypted_document`: a password-protected PDF;
- `image_dimensions_too_large`: more pixels than MEDIA_MAX_IMAGE_PIXELS (decompression bomb);
- `unsafe_archive`: a PPTX package past the zip limits (entries, uncompressed size, ratio).

And 413 `file_too_large` past the size limit of the detected kind (`MediaUploadLimitHandler`
also refuses before reading when the request announces more than the largest limit, and stops
reading as soon as a file passes the limit of the kind its first bytes show).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import status

from eduflow.core.exceptions import ProblemError

from .models import AssetKind

logger = logging.getLogger(__name__)

# How much of the head of a file `sniff` looks at.
SNIFF_BYTES = 4096
# Room for the multipart envelope (boundaries, part headers) around a file at the size limit.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
PROBE_TIMEOUT_SECONDS = 60


# --- errors ------------------------------------------------------------------------------------


class UploadRejected(ProblemError):
    """The uploaded file is refused; nothing was stored."""

    default_code = "invalid_file"
    default_detail = "The uploaded file was refused."


class UnsupportedFileType(UploadRejected):
    default_code = "unsupported_file_type"
    default_detail = (
        "Unsupported file type. Upload an image (PNG, JPEG, GIF, WebP), a document (PDF, PPTX) "
        "or a video (MP4, MOV, WebM, MKV, AVI)."
    )


class CorruptFile(UploadRejected):
    default_code = "corrupt_file"
    default_detail = "The file is damaged or truncated and cannot be read."


class EncryptedDocument(UploadRejected):
    default_code = "encrypted_document"
    default_detail = "The PDF is password-protected. Upload it without encryption."


class ImageDimensionsTooLarge(UploadRejected):
    default_code = "image_dimensions_too_large"


class UnsafeArchive(UploadRejected):
    default_code = "unsafe_archive"


class FileTooLarge(ProblemError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The file is larger than allowed."


# --- limits ------------------------------------------------------------------------------------


def max_bytes_for(kind: str) -> int:
    return {
        AssetKind.IMAGE: settings.MEDIA_MAX_IMAGE_BYTES,
        AssetKind.DOCUMENT: settings.MEDIA_MAX_DOCUMENT_BYTES,
        AssetKind.VIDEO: settings.MEDIA_MAX_VIDEO_BYTES,
    }[kind]


def largest_upload_bytes() -> int:
    return max(max_bytes_for(kind) for kind in AssetKind)


def _human(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"  # pragma: no cover


def ensure_size_allowed(kind: str, size: int) -> None:
    limit = max_bytes_for(kind)
    if size > limit:
        raise FileTooLarge(
            f"This {kind} is {_human(size)}; the limit for {kind}s is {_human(limit)}."
        )


# --- sniffing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    """The format the first bytes show: the asset kind, a format name and its MIME type."""

    kind: str
    format: str
    content_type: str


_EXECUTABLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or Java class file"),
    (b"\x00asm", "a WebAssembly module"),
    (b"#!", "a script"),
)
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (save it as PPTX or PDF)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"BM", "a BMP image (convert it to PNG or JPEG)"),
    (b"II*\x00", "a TIFF image (convert it to PNG or JPEG)"),
    (b"MM\x00*", "a TIFF image (convert it to PNG or JPEG)"),
    (b"ID3", "an audio file"),
    (b"fLaC", "an audio file"),
)
# ISO base media brands that are not videos.
_ISO_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1"}
_ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def _describe_text(head: bytes) -> str | None:
    """Name markup and text formats that must never pass for media (SVG, HTML, XML)."""
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").lower().replace(b"\x00", b"")
    if b"<svg" in text[:1024] or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG image (SVG can carry scripts; upload PNG, JPEG or WebP)"
    markers = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe")
    if any(text.startswith(marker) for marker in markers) or b"<script" in text[:1024]:
        return "an HTML document"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "an XML or markup document"
    if text.startswith(b"%!ps"):
        return "a PostScript document"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "a text file"


def sniff(head: bytes) -> Sniffed:
    """The accepted format the first bytes of a file show, or `UnsupportedFileType`."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(AssetKind.IMAGE, "png", "image/png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(AssetKind.IMAGE, "jpeg", "image/jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed(AssetKind.IMAGE, "gif", "image/gif")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Sniffed(AssetKind.IMAGE, "webp", "image/webp")
    if head.startswith(b"%PDF-"):
        return Sniffed(AssetKind.DOCUMENT, "pdf", "application/pdf")
    if head.startswith(b"PK\x03\x04"):
        return Sniffed(
            AssetKind.DOCUMENT,
            "pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        )
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_IMAGE_BRANDS:
            raise UnsupportedFileType(
                "This is an AVIF/HEIF image; upload PNG, JPEG, GIF or WebP instead."
            )
        if brand in _ISO_AUDIO_BRANDS:
            raise UnsupportedFileType("This is an audio file; upload a video or a document.")
        if brand == b"qt  ":
            return Sniffed(AssetKind.VIDEO, "mov", "video/quicktime")
        return Sniffed(AssetKind.VIDEO, "mp4", "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head[:64]:
            return Sniffed(AssetKind.VIDEO, "webm", "video/webm")
        return Sniffed(AssetKind.VIDEO, "mkv", "video/x-matroska")
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed(AssetKind.VIDEO, "avi", "video/x-msvideo")

    for magic, what in _EXECUTABLE_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFileType(f"This is {what}; executables and scripts are refused.")
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFileType(f"This is {what}, which is not accepted.")
    what = _describe_text(head)
    if what:
        raise UnsupportedFileType(f"This is {what}, which is not accepted.")
    raise UnsupportedFileType()


def read_head(file, size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of an uploaded file; the position is put back at the start."""
    file.seek(0)
    head = file.read(size)
    file.seek(0)
    return head


# --- video -------------------------------------------------------------------------------------

# ffmpeg demuxer for each accepted container: forcing it means ffprobe never guesses a format
# such as a playlist that would make it open other files or URLs.
_DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska", "avi": "avi"}


def _binary(name: str, default: str) -> str | None:
    configured = getattr(settings, name, default) or default
    return shutil.which(configured)


def ffprobe_binary() -> str | None:
    return _binary("FFPROBE_BINARY", "ffprobe")


def ffmpeg_binary() -> str | None:
    return _binary("FFMPEG_BINARY", "ffmpeg")


@contextmanager
def local_path(file) -> Iterator[str]:
    """A path on disk holding the upload: its temporary file, or a copy made chunk by chunk."""
    temporary_path = getattr(file, "temporary_file_path", None)
    if temporary_path is not None:
        yield temporary_path()
        return
    with tempfile.NamedTemporaryFile(prefix="eduflow-upload-", suffix=".bin") as copy:
        file.seek(0)
        while chunk := file.read(1 << 20):
            copy.write(chunk)
        copy.flush()
        file.seek(0)
        yield copy.name


def probe_video(file, sniffed: Sniffed) -> dict:
    """Check that a video decodes and measure it: `{"duration", "width", "height"}`.

    ffprobe reads the container with the demuxer of the sniffed format (`file` protocol only),
    then ffmpeg decodes the first video frame. Without ffmpeg on this machine the container
    magic is all that is checked and `{}` is returned (transcoding reports the missing binary).
    """
    ffprobe, ffmpeg = ffprobe_binary(), ffmpeg_binary()
    if ffprobe is None or ffmpeg is None:
        logger.warning("ffmpeg not installed: video accepted by its container magic only")
        return {}
    demuxer = _DEMUXERS[sniffed.format]
    with local_path(file) as path:
        source = f"file:{Path(path).resolve()}"
        common = ["-v", "error", "-protocol_whitelist", "file", "-f", demuxer]
        entries = "format=duration:stream=codec_type,width,height,duration"
        probe_command = [ffprobe, *common, "-show_entries", entries, "-of", "json", source]
        probe = _run(probe_command, "The video could not be read in time.")
        if probe.returncode != 0:
            raise CorruptFile(f"The video cannot be read: {_first_line(probe.stderr)}")
        try:
            info = json.loads(probe.stdout or b"{}")
        except ValueError as exc:
            raise CorruptFile("The video cannot be read.") from exc
        streams = info.get("streams") or []
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        if video is None:
            raise UnsupportedFileType("The file holds no video stream.")
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
        duration = _float(info.get("format", {}).get("duration")) or _float(video.get("duration"))
        if width <= 0 or height <= 0:
            raise CorruptFile("The video stream has no picture size.")
        first_frame = ["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]
        decode_command = [ffmpeg, "-nostdin", *common, "-i", source, *first_frame]
        decode = _run(decode_command, "The video could not be decoded in time.")
        if decode.returncode != 0:
            raise CorruptFile(f"The video does not decode: {_first_line(decode.stderr)}")
    metadata: dict = {"width": width, "height": height}
    if duration:
        metadata["duration"] = round(duration, 3)
    return metadata


def _run(command: list[str], timeout_message: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(  # noqa: S603 - fixed binary, arguments built here
            command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise CorruptFile(timeout_message) from exc


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    line = text.splitlines()[-1] if text else "unknown error"
    # ffmpeg prefixes messages with the input path; keep only the message.
    return line.split(": ", 1)[-1][:200]


# --- upload handler ------------------------------------------------------------------------------


class MediaUploadLimitHandler(FileUploadHandler):
    """First upload handler of the media upload endpoint: enforces the size limits while the
    request streams in, so an oversized upload is refused without being spooled to disk.

    - the announced Content-Length above the largest limit (plus the multipart envelope):
      413 before a byte of the body is read;
    - a file whose running size passes the limit of the kind its first bytes show (or the
      largest limit, for content not recognised yet): 413 as soon as it does.

    The chunks are passed on untouched to the next handler (memory or temporary file).
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self._received = 0
        self._head = b""
        self._limit = largest_upload_bytes()

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        largest = largest_upload_bytes()
        if content_length and content_length > largest + MULTIPART_OVERHEAD_BYTES:
            raise FileTooLarge(
                f"The upload is {_human(content_length)}; no file may exceed {_human(largest)}."
            )

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0
        self._head = b""
        self._limit = largest_upload_bytes()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if len(self._head) < 64:
            self._head += raw_data[: 64 - len(self._head)]
            if len(self._head) >= 64:
                # Content refused here gets its clear message once the upload is complete.
                with contextlib.suppress(UploadRejected):
                    self._limit = max_bytes_for(sniff(self._head).kind)
        self._received += len(raw_data)
        if self._received > self._limit:
            raise FileTooLarge(f"The file is larger than the limit of {_human(self._limit)}.")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
