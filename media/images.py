"""Image uploads: decode with Pillow, re-encode to a clean WebP of at most 1280x720.

Re-encoding is what makes an uploaded image safe to serve: only decoded pixels reach the new
file, so EXIF (GPS position, camera serial), XMP, ICC profiles, comments and anything appended
after the image data (a zip or HTML payload in a polyglot) are left behind. The EXIF orientation
is applied to the pixels first, so photos keep the way they were meant to be seen.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from .validation import CorruptFile, ImageDimensionsTooLarge, Sniffed, UploadRejected

logger = logging.getLogger(__name__)

MAX_WIDTH = 1280
MAX_HEIGHT = 720
WEBP_QUALITY = 85
WEBP_CONTENT_TYPE = "image/webp"
# Pillow plugin names of the accepted formats; no other decoder is ever tried.
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    width: int
    height: int
    source_width: int
    source_height: int


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def process_image(file, sniffed: Sniffed) -> ProcessedImage:
    """Decode an uploaded image and return it re-encoded (see the module docstring).

    Raises `ImageDimensionsTooLarge` past MEDIA_MAX_IMAGE_PIXELS (checked from the header,
    before any pixel is decoded) and `CorruptFile` when it does not decode completely.
    """
    max_pixels = settings.MEDIA_MAX_IMAGE_PIXELS
    file.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning is superseded by the configured limit below; its hard
            # error (twice its limit) still applies and is reported the same way.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # damaged metadata, skipped by Pillow
            image = Image.open(file, formats=[PILLOW_FORMATS[sniffed.format]])
    except Image.DecompressionBombError as exc:
        raise ImageDimensionsTooLarge(
            f"The image is too large to decode; the limit is {max_pixels:,} pixels."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"The file does not decode as a {sniffed.format.upper()} image.") from exc

    with image:
        source_width, source_height = image.size
        if source_width < 1 or source_height < 1:
            raise CorruptFile("The image has no pixels.")
        if source_width * source_height > max_pixels:
            raise ImageDimensionsTooLarge(
                f"The image is {source_width}x{source_height} pixels; the limit is "
                f"{max_pixels:,} pixels."
            )
        try:
            with warnings.catch_warnings():
                # Damaged metadata (EXIF tags pointing past the end ...) is reported by Pillow
                # as warnings while it is skipped; the pixels are what matters here.
                warnings.simplefilter("ignore", UserWarning)
                clean = _reencode_source(image)
        except UploadRejected:
            raise
        except Exception as exc:
            # Decoders of untrusted input fail in many ways (OSError for truncated data,
            # SyntaxError, struct.error, EOFError, ValueError ...): every one means the upload
            # is not a usable image, never a server error.
            logger.info("image decode failed: %s: %s", type(exc).__name__, exc)
            raise CorruptFile(
                f"The {sniffed.format.upper()} image is damaged or truncated."
            ) from exc

    buffer = io.BytesIO()
    clean.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    return ProcessedImage(
        data=buffer.getvalue(),
        width=clean.width,
        height=clean.height,
        source_width=source_width,
        source_height=source_height,
    )


def _reencode_source(image: Image.Image) -> Image.Image:
    """Decode fully (first frame), orient, fit within MAX_WIDTH x MAX_HEIGHT, copy the pixels
    into a new image that carries no metadata at all."""
    if image.format == "JPEG":
        # Let the JPEG decoder scale down by a power of two while decoding: large photos are
        # never held in memory at full size.
        image.draft(None, (MAX_WIDTH, MAX_HEIGHT))
    image.load()
    oriented = ImageOps.exif_transpose(image) or image
    mode = "RGBA" if _has_alpha(oriented) else "RGB"
    converted = oriented.convert(mode)
    converted.thumbnail((MAX_WIDTH, MAX_HEIGHT), Image.Resampling.LANCZOS)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean
