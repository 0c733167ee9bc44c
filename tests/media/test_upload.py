"""`POST /api/v1/media/`: accepted uploads, decided from their content, stored at fixed keys.

Real parts: the API with real JWTs, Django's multipart parser and upload handlers, Pillow,
pypdf, zipfile, ffprobe/ffmpeg (tests needing them skip with a message when missing), and
`FileSystemStorage` under a per-test directory. No mocks (one test injects a database failure
to check the clean-up); the transcoding task is only
captured (on-commit callbacks not executed): its end-to-end tests live with the transcoder.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from PIL import Image

from media import tasks
from media.models import MediaAsset
from tests.media import samples
from tests.media.samples import stored_files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_client, instructor):
    return make_client(instructor)


def _stored(root, body) -> bytes:
    return (root / f"assets/{body['id']}/original").read_bytes()


# --- images ------------------------------------------------------------------------------------


def test_photo_is_reencoded_to_webp_within_1280x720_with_metadata_stripped(owner, local_storage):
    response = upload(owner, samples.jpeg_bytes(2000, 1500), name="holiday.jpg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["content_type"]) == ("image", "ready", "image/webp")
    assert body["metadata"] == {
        "width": 960,
        "height": 720,
        "source_format": "jpeg",
        "source_width": 2000,
        "source_height": 1500,
    }
    assert stored_files(local_storage) == [f"assets/{body['id']}/original"]
    stored = _stored(local_storage, body)
    image = Image.open(io.BytesIO(stored))
    assert (image.format, image.size) == ("WEBP", (960, 720))
    assert not image.getexif()
    assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    assert samples.EXIF_ARTIST.encode() not in stored
    assert b"EduFlowCam" not in stored
    assert body["size"] == len(stored)
    assert body["sha256"] == hashlib.sha256(stored).hexdigest()
    assert body["original_filename"] == "holiday.jpg"


def test_png_text_and_exif_chunks_are_dropped(owner, local_storage):
    body = upload(owner, samples.png_bytes(300, 200)).json()
    stored = _stored(local_storage, body)
    assert b"private note" not in stored
    assert samples.EXIF_ARTIST.encode() not in stored
    assert Image.open(io.BytesIO(stored)).size == (300, 200)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((3000, 500), (1280, 213)),  # wide: width bound
        ((500, 3000), (120, 720)),  # tall: height bound
        ((1280, 720), (1280, 720)),  # exactly the box
        ((320, 240), (320, 240)),  # small: never upscaled
    ],
)
def test_images_fit_the_box_keeping_aspect_and_never_upscale(owner, local_storage, size, expected):
    body = upload(owner, samples.png_bytes(*size, exif=False)).json()
    assert (body["metadata"]["width"], body["metadata"]["height"]) == expected
    assert Image.open(io.BytesIO(_stored(local_storage, body))).size == expected


def test_transparency_survives_reencoding(owner, local_storage):
    body = upload(owner, samples.png_bytes(64, 64, exif=False, mode="RGBA")).json()
    assert Image.open(io.BytesIO(_stored(local_storage, body))).mode == "RGBA"


def test_exif_orientation_is_applied_to_the_pixels_before_it_is_dropped(owner, local_storage):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), "red").save(buffer, "JPEG", exif=exif.tobytes())
    body = upload(owner, buffer.getvalue()).json()
    image = Image.open(io.BytesIO(_stored(local_storage, body)))
    assert image.size == (100, 200)
    assert not image.getexif()


@pytest.mark.parametrize("make", [samples.gif_bytes, samples.webp_bytes])
def test_gif_and_webp_are_accepted(owner, local_storage, make):
    body = upload(owner, make()).json()
    assert (body["kind"], body["content_type"]) == ("image", "image/webp")
    assert Image.open(io.BytesIO(_stored(local_storage, body))).format == "WEBP"


# --- content decides, not the name or the Content-Type ----------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "claimed", "kind", "content_type"),
    [
        (samples.pdf_bytes(1), "photo.png", "image/png", "document", "application/pdf"),
        (samples.png_bytes(10, 10), "setup.exe", "application/x-msdownload", "image", "image/webp"),
        (
            samples.pptx_bytes(1),
            "archive.zip",
            "application/zip",
            "document",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (samples.jpeg_bytes(40, 40), "noextension", "text/html", "image", "image/webp"),
    ],
)
def test_kind_comes_from_the_content_never_the_name_or_content_type(
    owner, local_storage, data, name, claimed, kind, content_type
):
    body = upload(owner, data, name=name, content_type=claimed).json()
    assert (body["kind"], body["content_type"]) == (kind, content_type)
    assert body["original_filename"] == name


def test_the_client_file_name_never_reaches_a_storage_key(owner, local_storage):
    response = upload(owner, samples.pdf_bytes(1), name="../../etc/\x07passwd.pdf")
    body = response.json()
    assert body["original_filename"] == "passwd.pdf"
    assert stored_files(local_storage) == [f"assets/{body['id']}/original"]


# --- documents -----------------------------------------------------------------------------------


def test_pdf_is_stored_as_uploaded_with_its_page_count(owner, local_storage):
    data = samples.pdf_bytes(4)
    body = upload(owner, data, name="notes.pdf").json()
    assert (body["kind"], body["status"], body["content_type"]) == (
        "document",
        "ready",
        "application/pdf",
    )
    assert body["metadata"] == {"format": "pdf", "page_count": 4}
    assert _stored(local_storage, body) == data
    assert (body["size"], body["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_pptx_is_stored_as_uploaded_with_its_slide_count(owner, local_storage):
    data = samples.pptx_bytes(5)
    body = upload(owner, data, name="deck.pptx").json()
    assert (body["kind"], body["status"]) == ("document", "ready")
    assert body["metadata"] == {"format": "pptx", "slide_count": 5}
    assert _stored(local_storage, body) == data


# --- videos --------------------------------------------------------------------------------------


def test_video_is_stored_uploaded_and_transcoding_is_queued_on_commit(
    owner, local_storage, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    data = samples.video_bytes(tmp_path, seconds=1.0, width=320, height=240)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(owner, data, name="intro.mp4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["provider"]) == ("video", "uploaded", "local")
    assert body["content_type"] == "video/mp4"
    assert body["metadata"]["format"] == "mp4"
    assert (body["metadata"]["width"], body["metadata"]["height"]) == (320, 240)
    assert body["metadata"]["duration"] == pytest.approx(1.0, abs=0.1)
    assert _stored(local_storage, body) == data
    assert len(callbacks) == 1

    queued: list[str] = []
    monkeypatch.setattr(tasks.transcode_asset, "delay", queued.append)
    callbacks[0]()
    assert queued == [body["id"]]


def test_nothing_is_queued_for_images_and_documents(
    owner, local_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert upload(owner, samples.png_bytes(8, 8)).status_code == 201
        assert upload(owner, samples.pdf_bytes(1)).status_code == 201
    assert callbacks == []


def test_transcode_task_is_registered_under_its_name():
    # The upload service looks the task up at run time; it must exist in the finished app.
    assert tasks.transcode_asset.name == "media.transcode_asset"


@pytest.mark.parametrize(
    ("make", "content_type"),
    [(samples.fake_mp4_bytes, "video/mp4"), (lambda: b"\x1a\x45\xdf\xa3" + b"\x00" * 64, None)],
)
def test_without_ffmpeg_videos_are_accepted_by_container_magic(
    owner, local_storage, settings, make, content_type
):
    settings.FFPROBE_BINARY = "/nonexistent/ffprobe"
    settings.FFMPEG_BINARY = "/nonexistent/ffmpeg"
    response = upload(owner, make())
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"]) == ("video", "uploaded")
    assert set(body["metadata"]) == {"format"}
    if content_type:
        assert body["content_type"] == content_type


# --- streaming -----------------------------------------------------------------------------------


@pytest.fixture
def bounded_reads(monkeypatch):
    """Fail any read of a spooled upload that could pull the whole file into memory: a sized
    read must ask for at most 8 MB, and an unsized one is only allowed near the end of the
    file (zipfile reads its end record that way), returning at most 64 KB."""
    reads: list[int] = []

    def guarded(self):
        inner = self.file.read

        def read(size=-1):
            if size is None or size < 0:
                data = inner()
                assert len(data) <= 64 * 1024, f"read() returned {len(data)} bytes at once"
            else:
                assert 0 < size <= 8 * 1024 * 1024, f"read({size}) is not a chunk"
                data = inner(size)
            reads.append(len(data))
            return data

        return read

    monkeypatch.setattr(TemporaryUploadedFile, "read", property(guarded))
    return reads


@pytest.mark.parametrize("kind", ["video", "image", "document"])
def test_uploads_past_the_memory_threshold_stream_from_disk_in_chunks(
    owner, local_storage, settings, tmp_path, bounded_reads, kind
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    if kind == "video":
        data = samples.video_bytes(tmp_path, seconds=2.0, width=640, height=360)
    elif kind == "image":
        data = samples.noisy_png_bytes(400, 400)
    else:
        data = samples.pptx_bytes(2, extra={"ppt/media/noise.bin": _random(300 * 1024)})
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = upload(owner, data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == kind
    assert bounded_reads, "the upload was not spooled to a temporary file"
    if kind != "image":
        assert _stored(local_storage, body) == data
        assert body["sha256"] == hashlib.sha256(data).hexdigest()


def _random(size: int) -> bytes:
    import os

    return os.urandom(size)


# --- failures after validation leave nothing behind ---------------------------------------------


def test_a_failed_insert_removes_the_stored_file(owner, local_storage, monkeypatch):
    from django.db import IntegrityError

    def broken_create(**kwargs):
        raise IntegrityError("simulated constraint failure")

    monkeypatch.setattr(MediaAsset.objects, "create", broken_create)
    response = upload(owner, samples.pdf_bytes(1))
    assert response.status_code == 409
    assert stored_files(local_storage) == []
    monkeypatch.undo()
    assert MediaAsset.objects.count() == 0
