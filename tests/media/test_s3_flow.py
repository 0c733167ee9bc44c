"""Upload → transcode → grant → playback against S3-compatible storage.

Real parts: moto in server mode (a real S3-compatible HTTP server on 127.0.0.1, started by the
`s3_server` fixture in tests/media/conftest.py) behind django-storages/boto3, ffmpeg, the upload
API, the transcoding task (eager Celery), the lessons playback endpoint, and plain HTTP fetches
of the presigned URLs with `requests`. No mocks.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from media import storage as media_storage
from media import tasks
from media.models import AssetStatus, MediaAsset
from tests import factories
from tests.media import hls_samples, samples

pytestmark = pytest.mark.django_db


def _upload(client, data: bytes, name: str, capture):
    upload = io.BytesIO(data)
    upload.name = name
    with capture(execute=True):
        response = client.post("/api/v1/media/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    return MediaAsset.objects.get(pk=response.json()["id"])


def test_video_flow_on_s3(
    s3_storage, instructor, make_client, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    bucket = s3_storage
    clip = samples.video_bytes(tmp_path, seconds=7, width=640, height=360)

    asset = _upload(make_client(instructor), clip, "intro.mp4", django_capture_on_commit_callbacks)

    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY, asset.error
    keys = bucket.keys(f"assets/{asset.pk}/")
    assert keys == [
        f"assets/{asset.pk}/hls/360p/index.m3u8",
        f"assets/{asset.pk}/hls/360p/seg_00000.ts",
        f"assets/{asset.pk}/hls/360p/seg_00001.ts",
        f"assets/{asset.pk}/hls/master.m3u8",
        f"assets/{asset.pk}/original",
        f"assets/{asset.pk}/thumbnail.jpg",
    ]

    # A rerun writes the same keys again, no copies.
    MediaAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.UPLOADED)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.transcode_asset.delay(str(asset.pk)).get() == "ready"
    assert bucket.keys(f"assets/{asset.pk}/") == keys

    course = factories.PublishedCourseFactory(instructor=instructor)
    lesson = factories.LessonFactory(course=course, kind="video", asset=asset, position=1)
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=course)
    client = make_client(learner)

    grant = client.post(f"/api/v1/lessons/{lesson.pk}/playback/").json()
    assert grant["provider"] == "local"
    hls_url = urlsplit(grant["hls_url"])
    assert hls_url.path == f"/api/v1/media/{asset.pk}/hls/master.m3u8"
    # The thumbnail is a presigned URL on the bucket.
    thumbnail = requests.get(grant["thumbnail_url"], timeout=10)
    assert thumbnail.status_code == 200
    assert thumbnail.content == bucket.get(f"assets/{asset.pk}/thumbnail.jpg")

    player = make_client()  # players send no credentials
    master = player.get(f"{hls_url.path}?{hls_url.query}")
    assert master.status_code == 200
    [variant_url] = hls_samples.uris(master.content.decode())
    assert urlsplit(variant_url).path == f"/api/v1/media/{asset.pk}/hls/360p/index.m3u8"
    variant = player.get(variant_url).content.decode()

    key_url = hls_samples.key_line_uri(variant)
    assert urlsplit(key_url).path == f"/api/v1/media/{asset.pk}/key/"
    key = player.get(key_url).content
    assert len(key) == 16
    iv = hls_samples.key_line_iv(variant)

    segment_urls = hls_samples.uris(variant)
    assert len(segment_urls) == 2
    for index, url in enumerate(segment_urls):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == bucket.endpoint_url
        assert parts.path == f"/{bucket.name}/assets/{asset.pk}/hls/360p/seg_{index:05d}.ts"
        query = parse_qs(parts.query)
        assert "X-Amz-Signature" in query
        assert 0 < int(query["X-Amz-Expires"][0]) <= 600
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200
        assert fetched.content == bucket.get(f"assets/{asset.pk}/hls/360p/seg_{index:05d}.ts")
        assert hls_samples.looks_like_ts(hls_samples.decrypt(fetched.content, key, iv))

    # Asking Django for a segment on S3 redirects to a presigned URL too; files that are not
    # in the bucket are a 404 whatever their kind.
    token = parse_qs(hls_url.query)["token"][0]
    for missing in ("480p/index.m3u8", "360p/seg_00042.ts"):
        gone = player.get(f"/api/v1/media/{asset.pk}/hls/{missing}?token={token}")
        assert gone.status_code == 404, missing
    redirect = player.get(f"/api/v1/media/{asset.pk}/hls/360p/seg_00000.ts?token={token}")
    assert redirect.status_code == 302
    assert redirect["Cache-Control"].startswith("private")
    assert requests.get(redirect["Location"], timeout=10).content == bucket.get(
        f"assets/{asset.pk}/hls/360p/seg_00000.ts"
    )


def test_document_download_on_s3_redirects_to_a_presigned_url(s3_storage, instructor, make_client):
    data = samples.pdf_bytes(3)
    asset = MediaAsset(
        owner=instructor,
        kind="document",
        status=AssetStatus.READY,
        content_type="application/pdf",
        original_filename="Syllabus.pdf",
        size=len(data),
    )
    asset.original.name = media_storage.put(
        media_storage.original_key(asset.pk), io.BytesIO(data), content_type="application/pdf"
    )
    asset.save()

    response = make_client(instructor).get(f"/api/v1/media/{asset.pk}/download/")
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert "Syllabus.pdf" in fetched.headers["Content-Disposition"]
    ranged = requests.get(response["Location"], headers={"Range": "bytes=0-4"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == b"%PDF-"
