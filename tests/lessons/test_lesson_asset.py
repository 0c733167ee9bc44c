"""Lesson assets: a video lesson takes a video asset, a document lesson a document asset, a text
lesson none; the asset belongs to the course's instructor (admins: any); kind changes must
suit the asset the lesson keeps.

Real parts: the API with real JWTs, the lesson and media services, the database. Asset rows are
created directly (their content is the upload tests' business). No mocks.
"""

from __future__ import annotations

import pytest

from lessons.models import Lesson
from media.models import AssetStatus, MediaAsset
from tests import factories
from tests.core.assertions import assert_problem

pytestmark = pytest.mark.django_db

LESSONS = "/api/v1/lessons/"


def asset(owner, kind, status=AssetStatus.READY) -> MediaAsset:
    return MediaAsset.objects.create(owner=owner, kind=kind, status=status)


@pytest.fixture
def course(instructor):
    return factories.CourseFactory(instructor=instructor)


@pytest.fixture
def owner(make_client, instructor):
    return make_client(instructor)


def _create(client, course, **fields):
    payload = {"course": str(course.pk), "title": "Lesson", **fields}
    return client.post(LESSONS, payload, format="json")


@pytest.mark.parametrize(
    ("lesson_kind", "asset_kind", "status"),
    [
        ("video", "video", AssetStatus.UPLOADED),  # attachable while still processing
        ("video", "video", AssetStatus.READY),
        ("document", "document", AssetStatus.READY),
    ],
)
def test_lesson_takes_an_asset_of_its_kind(
    owner, course, instructor, lesson_kind, asset_kind, status
):
    media = asset(instructor, asset_kind, status)
    response = _create(owner, course, kind=lesson_kind, asset=str(media.pk))
    assert response.status_code == 201, response.content
    assert response.json()["asset"] == str(media.pk)
    assert Lesson.objects.get().asset_id == media.pk


@pytest.mark.parametrize(
    ("lesson_kind", "asset_kind", "message"),
    [
        ("video", "document", "needs a video asset; the asset given is a document"),
        ("video", "image", "needs a video asset; the asset given is an image"),
        ("document", "video", "needs a document asset; the asset given is a video"),
        ("text", "video", "A text lesson has no media asset"),
    ],
)
def test_kind_mismatch_is_400_on_asset(owner, course, instructor, lesson_kind, asset_kind, message):
    media = asset(instructor, asset_kind)
    body = assert_problem(
        _create(owner, course, kind=lesson_kind, asset=str(media.pk)), 400, "validation_error"
    )
    assert message in body["errors"]["asset"][0]
    assert not Lesson.objects.exists()


def test_failed_video_cannot_be_attached(owner, course, instructor):
    media = MediaAsset.objects.create(
        owner=instructor, kind="video", status=AssetStatus.FAILED, error="moov atom not found"
    )
    body = assert_problem(
        _create(owner, course, kind="video", asset=str(media.pk)), 400, "validation_error"
    )
    assert "moov atom not found" in body["errors"]["asset"][0]


def test_someone_elses_asset_is_unknown_to_an_instructor(owner, course, other_instructor):
    theirs = asset(other_instructor, "video")
    body = assert_problem(
        _create(owner, course, kind="video", asset=str(theirs.pk)), 400, "validation_error"
    )
    assert "does not exist" in body["errors"]["asset"][0]


def test_admin_may_attach_any_asset(make_client, admin_user, course, other_instructor):
    theirs = asset(other_instructor, "document")
    response = _create(make_client(admin_user), course, kind="document", asset=str(theirs.pk))
    assert response.status_code == 201, response.content


def test_detaching_and_replacing_the_asset(owner, course, instructor):
    first, second = asset(instructor, "video"), asset(instructor, "video")
    lesson = _create(owner, course, kind="video", asset=str(first.pk)).json()
    url = f"{LESSONS}{lesson['id']}/"
    assert owner.patch(url, {"asset": str(second.pk)}, format="json").json()["asset"] == str(
        second.pk
    )
    assert owner.patch(url, {"asset": None}, format="json").json()["asset"] is None
    assert MediaAsset.objects.filter(pk__in=[first.pk, second.pk]).count() == 2


def test_changing_the_kind_must_suit_the_kept_asset(owner, course, instructor):
    video = asset(instructor, "video")
    lesson = _create(owner, course, kind="video", asset=str(video.pk)).json()
    url = f"{LESSONS}{lesson['id']}/"
    body = assert_problem(
        owner.patch(url, {"kind": "document"}, format="json"), 400, "validation_error"
    )
    assert "needs a document asset" in body["errors"]["kind"][0]
    body = assert_problem(
        owner.patch(url, {"kind": "text"}, format="json"), 400, "validation_error"
    )
    assert "text lesson has no media asset" in body["errors"]["kind"][0]
    changed = owner.patch(url, {"kind": "text", "asset": None}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["kind"], changed.json()["asset"]) == ("text", None)


def test_unrelated_changes_keep_the_asset(owner, course, instructor):
    video = asset(instructor, "video")
    lesson = _create(owner, course, kind="video", asset=str(video.pk)).json()
    response = owner.patch(f"{LESSONS}{lesson['id']}/", {"title": "Renamed"}, format="json")
    assert (response.json()["title"], response.json()["asset"]) == ("Renamed", str(video.pk))


def test_lessons_list_shows_the_asset_id_without_extra_queries(
    make_client, instructor, django_assert_num_queries
):
    course = factories.PublishedCourseFactory(instructor=instructor)
    for position in range(1, 6):
        factories.LessonFactory(
            course=course, position=position, kind="video", asset=asset(instructor, "video")
        )
    with django_assert_num_queries(2):  # count + page (anonymous)
        results = make_client().get(LESSONS).json()["results"]
    assert all(item["asset"] for item in results)
