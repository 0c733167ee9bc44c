"""Certificate PDF rendering (fpdf2 + segno), read back with pypdf and Pillow. No mocks.

The text is extracted back out of the PDF; the embedded QR image is decoded module by module
and compared with the QR code segno makes from the verification URL.
"""

# ruff: noqa: RUF001  (names in many scripts are the point of these tests)

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image
from pypdf import PdfReader

from enrollments.certificates import (
    QR_SCALE,
    CertificateContent,
    needs_fallback,
    qr_code,
    render_certificate,
)

VERIFY_URL = "https://lms.example.org/api/v1/certificates/verify/Qx3_-abcDEF0123456789z/"


def content(**overrides) -> CertificateContent:
    values = {
        "learner_name": "Zoë Łukasiewicz – 李雷",
        "course_title": "Ωmega: Курс по алгебре",
        "instructor_name": "Ana Pérez",
        "completed_on": dt.date(2025, 3, 4),
        "issued_at": dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC),
        "code": "Qx3_-abcDEF0123456789z",
        "verify_url": VERIFY_URL,
    }
    values.update(overrides)
    return CertificateContent(**values)


def page_of(data: bytes):
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    return reader.pages[0]


def font_names(page) -> set[str]:
    fonts = page["/Resources"]["/Font"]
    return {str(fonts[key].get_object()["/BaseFont"]) for key in fonts}


def test_names_in_any_script_come_back_out_of_the_pdf():
    data = render_certificate(content())
    text = page_of(data).extract_text()

    name = "Zoë Łukasiewicz – 李雷"
    assert name in text
    for char in name:
        assert char in text, f"{char!r} missing from the PDF text"
    assert "Ωmega: Курс по алгебре" in text
    assert "Instructor: Ana Pérez" in text
    assert "Completed on 4 March 2025" in text
    assert "Verification code: Qx3_-abcDEF0123456789z" in text
    assert VERIFY_URL in text


def test_page_is_a4_landscape():
    box = page_of(render_certificate(content())).mediabox
    # 297 x 210 mm in points.
    assert round(float(box.width)) == 842
    assert round(float(box.height)) == 595


def test_cjk_fallback_font_is_embedded_only_when_a_character_needs_it():
    with_cjk = font_names(page_of(render_certificate(content())))
    latin_only = font_names(page_of(render_certificate(content(learner_name="Zoë Łukasiewicz"))))

    assert any("DroidSansFallback" in name for name in with_cjk)
    assert not any("DroidSansFallback" in name for name in latin_only)
    assert any("DejaVuSans" in name for name in latin_only)
    assert needs_fallback("李雷") and not needs_fallback("Zoë Łukasiewicz – Ωμέγα Юрий")


def qr_modules_from_image(image: Image.Image, size: int) -> list[list[bool]]:
    """Dark (True) / light modules, sampled at the centre of each QR_SCALE x QR_SCALE cell."""
    gray = image.convert("L")
    assert gray.size == (size * QR_SCALE, size * QR_SCALE)
    half = QR_SCALE // 2
    return [
        [gray.getpixel((col * QR_SCALE + half, row * QR_SCALE + half)) < 128 for col in range(size)]
        for row in range(size)
    ]


def test_qr_code_in_the_pdf_is_the_one_segno_makes_from_the_verify_url():
    page = page_of(render_certificate(content()))
    images = page.images
    assert len(images) == 1

    expected = qr_code(VERIFY_URL)
    size = len(expected.matrix)
    modules = qr_modules_from_image(images[0].image, size)
    assert modules == [[bool(cell) for cell in row] for row in expected.matrix]

    # And a different URL would have given a different code.
    other = qr_code(VERIFY_URL.replace("Qx3", "Zz9"))
    assert [[bool(c) for c in row] for row in other.matrix] != modules


def test_qr_and_link_point_at_the_verify_url():
    page = page_of(render_certificate(content()))
    uris = {
        annot.get_object()["/A"]["/URI"]
        for annot in page.get("/Annots", [])
        if "/A" in annot.get_object()
    }
    assert uris == {VERIFY_URL}


def test_rendering_the_same_data_twice_gives_the_same_bytes():
    assert render_certificate(content()) == render_certificate(content())
    assert render_certificate(content()) != render_certificate(content(learner_name="Someone"))


@pytest.mark.parametrize(
    "name",
    ["", "A" * 200, "Ш" * 120 + " 李" * 40, 'O\'Brien & <Sons> "quoted"', "عائشة المصري"],
)
def test_unusual_names_render_without_error(name):
    data = render_certificate(content(learner_name=name))
    assert data.startswith(b"%PDF-")
    assert page_of(data).extract_text()
