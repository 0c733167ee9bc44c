"""Lesson durations filled from a processed video (media's `asset_ready` signal → lessons).

Real parts: the signal and the receiver connected by LessonsConfig.ready(), lessons.services,
the database; the end-to-end test also runs ffmpeg and the real transcoding task on a generated
clip under a temporary MEDIA_ROOT. No mocks.
"""

from __future__ import annotations

import uuid

import pytest

from media import tasks
from media.models import AssetKind, AssetStatus, MediaAsset
from media.signals import asset_ready
from tests import factories
from tests.media import hls_samples, samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_storage(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


def _video(owner) -> MediaAsset:
    return MediaAsset.objects.create(owner=owner, kind=AssetKind.VIDEO)


def test_only_lessons_without_a_duration_take_the_measured_one(instructor):
    course = factories.CourseFactory(instructor=instructor)
    asset, other = _video(instructor), _video(instructor)
    unset = factories.LessonFactory(course=course, asset=asset, duration_seconds=0, position=1)
    entered = factories.LessonFactory(course=course, asset=asset, duration_seconds=300, position=2)
    elsewhere = factories.LessonFactory(course=course, asset=other, duration_seconds=0, position=3)

    asset_ready.send(sender=MediaAsset, asset_id=asset.pk, kind="video", duration=7.6)

    for lesson in (unset, entered, elsewhere):
        lesson.refresh_from_db()
    assert (unset.duration_seconds, entered.duration_seconds, elsewhere.duration_seconds) == (
        8,
        300,
        0,
    )


@pytest.mark.parametrize(("duration", "expected"), [(None, 0), (0, 0), (0.2, 1), (59.5, 60)])
def test_unknown_or_tiny_durations(instructor, duration, expected):
    asset = _video(instructor)
    lesson = factories.LessonFactory(asset=asset, duration_seconds=0)
    asset_ready.send(sender=MediaAsset, asset_id=asset.pk, kind="video", duration=duration)
    lesson.refresh_from_db()
    assert lesson.duration_seconds == expected


def test_unknown_asset_changes_nothing(instructor):
    lesson = factories.LessonFactory(asset=_video(instructor), duration_seconds=0)
    asset_ready.send(sender=MediaAsset, asset_id=uuid.uuid4(), kind="video", duration=12)
    lesson.refresh_from_db()
    assert lesson.duration_seconds == 0


def test_transcoding_a_lessons_video_fills_its_duration(
    local_storage, instructor, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=3, width=640, height=360)
    lesson = factories.LessonFactory(
        course=factories.CourseFactory(instructor=instructor),
        kind="video",
        asset=asset,
        duration_seconds=0,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.transcode_asset.delay(str(asset.pk)).get() == "ready"
    lesson.refresh_from_db()
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY
    assert lesson.duration_seconds == 3


def test_a_failing_receiver_does_not_undo_the_ready_state(
    local_storage, instructor, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=2, width=640, height=360)
    calls = []

    def broken(sender, **kwargs):
        calls.append(kwargs["asset_id"])
        raise RuntimeError("receiver bug")

    asset_ready.connect(broken, dispatch_uid="test-broken")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.transcode_asset.delay(str(asset.pk)).get() == "ready"
    finally:
        asset_ready.disconnect(dispatch_uid="test-broken")
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY
    assert calls == [asset.pk]


def _ready_video(owner, duration=61.6) -> MediaAsset:
    return MediaAsset.objects.create(
        owner=owner,
        kind=AssetKind.VIDEO,
        status=AssetStatus.READY,
        metadata={"duration": duration, "width": 640, "height": 360},
    )


def test_attaching_a_ready_video_to_a_new_lesson_takes_its_duration(instructor, make_client):
    course = factories.CourseFactory(instructor=instructor)
    video = _ready_video(instructor)
    client = make_client(instructor)
    measured = client.post(
        "/api/v1/lessons/",
        {"course": str(course.pk), "title": "Intro", "kind": "video", "asset": str(video.pk)},
    )
    entered = client.post(
        "/api/v1/lessons/",
        {
            "course": str(course.pk),
            "title": "Timed",
            "kind": "video",
            "asset": str(video.pk),
            "duration_seconds": 45,
        },
    )
    assert measured.status_code == entered.status_code == 201, measured.content
    assert measured.json()["duration_seconds"] == 62
    assert entered.json()["duration_seconds"] == 45


def test_attaching_a_ready_video_later_fills_an_unset_duration_only(instructor, make_client):
    course = factories.CourseFactory(instructor=instructor)
    unset = factories.LessonFactory(course=course, kind="video", duration_seconds=0, position=1)
    entered = factories.LessonFactory(course=course, kind="video", duration_seconds=30, position=2)
    client = make_client(instructor)
    for lesson, expected in ((unset, 62), (entered, 30)):
        video = _ready_video(instructor)
        response = client.patch(f"/api/v1/lessons/{lesson.pk}/", {"asset": str(video.pk)})
        assert response.status_code == 200, response.content
        assert response.json()["duration_seconds"] == expected
    # A video still processing leaves the duration for the asset_ready signal to fill.
    later = factories.LessonFactory(course=course, kind="video", duration_seconds=0, position=3)
    pending = MediaAsset.objects.create(owner=instructor, kind=AssetKind.VIDEO)
    response = client.patch(f"/api/v1/lessons/{later.pk}/", {"asset": str(pending.pk)})
    assert response.json()["duration_seconds"] == 0
