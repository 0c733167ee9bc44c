"""Sample files generated in tests: valid images, documents and videos, and hostile look-alikes.

Everything is built here from scratch (Pillow, pypdf, zipfile, ffmpeg's `testsrc2` + `sine`
sources), so no binary fixtures live in the repository.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

# ---- images -----------------------------------------------------------------------------------

EXIF_ARTIST = "Secret Photographer"
EXIF_GPS_LATITUDE = (48.0, 51.0, 29.56)
EXIF_TAG_ARTIST = 0x013B
EXIF_TAG_MAKE = 0x010F
EXIF_IFD_GPS = 0x8825


def _picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A non-uniform picture (gradient + shapes), so encoders cannot collapse it to nothing."""
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    if mode in ("RGB", "RGBA"):
        r = Image.linear_gradient("L").resize((width, height))
        g = r.rotate(90, expand=False)
        b = Image.new("L", (width, height), 128)
        alpha = r.transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # really translucent
        bands = [r, g, b] + ([alpha] if mode == "RGBA" else [])
        image = Image.merge(mode, bands)
    return image


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[EXIF_TAG_ARTIST] = EXIF_ARTIST
    exif[EXIF_TAG_MAKE] = "EduFlowCam"
    gps = exif.get_ifd(EXIF_IFD_GPS)
    gps[1] = "N"
    gps[2] = EXIF_GPS_LATITUDE
    return exif


def jpeg_bytes(
    width: int = 640, height: int = 480, *, exif: bool = True, quality: int = 85
) -> bytes:
    """A baseline JPEG, with EXIF (artist, camera make, GPS) unless `exif=False`."""
    buffer = io.BytesIO()
    kwargs = {"exif": _exif().tobytes()} if exif else {}
    _picture(width, height).save(buffer, "JPEG", quality=quality, **kwargs)
    return buffer.getvalue()


def png_bytes(
    width: int = 320, height: int = 240, *, exif: bool = True, mode: str = "RGB"
) -> bytes:
    """A PNG, with an eXIf chunk and a text chunk unless `exif=False`."""
    from PIL import PngImagePlugin

    buffer = io.BytesIO()
    kwargs: dict = {}
    if exif:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "private note")
        kwargs = {"exif": _exif().tobytes(), "pnginfo": info}
    _picture(width, height, mode).save(buffer, "PNG", **kwargs)
    return buffer.getvalue()


def gif_bytes(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    _picture(width, height).convert("P").save(buffer, "GIF")
    return buffer.getvalue()


def webp_bytes(width: int = 200, height: int = 100) -> bytes:
    buffer = io.BytesIO()
    _picture(width, height).save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def noisy_png_bytes(width: int, height: int) -> bytes:
    """A PNG of random pixels: barely compressible, so its size grows with its area."""
    import os

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG that declares a huge canvas (a decompression bomb's header).

    The IDAT holds a few compressed bytes only; any decoder that trusts the header would
    allocate width x height pixels before noticing.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ---- documents --------------------------------------------------------------------------------


def pdf_bytes(pages: int = 3, *, password: str | None = None) -> bytes:
    """A PDF with `pages` blank A4 pages written by pypdf; encrypted when `password` is given."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


_OOXML = "http://schemas.openxmlformats.org"
_PRESENTATION_MAIN = (
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
)
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Types xmlns="{_OOXML}/package/2006/content-types">\n'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\n'
    '<Default Extension="xml" ContentType="application/xml"/>\n'
    f'<Override PartName="/ppt/presentation.xml" ContentType="{_PRESENTATION_MAIN}"/>\n'
    "{slides}\n"
    "</Types>"
)
_SLIDE_OVERRIDE = (
    '<Override PartName="/ppt/slides/slide{n}.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.presentationml.slide+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_OOXML}/package/2006/relationships">\n'
    '<Relationship Id="rId1" '
    f'Type="{_OOXML}/officeDocument/2006/relationships/officeDocument" '
    'Target="ppt/presentation.xml"/>\n'
    "</Relationships>"
)
_PRESENTATION = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<p:sldIdLst>{ids}</p:sldIdLst>
<p:sldSz cx="9144000" cy="6858000"/>
</p:presentation>"""
_SLIDE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cSld><p:spTree/></p:cSld></p:sld>"""


def pptx_bytes(slides: int = 2, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal Office Open XML presentation package (the parts PowerPoint requires)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        overrides = "\n".join(_SLIDE_OVERRIDE.format(n=n) for n in range(1, slides + 1))
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(slides=overrides))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        ids = "".join(f'<p:sldId id="{255 + n}" r:id="rId{n}"/>' for n in range(1, slides + 1))
        archive.writestr("ppt/presentation.xml", _PRESENTATION.format(ids=ids))
        for n in range(1, slides + 1):
            archive.writestr(f"ppt/slides/slide{n}.xml", _SLIDE)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_like_zip_bytes() -> bytes:
    """An Office package that is a Word document, not a presentation."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels", _ROOT_RELS.replace("ppt/presentation.xml", "word/document.xml")
        )
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def plain_zip_bytes() -> bytes:
    """An ordinary zip archive (no Office structure)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "hello")
        archive.writestr("data/values.csv", "a,b\n1,2\n")
    return buffer.getvalue()


def zip_bomb_pptx_bytes(uncompressed_mb: int = 300) -> bytes:
    """A valid-looking PPTX with a member that inflates to `uncompressed_mb` MB of zeros.

    The archive itself stays a few hundred KB (deflate of zeros is ~1000:1).
    """
    chunk = b"\x00" * (1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(slides=""))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("ppt/presentation.xml", _PRESENTATION.format(ids=""))
        with archive.open("ppt/media/padding.bin", "w", force_zip64=True) as member:
            for _ in range(uncompressed_mb):
                member.write(chunk)
    return buffer.getvalue()


def many_entries_pptx_bytes(entries: int = 12000) -> bytes:
    """A PPTX-shaped archive with a huge number of tiny members."""
    extra = {f"ppt/junk/{n}.xml": b"<a/>" for n in range(entries)}
    return pptx_bytes(1, extra=extra)


# ---- hostile look-alikes ------------------------------------------------------------------------

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0" standalone="no"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script type="text/javascript">alert(document.cookie)</script>'
    b'<rect width="100" height="100" fill="red"/></svg>'
)
SVG_PLAIN = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
HTML_WITH_BOM = b"\xef\xbb\xbf  <html><head></head><body onload='x()'></body></html>"
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 54 + b"PE\x00\x00" + b"\x00" * 200
ELF_BINARY = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
MACHO_BINARY = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 200
SHELL_SCRIPT = b"#!/bin/sh\nrm -rf / --no-preserve-root\n"
PLAIN_TEXT = b"just some words, not a media file\n"
PDF_GARBAGE = b"%PDF-1.7\n" + b"this is not really a pdf at all\n" * 20


def png_with_zip_appended() -> bytes:
    """A valid PNG followed by a zip archive (a PNG/ZIP polyglot)."""
    return png_bytes(64, 64, exif=False) + plain_zip_bytes()


def png_with_html_appended() -> bytes:
    """A valid PNG followed by an HTML payload after IEND."""
    return png_bytes(64, 64, exif=False) + HTML_PAGE


def jpeg_with_html_appended() -> bytes:
    return jpeg_bytes(64, 64, exif=False) + b"<script>alert(1)</script>"


def pdf_with_html_prefix() -> bytes:
    """An HTML document with a whole PDF embedded after it."""
    return HTML_PAGE + pdf_bytes(1)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


# ---- video ----------------------------------------------------------------------------------


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def require_ffmpeg() -> None:
    if not ffmpeg_available():
        pytest.skip("ffmpeg not installed: apt-get install ffmpeg")


def video_file(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    audio: bool = True,
    container: str = "mp4",
    faststart: bool = True,
) -> Path:
    """Write a short clip (testsrc2 picture + sine tone) with ffmpeg and return its path."""
    require_ffmpeg()
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
    ]  # fmt: skip
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    codec = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if container == "webm":
        codec = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
    command += codec
    if audio:
        command += ["-c:a", "libopus" if container == "webm" else "aac", "-shortest"]
    if container == "mp4" and faststart:
        command += ["-movflags", "+faststart"]
    command += [str(path)]
    subprocess.run(command, check=True, timeout=120)  # noqa: S603
    return path


def video_bytes(tmp_path: Path, **kwargs) -> bytes:
    """Bytes of a short generated clip (see `video_file`)."""
    container = kwargs.get("container", "mp4")
    return video_file(tmp_path / f"sample.{container}", **kwargs).read_bytes()


def fake_mp4_bytes() -> bytes:
    """An ISO-BMFF `ftyp` box followed by junk: container magic of a video, but undecodable."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    return ftyp + b"\x00\x00\x00\x08free" + b"garbage!" * 100


# ---- sending them ---------------------------------------------------------------------------

MEDIA_URL = "/api/v1/media/"


def upload(client, data: bytes, *, name: str = "upload.bin", content_type: str | None = None):
    """POST `data` as the multipart `file` part of the upload endpoint (name and type are what a
    client claims; the server must ignore both)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    part = SimpleUploadedFile(name, data, content_type=content_type or "application/octet-stream")
    return client.post(MEDIA_URL, {"file": part}, format="multipart")


def stored_files(root: Path) -> list[str]:
    """Every file under a local storage root, as sorted relative keys."""
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())
