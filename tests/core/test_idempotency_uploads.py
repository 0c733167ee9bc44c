"""`Idempotency-Key` on multipart uploads, and the request fingerprint.

Real parts: `POST /api/v1/media/` with real JWTs through the whole middleware stack, Django's
multipart parser and upload handlers (the media size-limit handler included), Pillow and pypdf,
`FileSystemStorage` under a per-test directory, and the configured cache (local memory, or Redis
when REDIS_URL is set). Multipart bodies are built by hand where the boundary matters. The
fingerprint unit tests use Django's RequestFactory.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory

from eduflow.core import idempotency
from media.models import MediaAsset
from tests.core.assertions import assert_problem
from tests.core.test_idempotency import assert_replay_of, keyed, new_key, session_client
from tests.media import samples

pytestmark = pytest.mark.django_db

MEDIA = "/api/v1/media/"


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


@pytest.fixture
def owner(instructor, make_client):
    return make_client(instructor)


def multipart(data: bytes, boundary: str, name: str = "upload.bin") -> bytes:
    return (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def upload(client, data: bytes, key: str, boundary: str = "formboundary1"):
    return client.post(
        MEDIA,
        multipart(data, boundary),
        content_type=f"multipart/form-data; boundary={boundary}",
        **keyed(key),
    )


def test_an_upload_with_a_key_is_stored_once_and_replayed(owner, storage_root, instructor):
    key = new_key()
    pdf = samples.pdf_bytes(2)

    first = upload(owner, pdf, key)
    second = upload(owner, pdf, key)

    assert first.status_code == 201, first.content
    assert_replay_of(second, first)
    assert MediaAsset.objects.filter(owner=instructor).count() == 1


def test_a_retry_with_a_fresh_multipart_boundary_is_the_same_request(owner, storage_root):
    key = new_key()
    png = samples.png_bytes(120, 80)

    first = upload(owner, png, key, boundary="----client-a-1111")
    retry = upload(owner, png, key, boundary="----client-b-2222-longer")

    assert first.status_code == 201, first.content
    assert_replay_of(retry, first)
    assert MediaAsset.objects.count() == 1


def test_another_file_with_the_same_key_is_422(owner, storage_root):
    key = new_key()
    assert upload(owner, samples.pdf_bytes(1), key).status_code == 201
    assert_problem(upload(owner, samples.pdf_bytes(3), key), 422, "idempotency_key_reused")
    assert MediaAsset.objects.count() == 1


def test_the_test_clients_own_multipart_encoding_replays_too(owner, storage_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    key = new_key()

    def send():
        part = SimpleUploadedFile("doc.pdf", samples.pdf_bytes(1), "application/pdf")
        return owner.post(MEDIA, {"file": part}, format="multipart", **keyed(key))

    first, second = send(), send()
    assert first.status_code == 201, first.content
    assert_replay_of(second, first)


# --- bodies past the in-memory threshold: hashed while streamed, never held in memory -----------


@pytest.fixture
def small_memory(settings):
    """64 KB thresholds: a body read whole into memory above it would be refused by Django
    (RequestDataTooBig), so a passing upload proves the middleware streamed it."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024


def test_a_large_upload_is_hashed_as_it_streams_and_replayed(owner, storage_root, small_memory):
    key = new_key()
    png = samples.noisy_png_bytes(400, 400)
    assert len(png) > 64 * 1024

    first = upload(owner, png, key, boundary="large-a")
    retry = upload(owner, png, key, boundary="large-b-other")

    assert first.status_code == 201, first.content
    assert_replay_of(retry, first)
    assert MediaAsset.objects.count() == 1


def test_a_large_upload_with_other_bytes_of_the_same_length_is_422(
    owner, storage_root, small_memory
):
    key = new_key()
    png = samples.noisy_png_bytes(400, 400)
    assert upload(owner, png, key).status_code == 201
    changed = png[:-100] + bytes(byte ^ 0xFF for byte in png[-100:])
    assert len(changed) == len(png)

    assert_problem(upload(owner, changed, key), 422, "idempotency_key_reused")
    assert_problem(upload(owner, png + b"more", key), 422, "idempotency_key_reused")
    assert MediaAsset.objects.count() == 1


def test_a_large_upload_refused_by_its_size_limit_is_refused_again(
    owner, storage_root, small_memory, settings
):
    """The size-limit handler still refuses while the body streams in. The refusal is not
    stored (the body was never read to its end, so its fingerprint is incomplete): the retry
    runs, and is refused the same way."""
    settings.MEDIA_MAX_IMAGE_BYTES = 100 * 1024
    settings.MEDIA_MAX_DOCUMENT_BYTES = 100 * 1024
    settings.MEDIA_MAX_VIDEO_BYTES = 100 * 1024
    key = new_key()
    png = samples.noisy_png_bytes(400, 400)
    assert len(png) > 100 * 1024
    first = upload(owner, png, key)
    second = upload(owner, png, key)
    assert_problem(first, 413, "file_too_large")
    assert_problem(second, 413, "file_too_large")
    assert idempotency.REPLAYED_HEADER not in second
    assert MediaAsset.objects.count() == 0


# --- the fingerprint ------------------------------------------------------------------------------


def fingerprint(body: bytes, content_type: str, chunks: int = 1, path: str = MEDIA) -> str:
    request = RequestFactory().post(path, data=body, content_type=content_type)
    print_ = idempotency.Fingerprint(request)
    size = max(1, len(body) // chunks)
    for start in range(0, len(body), size):
        print_.update(body[start : start + size])
    return print_.hexdigest()


@pytest.mark.parametrize("chunks", [1, 2, 7, 50, 1000])
def test_the_fingerprint_ignores_the_boundary_and_the_chunking(chunks):
    data = b"payload --not-the-boundary-- " * 20
    one = multipart(data, "b1")
    other = multipart(data, "a-very-different-boundary-value")
    expected = fingerprint(one, "multipart/form-data; boundary=b1")
    assert fingerprint(one, "multipart/form-data; boundary=b1", chunks) == expected
    assert (
        fingerprint(other, "multipart/form-data; boundary=a-very-different-boundary-value", chunks)
        == expected
    )


def test_the_fingerprint_tells_bodies_paths_and_types_apart():
    base = fingerprint(b'{"a": 1}', "application/json", path="/api/v1/x/")
    assert fingerprint(b'{"a": 2}', "application/json", path="/api/v1/x/") != base
    assert fingerprint(b'{"a": 1}', "application/json", path="/api/v1/y/") != base
    assert fingerprint(b'{"a": 1}', "text/plain", path="/api/v1/x/") != base
    assert fingerprint(b'{"a": 1}', "application/json", chunks=3, path="/api/v1/x/") == base


def test_the_fingerprint_is_keyed_with_the_secret_key(settings):
    body = b'{"password": "hunter2"}'
    before = fingerprint(body, "application/json")
    settings.SECRET_KEY = "another-secret-" + uuid.uuid4().hex
    assert fingerprint(body, "application/json") != before


# --- session callers (browsable API) ------------------------------------------------------------


def session_upload(client, data: bytes, key: str, boundary: str = "sessionboundary"):
    return client.post(
        MEDIA,
        multipart(data, boundary),
        content_type=f"multipart/form-data; boundary={boundary}",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        **keyed(key),
    )


def test_a_session_upload_with_a_key_is_replayed(instructor, storage_root):
    client = session_client(instructor)
    key = new_key()
    pdf = samples.pdf_bytes(1)
    first = session_upload(client, pdf, key)
    second = session_upload(client, pdf, key, boundary="another-boundary")
    assert first.status_code == 201, first.content
    assert_replay_of(second, first)
    assert MediaAsset.objects.count() == 1


def test_a_session_upload_past_the_memory_threshold_runs_without_protection(
    instructor, storage_root, small_memory
):
    """The CSRF check of a session caller may parse the form, which must not happen before the
    view's own upload handlers are in place: such uploads run unprotected (decision 0017)."""
    client = session_client(instructor)
    key = new_key()
    png = samples.noisy_png_bytes(400, 400)
    first = session_upload(client, png, key)
    second = session_upload(client, png, key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert idempotency.REPLAYED_HEADER not in second
    assert MediaAsset.objects.count() == 2
