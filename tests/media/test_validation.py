"""Refused uploads: a corpus of hostile and broken files, generated here, each answered with a
4xx problem+json and nothing stored; plus the limits (size, pixels, zip) and the sniffer.

Real parts: the API with real JWTs, Django's multipart parsing and upload handlers, Pillow,
pypdf, zipfile, ffprobe/ffmpeg (skipped with a message when missing), `FileSystemStorage`
under a per-test directory. No mocks.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from media.models import MediaAsset
from media.validation import sniff
from tests.core.assertions import assert_problem
from tests.media import samples
from tests.media.samples import stored_files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_client, instructor):
    return make_client(instructor)


def _video(tmp_path) -> bytes:
    return samples.video_bytes(tmp_path, seconds=1.0, width=160, height=120)


def _truncated_video(tmp_path) -> bytes:
    # Without faststart the index (moov box) is written last: cutting the file loses it.
    path = samples.video_file(
        tmp_path / "cut.mp4", seconds=1.0, width=160, height=120, faststart=False
    )
    return samples.truncated(path.read_bytes(), 0.6)


def _pdf_truncated_keeping_eof_marker() -> bytes:
    data = samples.pdf_bytes(3)
    return data[: len(data) // 3] + b"\n%%EOF\n"


def _pptx_missing_presentation_part() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(samples.pptx_bytes(1)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            if info.filename != "ppt/presentation.xml":
                target.writestr(info, source.read(info))
    return buffer.getvalue()


def _pptx_with_corrupt_member() -> bytes:
    data = bytearray(samples.pptx_bytes(1, extra={"ppt/media/blob.bin": b"A" * 5000}))
    # Flip bytes inside the stored member's compressed data: its CRC no longer matches.
    offset = data.find(b"ppt/media/blob.bin") + len("ppt/media/blob.bin") + 4
    data[offset : offset + 4] = b"\xff\xff\xff\xff"
    return bytes(data)


def _pptx_with_dtd() -> bytes:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;">]><p:presentation xmlns:p="x">&lol2;</p:presentation>'
    )
    source = zipfile.ZipFile(io.BytesIO(samples.pptx_bytes(1)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = bomb if info.filename == "ppt/presentation.xml" else source.read(info)
            target.writestr(info.filename, data)
    return buffer.getvalue()


def _pptm_macro() -> bytes:
    return samples.pptx_bytes(1, extra={"ppt/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"})


def _avif_like() -> bytes:
    return b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 64


# (label, make(tmp_path) -> bytes, claimed name, expected status, expected code)
CORPUS = [
    ("svg with script", lambda t: samples.SVG_WITH_SCRIPT, "cat.png", 400, "unsupported_file_type"),
    ("plain svg", lambda t: samples.SVG_PLAIN, "icon.svg", 400, "unsupported_file_type"),
    ("html as image", lambda t: samples.HTML_PAGE, "photo.jpg", 400, "unsupported_file_type"),
    ("html with bom", lambda t: samples.HTML_WITH_BOM, "a.png", 400, "unsupported_file_type"),
    ("windows exe", lambda t: samples.WINDOWS_EXE, "slides.pdf", 400, "unsupported_file_type"),
    ("elf binary", lambda t: samples.ELF_BINARY, "video.mp4", 400, "unsupported_file_type"),
    ("mach-o binary", lambda t: samples.MACHO_BINARY, "a.png", 400, "unsupported_file_type"),
    ("shell script", lambda t: samples.SHELL_SCRIPT, "notes.pdf", 400, "unsupported_file_type"),
    ("plain text", lambda t: samples.PLAIN_TEXT, "a.txt", 400, "unsupported_file_type"),
    ("plain zip as pptx", lambda t: samples.plain_zip_bytes(), "deck.pptx", 400,
     "unsupported_file_type"),
    ("docx as pptx", lambda t: samples.docx_like_zip_bytes(), "deck.pptx", 400,
     "unsupported_file_type"),
    ("macro pptm", lambda t: _pptm_macro(), "deck.pptx", 400, "unsupported_file_type"),
    ("pdf wrapped in html", lambda t: samples.pdf_with_html_prefix(), "doc.pdf", 400,
     "unsupported_file_type"),
    ("avif image", lambda t: _avif_like(), "a.avif", 400, "unsupported_file_type"),
    ("legacy ppt", lambda t: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "old.ppt", 400,
     "unsupported_file_type"),
    ("zip bomb as pptx", lambda t: samples.zip_bomb_pptx_bytes(300), "deck.pptx", 400,
     "unsafe_archive"),
    ("too many entries", lambda t: samples.many_entries_pptx_bytes(6000), "deck.pptx", 400,
     "unsafe_archive"),
    ("xml entity bomb in pptx", lambda t: _pptx_with_dtd(), "deck.pptx", 400,
     "unsupported_file_type"),
    ("pptx without presentation", lambda t: _pptx_missing_presentation_part(), "deck.pptx", 400,
     "corrupt_file"),
    ("pptx with corrupt member", lambda t: _pptx_with_corrupt_member(), "deck.pptx", 400,
     "corrupt_file"),
    ("truncated pptx", lambda t: samples.truncated(samples.pptx_bytes(3)), "deck.pptx", 400,
     "corrupt_file"),
    ("pdf garbage", lambda t: samples.PDF_GARBAGE, "doc.pdf", 400, "corrupt_file"),
    ("truncated pdf", lambda t: samples.truncated(samples.pdf_bytes(3)), "doc.pdf", 400,
     "corrupt_file"),
    ("truncated pdf with eof marker", lambda t: _pdf_truncated_keeping_eof_marker(), "doc.pdf",
     400, "corrupt_file"),
    ("encrypted pdf", lambda t: samples.pdf_bytes(2, password="s3cret"), "doc.pdf", 400,
     "encrypted_document"),
    ("truncated png", lambda t: samples.truncated(samples.png_bytes(200, 200)), "a.png", 400,
     "corrupt_file"),
    ("truncated jpeg", lambda t: samples.truncated(samples.jpeg_bytes(300, 300), 0.3), "a.jpg",
     400, "corrupt_file"),
    ("png header only", lambda t: samples.png_bytes(20, 20)[:40], "a.png", 400, "corrupt_file"),
    ("png bomb header", lambda t: samples.png_header_claiming(50_000, 50_000), "a.png", 400,
     "image_dimensions_too_large"),
    ("png bomb past pillow's limit", lambda t: samples.png_header_claiming(200_000, 200_000),
     "a.png", 400, "image_dimensions_too_large"),
    ("fake mp4", lambda t: samples.fake_mp4_bytes(), "clip.mp4", 400, "corrupt_file"),
    ("truncated video", _truncated_video, "clip.mp4", 400, "corrupt_file"),
    ("empty file", lambda t: b"", "a.png", 400, "validation_error"),
]  # fmt: skip

_NEEDS_FFMPEG = {"fake mp4", "truncated video"}


@pytest.mark.parametrize(
    ("label", "make", "name", "status", "code"), CORPUS, ids=[case[0] for case in CORPUS]
)
def test_malicious_and_broken_files_are_refused_and_nothing_is_stored(
    owner, local_storage, tmp_path, label, make, name, status, code
):
    if label in _NEEDS_FFMPEG:
        samples.require_ffmpeg()
    response = upload(owner, make(tmp_path), name=name, content_type="image/png")
    body = assert_problem(response, status, code)
    assert body["detail"]
    assert MediaAsset.objects.count() == 0
    assert stored_files(local_storage) == []


# --- polyglots: accepted as images, neutralised by re-encoding -----------------------------------


@pytest.mark.parametrize(
    ("make", "payload"),
    [
        (samples.png_with_zip_appended, b"PK\x03\x04"),
        (samples.png_with_html_appended, b"<script>"),
        (samples.jpeg_with_html_appended, b"<script>"),
    ],
)
def test_image_polyglots_are_neutralised_by_reencoding(owner, local_storage, make, payload):
    data = make()
    assert payload in data
    response = upload(owner, data, name="innocent.png")
    assert response.status_code == 201, response.content
    body = response.json()
    stored = (local_storage / f"assets/{body['id']}/original").read_bytes()
    assert payload not in stored
    assert stored[:4] == b"RIFF" and stored[8:12] == b"WEBP"
    assert not zipfile.is_zipfile(io.BytesIO(stored))
    Image.open(io.BytesIO(stored)).load()


# --- limits ------------------------------------------------------------------------------------


def test_image_past_its_pixel_limit_is_refused_before_decoding(owner, local_storage, settings):
    settings.MEDIA_MAX_IMAGE_PIXELS = 100 * 100
    assert upload(owner, samples.png_bytes(100, 100, exif=False)).status_code == 201
    body = assert_problem(
        upload(owner, samples.png_bytes(101, 100, exif=False)), 400, "image_dimensions_too_large"
    )
    assert "101x100" in body["detail"]
    assert MediaAsset.objects.count() == 1


@pytest.mark.parametrize(
    ("kind_setting", "data_for"),
    [
        ("MEDIA_MAX_IMAGE_BYTES", lambda t: samples.noisy_png_bytes(100, 100)),
        ("MEDIA_MAX_DOCUMENT_BYTES", lambda t: samples.pdf_bytes(20)),
        ("MEDIA_MAX_VIDEO_BYTES", _video),
    ],
)
def test_each_kind_has_its_own_size_limit(
    owner, local_storage, settings, tmp_path, kind_setting, data_for
):
    data = data_for(tmp_path)
    setattr(settings, kind_setting, len(data))
    assert upload(owner, data).status_code == 201
    setattr(settings, kind_setting, len(data) - 1)
    body = assert_problem(upload(owner, data), 413, "file_too_large")
    assert "limit" in body["detail"]
    assert MediaAsset.objects.count() == 1
    assert len(stored_files(local_storage)) == 1


def test_limit_follows_the_detected_kind_not_the_claimed_one(owner, local_storage, settings):
    data = samples.pdf_bytes(5)
    settings.MEDIA_MAX_IMAGE_BYTES = 100  # a PDF claiming to be an image is still a document
    assert upload(owner, data, name="x.png", content_type="image/png").status_code == 201
    settings.MEDIA_MAX_DOCUMENT_BYTES = 100
    assert_problem(
        upload(owner, data, name="x.png", content_type="image/png"), 413, "file_too_large"
    )


def test_oversized_request_is_refused_before_its_body_is_read(owner, local_storage, settings):
    settings.MEDIA_MAX_IMAGE_BYTES = settings.MEDIA_MAX_DOCUMENT_BYTES = 1000
    settings.MEDIA_MAX_VIDEO_BYTES = 2000
    # The announced length is far larger than the body: reading the body would fail the test
    # client ("Cannot read more than the available bytes").
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    payload = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("a.png", b"x" * 10)})
    response = owner.generic(
        "POST",
        samples.MEDIA_URL,
        payload,
        content_type=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    body = assert_problem(response, 413, "file_too_large")
    assert "no file may exceed" in body["detail"]
    assert stored_files(local_storage) == []


def test_streaming_stops_at_the_limit_of_the_kind_the_first_bytes_show(
    owner, local_storage, settings, monkeypatch
):
    """A PNG body is cut off at the image limit while it streams, even though the request as a
    whole is within the (larger) video limit."""
    from django.core.files import uploadhandler

    settings.MEDIA_MAX_IMAGE_BYTES = 100 * 1024
    spooled: list[int] = []
    original = uploadhandler.TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        spooled.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(uploadhandler.TemporaryFileUploadHandler, "receive_data_chunk", counting)
    monkeypatch.setattr(uploadhandler.MemoryFileUploadHandler, "receive_data_chunk", counting)
    data = samples.noisy_png_bytes(600, 600)  # ~1 MB
    assert len(data) > 5 * settings.MEDIA_MAX_IMAGE_BYTES
    assert_problem(upload(owner, data), 413, "file_too_large")
    assert sum(spooled) <= settings.MEDIA_MAX_IMAGE_BYTES
    assert stored_files(local_storage) == []


def test_zip_limits_apply_to_pptx(owner, local_storage, settings):
    deck = samples.pptx_bytes(2, extra={"ppt/media/a.bin": b"\x00" * 10_000})
    settings.MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES = 5000
    body = assert_problem(upload(owner, deck), 400, "unsafe_archive")
    assert "expand" in body["detail"]
    settings.MEDIA_ZIP_MAX_UNCOMPRESSED_BYTES = 10**9
    settings.MEDIA_ZIP_MAX_ENTRIES = 3
    assert_problem(upload(owner, deck), 400, "unsafe_archive")
    settings.MEDIA_ZIP_MAX_ENTRIES = 100
    assert upload(owner, deck).status_code == 201


def test_missing_file_part_is_a_validation_error(owner, local_storage):
    response = owner.post(samples.MEDIA_URL, {"other": "x"}, format="multipart")
    body = assert_problem(response, 400, "validation_error")
    assert "file" in body["errors"]


def test_json_body_is_refused_with_415(owner):
    response = owner.post(samples.MEDIA_URL, {"file": "aGVsbG8="}, format="json")
    assert_problem(response, 415, "unsupported_media_type")


# --- the sniffer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind", "fmt"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image", "png"),
        (b"\xff\xd8\xff\xe0....", "image", "jpeg"),
        (b"GIF89a....", "image", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image", "webp"),
        (b"%PDF-1.7\n", "document", "pdf"),
        (b"PK\x03\x04\x14\x00", "document", "pptx"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video", "webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska", "video", "mkv"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video", "avi"),
    ],
)
def test_sniffer_names_accepted_formats(head, kind, fmt):
    sniffed = sniff(head)
    assert (sniffed.kind, sniffed.format) == (kind, fmt)


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (samples.SVG_WITH_SCRIPT, "SVG"),
        (b"  <?xml version='1.0'?>\n<svg>", "SVG"),
        (samples.HTML_PAGE, "HTML"),
        (b"<SCRIPT>alert(1)</SCRIPT>", "HTML"),
        (samples.WINDOWS_EXE, "Windows executable"),
        (samples.ELF_BINARY, "ELF"),
        (samples.SHELL_SCRIPT, "script"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio"),
        (b"ID3\x04\x00", "audio"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"BM\x00\x00", "BMP"),
    ],
)
def test_sniffer_names_what_it_refuses(head, words):
    from media.validation import UnsupportedFileType

    with pytest.raises(UnsupportedFileType) as excinfo:
        sniff(head)
    assert words in str(excinfo.value.detail)
