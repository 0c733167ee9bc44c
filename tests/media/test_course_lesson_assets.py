"""Assets in use by courses and lessons: deleting them is refused (409 `asset_in_use`), the course
thumbnail is served from S3 to anonymous catalog clients, and attaching races deleting safely.

Real parts: the API with real JWTs, the course, lesson and media services, the database
(the race needs PostgreSQL: real threads with their own connections and row locks; it skips
on SQLite), `FileSystemStorage` under a per-test directory, and moto in server mode (a real
S3-compatible server on loopback, presigned URLs fetched over HTTP). No mocks.
"""

from __future__ import annotations

import threading
import urllib.request

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection

from courses import services as course_services
from courses.models import Course
from lessons import services as lesson_services
from media import services as media_services
from media.models import MediaAsset
from tests import factories
from tests.core.assertions import assert_problem
from tests.media import samples
from tests.media.samples import MEDIA_URL, stored_files

COURSES = "/api/v1/courses/"


def _image(user) -> MediaAsset:
    data = samples.png_bytes(48, 32, exif=False)
    return media_services.asset_create(actor=user, file=ContentFile(data, name="c.png"))


@pytest.mark.django_db
def test_asset_used_as_a_course_thumbnail_cannot_be_deleted(
    make_client, instructor, local_storage, django_capture_on_commit_callbacks
):
    cover = _image(instructor)
    course = factories.CourseFactory(instructor=instructor)
    course_services.course_update(actor=instructor, course=course, thumbnail=cover)
    client = make_client(instructor)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.delete(f"{MEDIA_URL}{cover.pk}/")
    body = assert_problem(response, 409, "asset_in_use")
    assert "1 course" in body["detail"]
    assert callbacks == []
    assert MediaAsset.objects.filter(pk=cover.pk).exists()
    assert stored_files(local_storage) == [f"assets/{cover.pk}/original"]

    client.patch(f"{COURSES}{course.pk}/", {"thumbnail": None}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{MEDIA_URL}{cover.pk}/").status_code == 204
    assert stored_files(local_storage) == []


@pytest.mark.django_db
def test_asset_used_by_lessons_cannot_be_deleted_even_by_an_admin(
    make_client, instructor, admin_user
):
    video = MediaAsset.objects.create(owner=instructor, kind="video")
    course = factories.CourseFactory(instructor=instructor)
    for position in (1, 2):
        factories.LessonFactory(course=course, position=position, kind="video", asset=video)
    body = assert_problem(
        make_client(admin_user).delete(f"{MEDIA_URL}{video.pk}/"), 409, "asset_in_use"
    )
    assert "2 lessons" in body["detail"]
    assert MediaAsset.objects.filter(pk=video.pk).exists()


@pytest.mark.django_db
def test_deleting_the_course_frees_its_assets(instructor, local_storage):
    cover = _image(instructor)
    course = factories.CourseFactory(instructor=instructor)
    course_services.course_update(actor=instructor, course=course, thumbnail=cover)
    course_services.course_delete(actor=instructor, course=course)
    media_services.asset_delete(actor=instructor, asset=cover)
    assert not MediaAsset.objects.exists()


@pytest.mark.django_db
def test_course_thumbnail_on_s3_reaches_anonymous_clients_through_a_presigned_url(
    make_client, instructor, s3_storage
):
    cover = _image(instructor)
    course = factories.PublishedCourseFactory(instructor=instructor)
    course_services.course_update(actor=instructor, course=course, thumbnail=cover)
    url = make_client().get(f"{COURSES}{course.pk}/").json()["thumbnail_url"]
    response = make_client().get(url)
    assert response.status_code == 302
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:  # noqa: S310
        assert fetched.headers["Content-Type"] == "image/webp"
        assert fetched.read() == s3_storage.get(f"assets/{cover.pk}/original")


# --- attaching races deleting ------------------------------------------------------------------

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-lock races need PostgreSQL: set DATABASE_URL=postgres://... to run them",
)


def _together(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            call()
            outcomes[index] = "ok"
        except BaseException as exc:  # the outcome is asserted by the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return outcomes


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", ["course", "lesson"])
def test_attaching_and_deleting_an_asset_at_once_never_leaves_a_dangling_reference(
    instructor, local_storage, target
):
    from eduflow.core.exceptions import Conflict

    for _ in range(6):
        course = factories.CourseFactory(instructor=instructor)
        if target == "course":
            asset = _image(instructor)

            def attach(course=course, asset=asset):
                course_services.course_update(actor=instructor, course=course, thumbnail=asset)
        else:
            asset = MediaAsset.objects.create(owner=instructor, kind="video")

            def attach(course=course, asset=asset):
                lesson_services.lesson_create(
                    actor=instructor, course=course, title="L", kind="video", asset=asset
                )

        def delete(asset=asset):
            media_services.asset_delete(actor=instructor, asset=asset)

        attached, deleted = _together(attach, delete)
        exists = MediaAsset.objects.filter(pk=asset.pk).exists()
        if target == "course":
            used = Course.objects.filter(pk=course.pk, thumbnail_id=asset.pk).exists()
        else:
            used = course.lessons.filter(asset_id=asset.pk).exists()
        if exists:
            # The attach won: the delete saw the reference and refused.
            assert attached == "ok" and isinstance(deleted, Conflict), (attached, deleted)
            assert used
        else:
            # The delete won: the attach found the asset gone and said so on its field.
            assert deleted == "ok", deleted
            assert isinstance(attached, ValidationError), attached
            assert not used
