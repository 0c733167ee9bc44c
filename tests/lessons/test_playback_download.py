"""`GET /api/v1/media/{id}/download/`: documents go to the audience of the lessons using them.

Media asks the access checks other apps register; lessons registers "may read the body of a
lesson using this asset" in LessonsConfig.ready(). These tests run through that real
registration. Real parts: routes, JWT authentication, lessons selectors, enrollments, local file
storage under a temporary MEDIA_ROOT, the database. No mocks.
"""

from __future__ import annotations

import io
import uuid

import pytest

from lessons.selectors import lesson_asset_access
from media import playback
from media import storage as media_storage
from media.models import AssetKind, AssetStatus, MediaAsset
from tests import factories
from tests.courses.world import matrix
from tests.media import samples

pytestmark = pytest.mark.django_db

NON_PREVIEW = matrix(403, 403, 200, 403, 200, 200)
DRAFT = matrix(404, 404, 404, 404, 200, 200)
PREVIEW = matrix(200, 200, 200, 200, 200, 200)
UNATTACHED = matrix(404, 404, 404, 404, 200, 200)


@pytest.fixture
def local_storage(settings, tmp_path):
    """Files under a per-test MEDIA_ROOT (as in tests/media/conftest.py)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


def _document(owner, data: bytes | None = None, *, name="Week 1 slides.pdf") -> MediaAsset:
    data = data if data is not None else samples.pdf_bytes(2)
    asset = MediaAsset(
        owner=owner,
        kind=AssetKind.DOCUMENT,
        status=AssetStatus.READY,
        content_type="application/pdf",
        size=len(data),
        original_filename=name,
    )
    asset.original.name = media_storage.put(
        media_storage.original_key(asset.pk), io.BytesIO(data), content_type="application/pdf"
    )
    asset.save()
    return asset


@pytest.fixture
def doc_world(world, local_storage):
    world.docs = {}
    for state, lesson in world.lessons.items():
        document = _document(world.users["owner"])
        lesson.kind, lesson.asset = "document", document
        lesson.save()
        world.docs[state] = document
    return world


def _url(asset) -> str:
    return f"/api/v1/media/{asset.pk}/download/"


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_lessons_registered_its_access_check():
    assert lesson_asset_access in playback._access_checks


@pytest.mark.parametrize(
    ("case", "role", "expected"),
    [("published", role, status) for role, status in NON_PREVIEW]
    + [("draft", role, status) for role, status in DRAFT]
    + [("preview", role, status) for role, status in PREVIEW]
    + [("unattached", role, status) for role, status in UNATTACHED],
)
def test_permission_matrix(doc_world, case, role, expected):
    if case == "preview":
        lesson = doc_world.lessons["published"]
        lesson.is_preview = True
        lesson.save()
        asset = doc_world.docs["published"]
    elif case == "unattached":
        asset = _document(doc_world.users["owner"])
    else:
        asset = doc_world.docs[case]
    response = doc_world.client(role).get(_url(asset))
    assert response.status_code == expected, response.content
    if expected == 200:
        assert _body(response) == asset.original.open("rb").read()
    elif expected == 403:
        assert response.json()["code"] == "media_access_denied"


def test_download_headers_and_ranges(doc_world):
    asset = doc_world.docs["published"]
    data = asset.original.open("rb").read()
    client = doc_world.client("enrolled_student")

    full = client.get(_url(asset))
    assert full["Content-Type"] == "application/pdf"
    assert full["Content-Disposition"] == 'attachment; filename="Week 1 slides.pdf"'
    assert full["Cache-Control"].startswith("private")
    assert full["Accept-Ranges"] == "bytes"
    assert full["Content-Length"] == str(len(data))

    part = client.get(_url(asset), HTTP_RANGE="bytes=0-7")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 0-7/{len(data)}"
    assert _body(part) == data[:8]
    assert data[:5] == b"%PDF-"

    bad = client.get(_url(asset), HTTP_RANGE=f"bytes={len(data) + 10}-")
    assert bad.status_code == 416
    assert bad["Content-Range"] == f"bytes */{len(data)}"
    assert bad.json()["code"] == "range_not_satisfiable"


def test_a_seat_in_any_course_using_the_document_is_enough(doc_world):
    asset = doc_world.docs["published"]
    other_course = factories.PublishedCourseFactory(instructor=doc_world.users["owner"])
    factories.LessonFactory(course=other_course, kind="document", asset=asset, position=1)
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=other_course)
    assert doc_world.make_client(learner).get(_url(asset)).status_code == 200


def test_only_ready_documents_are_downloaded(doc_world):
    asset = doc_world.docs["published"]
    MediaAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.PROCESSING)
    response = doc_world.client("enrolled_student").get(_url(asset))
    assert response.status_code == 409
    assert response.json()["code"] == "media_not_ready"
    # Access is decided first: outsiders learn nothing about the state.
    assert doc_world.client("student").get(_url(asset)).status_code == 403


def test_videos_and_unknown_ids_have_no_download(doc_world):
    video = MediaAsset.objects.create(
        owner=doc_world.users["owner"], kind=AssetKind.VIDEO, status=AssetStatus.READY
    )
    assert doc_world.client("owner").get(_url(video)).status_code == 404
    missing = doc_world.client("admin").get(f"/api/v1/media/{uuid.uuid4()}/download/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"


def test_unsafe_file_names_are_quoted_in_the_header(doc_world):
    asset = _document(doc_world.users["owner"], name='notes "final"\r\n.pdf')
    response = doc_world.client("owner").get(_url(asset))
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename")
