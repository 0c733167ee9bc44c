"""Asset storage on local disk and on an S3-compatible server: fixed keys, overwrite, prefix
deletion, the `delete_asset_files` task (run twice), and serving pictures.

Real parts: `FileSystemStorage` under a per-test directory; moto in server mode, a real
S3-compatible HTTP server on loopback, reached by django-storages and boto3 over HTTP, with
presigned URLs fetched over HTTP too; the API with real JWTs; Celery in eager mode. No mocks.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from media import storage
from media.models import MediaAsset
from media.tasks import delete_asset_files
from tests.media import samples
from tests.media.samples import upload

pytestmark = pytest.mark.django_db


class Backend:
    """The keys a storage holds and their bytes, for local disk and the bucket alike."""

    def __init__(self, name, bucket=None, root=None):
        self.name, self.bucket, self.root = name, bucket, root

    def keys(self, prefix: str = "") -> list[str]:
        if self.bucket is not None:
            return self.bucket.keys(prefix)
        return [key for key in samples.stored_files(self.root) if key.startswith(prefix)]

    def read(self, key: str) -> bytes:
        if self.bucket is not None:
            return self.bucket.get(key)
        return (self.root / key).read_bytes()


@pytest.fixture(params=["local", "s3"])
def backend(request):
    if request.param == "s3":
        return Backend("s3", bucket=request.getfixturevalue("s3_storage"))
    return Backend("local", root=request.getfixturevalue("local_storage"))


@pytest.fixture
def owner(make_client, instructor):
    return make_client(instructor)


def test_s3_fixture_sends_default_storage_and_file_fields_to_the_bucket(s3_storage, instructor):
    assert storage.is_s3()
    default_storage.save("probe/hello.txt", ContentFile(b"hello"))
    asset = MediaAsset.objects.create(owner=instructor, kind="document")
    asset.original.save("ignored-name.pdf", ContentFile(b"%PDF-"), save=True)
    assert s3_storage.keys() == [f"assets/{asset.pk}/original", "probe/hello.txt"]
    assert s3_storage.get("probe/hello.txt") == b"hello"


def test_local_fixture_writes_under_its_directory(local_storage):
    assert not storage.is_s3()
    default_storage.save("probe/hello.txt", ContentFile(b"hello"))
    assert (local_storage / "probe/hello.txt").read_bytes() == b"hello"


# --- the storage helpers -------------------------------------------------------------------------


def test_put_writes_the_exact_key_and_overwrites(backend):
    key = "assets/00000000-0000-0000-0000-000000000001/hls/720p/index.m3u8"
    assert (
        storage.put(key, io.BytesIO(b"first"), content_type="application/vnd.apple.mpegurl") == key
    )
    assert storage.put(key, io.BytesIO(b"second")) == key
    assert backend.keys("assets/") == [key]
    assert backend.read(key) == b"second"


def test_list_and_delete_prefix_touch_only_that_asset(backend):
    mine = storage.asset_prefix("00000000-0000-0000-0000-00000000000a")
    other = storage.asset_prefix("00000000-0000-0000-0000-00000000000b")
    for key in ("original", "thumbnail.jpg", "hls/master.m3u8", "hls/360p/seg_000.ts"):
        storage.put(mine + key, io.BytesIO(key.encode()))
    storage.put(other + "original", io.BytesIO(b"keep"))
    assert storage.list_prefix(mine) == sorted(
        mine + k for k in ("original", "thumbnail.jpg", "hls/master.m3u8", "hls/360p/seg_000.ts")
    )
    assert storage.delete_prefix(mine) == 4
    assert backend.keys("assets/") == [other + "original"]
    assert storage.delete_prefix(mine) == 0  # already gone: not an error
    assert storage.list_prefix(mine) == []


def test_delete_prefix_refuses_a_root_prefix(backend):
    with pytest.raises(ValueError, match="directory-like"):
        storage.delete_prefix("")
    with pytest.raises(ValueError, match="directory-like"):
        storage.delete_prefix("assets")


# --- uploads land in the storage with the detected content type -------------------------------


def test_uploads_on_s3_are_stored_with_the_detected_content_type(owner, s3_storage):
    image = upload(owner, samples.jpeg_bytes(100, 80), content_type="text/html").json()
    pdf = upload(owner, samples.pdf_bytes(2), name="x.exe", content_type="application/x-exe").json()
    head = s3_storage.client.head_object
    assert (
        head(Bucket=s3_storage.name, Key=f"assets/{image['id']}/original")["ContentType"]
        == "image/webp"
    )
    assert (
        head(Bucket=s3_storage.name, Key=f"assets/{pdf['id']}/original")["ContentType"]
        == "application/pdf"
    )
    assert s3_storage.get(f"assets/{pdf['id']}/original") == samples.pdf_bytes(2)


def test_a_large_upload_goes_to_s3_in_a_multipart_upload(owner, s3_storage, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    deck = samples.pptx_bytes(1, extra={"ppt/media/big.bin": _random(9 * 1024 * 1024)})
    body = upload(owner, deck).json()
    key = f"assets/{body['id']}/original"
    assert s3_storage.get(key) == deck
    etag = s3_storage.client.head_object(Bucket=s3_storage.name, Key=key)["ETag"]
    assert "-" in etag  # S3 marks multipart uploads with "<md5>-<parts>"


def _random(size: int) -> bytes:
    import os

    return os.urandom(size)


# --- deleting an asset removes every file, on commit, idempotently ------------------------------


def _asset_with_renditions(owner, backend) -> dict:
    body = upload(owner, samples.png_bytes(40, 40, exif=False)).json()
    prefix = storage.asset_prefix(body["id"])
    for key in ("thumbnail.jpg", "hls/master.m3u8", "hls/720p/index.m3u8", "hls/720p/seg_000.ts"):
        storage.put(prefix + key, io.BytesIO(b"x"))
    assert len(backend.keys(prefix)) == 5
    return body


def test_delete_removes_original_and_renditions_after_commit(
    owner, backend, django_capture_on_commit_callbacks
):
    doomed = _asset_with_renditions(owner, backend)
    kept = _asset_with_renditions(owner, backend)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner.delete(f"{samples.MEDIA_URL}{doomed['id']}/")
        assert response.status_code == 204
        # Nothing is removed before the transaction commits.
        assert len(backend.keys(storage.asset_prefix(doomed["id"]))) == 5
    assert len(callbacks) == 1
    callbacks[0]()
    assert backend.keys(storage.asset_prefix(doomed["id"])) == []
    assert len(backend.keys(storage.asset_prefix(kept["id"]))) == 5
    assert not MediaAsset.objects.filter(pk=doomed["id"]).exists()


def test_delete_task_runs_twice_harmlessly(owner, backend, django_capture_on_commit_callbacks):
    body = _asset_with_renditions(owner, backend)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.delete(f"{samples.MEDIA_URL}{body['id']}/").status_code == 204
    assert backend.keys("assets/") == []
    assert delete_asset_files.delay(body["id"]).get() == 0
    assert delete_asset_files(body["id"], [f"elsewhere/{body['id']}.bin"]) == 0
    assert backend.keys("assets/") == []


def test_delete_task_also_removes_keys_outside_the_prefix(backend, instructor):
    storage.put("legacy/thumb-1.jpg", io.BytesIO(b"old"))
    asset_id = "00000000-0000-0000-0000-0000000000cc"
    storage.put(storage.original_key(asset_id), io.BytesIO(b"x"))
    assert delete_asset_files(asset_id, ["legacy/thumb-1.jpg", storage.original_key(asset_id)]) == 1
    assert backend.keys("legacy/") == []
    assert backend.keys("assets/") == []


def test_delete_task_keeps_the_files_of_an_asset_that_still_exists(owner, backend):
    body = _asset_with_renditions(owner, backend)
    assert delete_asset_files(body["id"]) == 0
    assert len(backend.keys(storage.asset_prefix(body["id"]))) == 5


def test_delete_task_has_its_name_and_queue():
    from eduflow.celery import app

    assert delete_asset_files.name == "media.delete_asset_files"
    route = app.amqp.router.route({}, delete_asset_files.name)
    assert route["queue"].name == "media"


# --- serving pictures ----------------------------------------------------------------------------


def test_picture_on_s3_is_a_redirect_to_a_working_presigned_url(owner, s3_storage):
    body = upload(owner, samples.png_bytes(120, 90, exif=False)).json()
    response = owner.get(body["thumbnail_url"])
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(s3_storage.endpoint_url) and "X-Amz-Signature=" in url
    assert "max-age" in response["Cache-Control"]
    with urllib.request.urlopen(url, timeout=10) as fetched:  # noqa: S310 - loopback test server
        assert fetched.status == 200
        assert fetched.headers["Content-Type"] == "image/webp"
        data = fetched.read()
    assert data == s3_storage.get(f"assets/{body['id']}/original")
    assert Image.open(io.BytesIO(data)).size == (120, 90)


def test_presigned_url_with_a_tampered_signature_is_refused_by_the_bucket(owner, s3_storage):
    body = upload(owner, samples.png_bytes(20, 20, exif=False)).json()
    url = owner.get(body["thumbnail_url"])["Location"]
    tampered = url.replace(f"assets/{body['id']}/original", f"assets/{body['id']}/originak")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(tampered, timeout=10)  # noqa: S310 - loopback test server
    assert excinfo.value.code == 403


def test_picture_on_local_storage_is_streamed(owner, local_storage):
    body = upload(owner, samples.png_bytes(64, 48, exif=False)).json()
    response = owner.get(body["thumbnail_url"], HTTP_ACCEPT="image/webp")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    data = b"".join(response.streaming_content)
    assert data == (local_storage / f"assets/{body['id']}/original").read_bytes()


def test_picture_can_be_handed_to_nginx(owner, local_storage, settings):
    settings.MEDIA_X_ACCEL_REDIRECT = "/protected-media/"
    body = upload(owner, samples.png_bytes(16, 16, exif=False)).json()
    response = owner.get(body["thumbnail_url"])
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/assets/{body['id']}/original"
    assert response.content == b""


def test_picture_whose_file_vanished_is_a_404(owner, local_storage):
    body = upload(owner, samples.png_bytes(16, 16, exif=False)).json()
    (local_storage / f"assets/{body['id']}/original").unlink()
    assert owner.get(body["thumbnail_url"]).status_code == 404


def test_video_poster_frame_is_served_once_present(owner, local_storage, instructor):
    asset = MediaAsset.objects.create(owner=instructor, kind="video", status="uploaded")
    url = f"{samples.MEDIA_URL}{asset.pk}/thumbnail/"
    assert owner.get(url).status_code == 404
    storage.put(storage.thumbnail_key(asset.pk), io.BytesIO(samples.jpeg_bytes(32, 18)))
    asset.thumbnail.name = storage.thumbnail_key(asset.pk)
    asset.save(update_fields=["thumbnail"])
    detail = owner.get(f"{samples.MEDIA_URL}{asset.pk}/").json()
    assert detail["thumbnail_url"].endswith(f"/media/{asset.pk}/thumbnail/")
    response = owner.get(url)
    assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg")


def test_documents_have_no_picture(owner, local_storage):
    body = upload(owner, samples.pdf_bytes(1)).json()
    assert body["thumbnail_url"] is None
    assert owner.get(f"{samples.MEDIA_URL}{body['id']}/thumbnail/").status_code == 404
