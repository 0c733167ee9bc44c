"""Certificate PDFs: A4 landscape, fpdf2, fonts shipped in `enrollments/fonts/`.

DejaVu Sans is the main font (Latin, Greek, Cyrillic and more); Droid Sans Fallback is registered
as fpdf2's fallback font, so characters DejaVu lacks (CJK) are drawn from it and a name such as
"Zoë Łukasiewicz \N{EN DASH} 李雷" prints in full. The QR code (segno) encodes the public
verification URL.

Rendering depends only on its inputs: the creation date is the issue time and the document id is
derived from the content, so rendering the same frozen data again gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import segno
from fontTools.ttLib import TTFont
from fpdf import FPDF

# fontTools logs every subsetting step at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
MAIN_FONT = "DejaVuSans"
FALLBACK_FONT = "DroidSansFallback"
PRODUCER = "EduFlow certificates"

# A4 landscape, millimetres.
PAGE_WIDTH = 297.0
PAGE_HEIGHT = 210.0
MARGIN = 15.0
QR_SIZE = 38.0
QR_SCALE = 8  # pixels per QR module in the embedded image
QR_ERROR = "m"


@dataclass(frozen=True)
class CertificateContent:
    """Everything printed on a certificate (the frozen data plus code and link)."""

    learner_name: str
    course_title: str
    instructor_name: str
    completed_on: dt.date
    issued_at: dt.datetime
    code: str
    verify_url: str


def qr_code(verify_url: str) -> segno.QRCode:
    """The QR code printed on the certificate (also used by tests to compare the image)."""
    return segno.make(verify_url, error=QR_ERROR, micro=False)


def qr_png(verify_url: str) -> bytes:
    buffer = io.BytesIO()
    qr_code(verify_url).save(buffer, kind="png", scale=QR_SCALE, border=0)
    return buffer.getvalue()


def _format_date(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


@functools.lru_cache(maxsize=1)
def _main_font_codepoints() -> frozenset[int]:
    """Code points both DejaVu faces (regular and bold) can draw."""
    covered = None
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        font = TTFont(str(FONTS_DIR / name), lazy=True)
        try:
            points = set(font.getBestCmap())
        finally:
            font.close()
        covered = points if covered is None else covered & points
    return frozenset(covered or ())


def needs_fallback(*texts: str) -> bool:
    """Whether any character of `texts` is missing from DejaVu (so the fallback font is needed).

    Loading the 4 MB CJK font is most of a render's cost, so it is registered only when used.
    """
    covered = _main_font_codepoints()
    return any(ord(char) not in covered for text in texts for char in text if char.isprintable())


class _CertificatePDF(FPDF):
    def __init__(self, *, with_fallback: bool) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.add_font(MAIN_FONT, "", str(FONTS_DIR / "DejaVuSans.ttf"))
        self.add_font(MAIN_FONT, "B", str(FONTS_DIR / "DejaVuSans-Bold.ttf"))
        if with_fallback:
            self.add_font(FALLBACK_FONT, "", str(FONTS_DIR / "DroidSansFallbackFull.ttf"))
            # exact_match=False: bold text falls back to the regular CJK face (it has no bold).
            self.set_fallback_fonts([FALLBACK_FONT], exact_match=False)


def _centered(pdf: FPDF, text: str, *, size: float, style: str = "", height: float) -> None:
    pdf.set_font(MAIN_FONT, style, size)
    pdf.set_x(MARGIN)
    pdf.multi_cell(PAGE_WIDTH - 2 * MARGIN, height, text, align="C", new_x="LMARGIN", new_y="NEXT")


def _fitted_size(text: str, *, largest: float, smallest: float, fits: int) -> float:
    """Font size: `largest` up to `fits` characters, then shrinking towards `smallest`."""
    if len(text) <= fits:
        return largest
    return max(smallest, round(largest * fits / len(text), 1))


def render_certificate(content: CertificateContent) -> bytes:
    """The certificate as PDF bytes."""
    pdf = _CertificatePDF(
        with_fallback=needs_fallback(
            content.learner_name, content.course_title, content.instructor_name, content.code
        )
    )
    pdf.set_title(f"Certificate of completion: {content.course_title}")
    pdf.set_author("EduFlow")
    pdf.set_subject(f"Verification code {content.code}")
    pdf.set_producer(PRODUCER)
    pdf.set_creator(PRODUCER)
    issued = content.issued_at
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=dt.UTC)
    pdf.set_creation_date(issued.astimezone(dt.UTC).replace(microsecond=0))
    pdf.add_page()

    # Frame.
    pdf.set_draw_color(40, 70, 120)
    pdf.set_line_width(1.2)
    pdf.rect(8, 8, PAGE_WIDTH - 16, PAGE_HEIGHT - 16)
    pdf.set_line_width(0.3)
    pdf.rect(11, 11, PAGE_WIDTH - 22, PAGE_HEIGHT - 22)

    pdf.set_text_color(40, 70, 120)
    pdf.set_y(30)
    _centered(pdf, "Certificate of Completion", size=30, style="B", height=14)
    pdf.set_text_color(60, 60, 60)
    pdf.ln(6)
    _centered(pdf, "This certifies that", size=14, height=8)
    pdf.ln(2)
    pdf.set_text_color(0, 0, 0)
    # Long names get a smaller type so the page keeps its layout.
    name_size = _fitted_size(content.learner_name, largest=28, smallest=14, fits=40)
    _centered(pdf, content.learner_name, size=name_size, style="B", height=name_size * 0.46)
    pdf.ln(2)
    pdf.set_text_color(60, 60, 60)
    _centered(pdf, "has completed the course", size=14, height=8)
    pdf.ln(2)
    pdf.set_text_color(0, 0, 0)
    title_size = _fitted_size(content.course_title, largest=20, smallest=12, fits=60)
    _centered(pdf, content.course_title, size=title_size, style="B", height=title_size * 0.5)
    pdf.ln(4)
    pdf.set_text_color(60, 60, 60)
    _centered(pdf, f"Instructor: {content.instructor_name}", size=13, height=7)
    _centered(pdf, f"Completed on {_format_date(content.completed_on)}", size=13, height=7)

    # Verification block, bottom left: code and link; QR code bottom right.
    bottom = PAGE_HEIGHT - MARGIN - 5
    pdf.set_text_color(60, 60, 60)
    pdf.set_font(MAIN_FONT, "", 10)
    pdf.set_xy(MARGIN + 5, bottom - 16)
    pdf.cell(0, 6, f"Verification code: {content.code}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(MARGIN + 5)
    pdf.set_font(MAIN_FONT, "", 8)
    pdf.cell(0, 5, f"Verify at {content.verify_url}", link=content.verify_url)
    pdf.image(
        io.BytesIO(qr_png(content.verify_url)),
        x=PAGE_WIDTH - MARGIN - 5 - QR_SIZE,
        y=bottom - QR_SIZE,
        w=QR_SIZE,
        h=QR_SIZE,
        link=content.verify_url,
        title="Verification QR code",
        alt_text=content.verify_url,
    )

    # A document id from the content, not from the clock or randomness.
    digest = hashlib.md5(  # noqa: S324 - an identifier, not a security measure
        "\x1f".join(
            (
                content.code,
                content.learner_name,
                content.course_title,
                content.instructor_name,
                content.completed_on.isoformat(),
                content.verify_url,
            )
        ).encode()
    ).hexdigest()
    pdf.file_id = lambda: f"<{digest}><{digest}>"
    return bytes(pdf.output())
