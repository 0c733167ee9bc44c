"""`POST /api/v1/lessons/{id}/playback/`: who gets a grant, what it contains, and its errors.

Real parts: routes, JWT authentication, the lessons selectors and enrollment rules, media's
grant signing, local file storage under a temporary MEDIA_ROOT with a hand-made encrypted HLS
set (tests/media/hls_samples.py), the database. No mocks.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from media.models import AssetKind, AssetStatus, MediaAsset
from tests import factories
from tests.courses.world import matrix
from tests.media import hls_samples

pytestmark = pytest.mark.django_db

NON_PREVIEW = matrix(403, 403, 200, 403, 200, 200)
DRAFT = matrix(404, 404, 404, 404, 200, 200)
PREVIEW = matrix(200, 200, 200, 200, 200, 200)


def _url(lesson) -> str:
    return f"/api/v1/lessons/{lesson.pk}/playback/"


@pytest.fixture
def local_storage(settings, tmp_path):
    """Files under a per-test MEDIA_ROOT (as in tests/media/conftest.py)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


@pytest.fixture
def video_world(world, local_storage):
    """The shared catalog with the owner's video attached to each lesson (ready, local)."""
    world.videos = {}
    for state, lesson in world.lessons.items():
        stored = hls_samples.stored_hls_asset(world.users["owner"])
        lesson.kind = "video"
        lesson.asset = stored.asset
        lesson.save()
        world.videos[state] = stored
    return world


@pytest.mark.parametrize(
    ("state", "preview", "role", "expected"),
    [("published", False, role, status) for role, status in NON_PREVIEW]
    + [("draft", False, role, status) for role, status in DRAFT]
    + [("published", True, role, status) for role, status in PREVIEW]
    + [("draft", True, role, status) for role, status in DRAFT],
)
def test_permission_matrix(video_world, state, preview, role, expected):
    lesson = video_world.lessons[state]
    if preview:
        lesson.is_preview = True
        lesson.save()
    response = video_world.client(role).post(_url(lesson))
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["code"] == "playback_forbidden"
    if expected == 200:
        assert response.json()["provider"] == "local"


def test_grant_shape_and_it_plays_for_its_holder_only(video_world, settings):
    settings.PLAYBACK_TOKEN_TTL = 120
    lesson = video_world.lessons["published"]
    learner = video_world.users["enrolled_student"]
    before = timezone.now()
    response = video_world.client("enrolled_student").post(_url(lesson))

    assert response.status_code == 200
    grant = response.json()
    assert set(grant) == {"provider", "hls_url", "expires_at", "thumbnail_url"}
    url = urlsplit(grant["hls_url"])
    assert (url.scheme, url.netloc) == ("http", "testserver")
    assert url.path == f"/api/v1/media/{lesson.asset_id}/hls/master.m3u8"
    expires = dt.datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00"))
    assert before + dt.timedelta(seconds=110) < expires <= before + dt.timedelta(seconds=121)
    assert urlsplit(grant["thumbnail_url"]).path == f"/api/v1/media/{lesson.asset_id}/poster/"

    token = parse_qs(url.query)["token"][0]
    master = f"{url.path}?token={token}"
    assert video_world.make_client(learner).get(master).status_code == 200
    assert video_world.make_client(None).get(master).status_code == 200  # players send no auth
    stranger = video_world.client("student").get(master)
    assert stranger.status_code == 403
    assert stranger.json()["code"] == "playback_token_wrong_user"
    poster = video_world.make_client(None).get(grant["thumbnail_url"])
    assert poster.status_code == 200


def test_anonymous_preview_grant_is_not_bound_to_a_user(video_world):
    lesson = video_world.lessons["published"]
    lesson.is_preview = True
    lesson.save()
    grant = video_world.client("anonymous").post(_url(lesson)).json()
    url = urlsplit(grant["hls_url"])
    master = f"{url.path}?{url.query}"
    assert video_world.client("student").get(master).status_code == 200


def test_lesson_without_video_is_a_conflict(video_world):
    lesson = factories.LessonFactory(course=video_world.courses["published"], position=2)
    response = video_world.client("owner").post(_url(lesson))
    assert response.status_code == 409
    assert response.json()["code"] == "lesson_has_no_video"

    document = MediaAsset.objects.create(
        owner=video_world.users["owner"], kind=AssetKind.DOCUMENT, status=AssetStatus.READY
    )
    lesson.kind, lesson.asset = "document", document
    lesson.save()
    response = video_world.client("enrolled_student").post(_url(lesson))
    assert response.status_code == 409
    assert response.json()["code"] == "lesson_has_no_video"


@pytest.mark.parametrize("status", [AssetStatus.UPLOADED, AssetStatus.PROCESSING, "failed"])
def test_video_not_ready_is_media_not_ready(video_world, status):
    lesson = video_world.lessons["published"]
    MediaAsset.objects.filter(pk=lesson.asset_id).update(status=status)
    response = video_world.client("enrolled_student").post(_url(lesson))
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "media_not_ready"


def test_access_is_checked_before_readiness(video_world):
    lesson = video_world.lessons["published"]
    MediaAsset.objects.filter(pk=lesson.asset_id).update(status=AssetStatus.PROCESSING)
    assert video_world.client("student").post(_url(lesson)).status_code == 403


def test_cancelled_learner_loses_playback(video_world):
    from enrollments.models import Enrollment, EnrollmentStatus

    lesson = video_world.lessons["published"]
    Enrollment.objects.filter(user=video_world.users["enrolled_student"]).update(
        status=EnrollmentStatus.CANCELLED
    )
    assert video_world.client("enrolled_student").post(_url(lesson)).status_code == 403


def test_only_post(video_world):
    lesson = video_world.lessons["published"]
    assert video_world.client("owner").get(_url(lesson)).status_code == 405


def test_unknown_lesson_is_404(video_world):
    import uuid

    response = video_world.client("admin").post(f"/api/v1/lessons/{uuid.uuid4()}/playback/")
    assert response.status_code == 404
