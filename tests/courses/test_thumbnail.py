"""Course thumbnails: setting one (a ready image of the course's instructor; admins any image),
reading `thumbnail_url`, and the public thumbnail endpoint that follows course visibility.

Real parts: the API with real JWTs, the course and media services, Pillow, the database, and
`FileSystemStorage` under a per-test MEDIA_ROOT. No mocks.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from courses.models import Course
from media.models import AssetStatus, MediaAsset
from media.services import asset_create
from tests import factories
from tests.core.assertions import assert_problem
from tests.media import samples

pytestmark = pytest.mark.django_db

COURSES = "/api/v1/courses/"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


def image_of(user, size=(200, 100)) -> MediaAsset:
    data = samples.png_bytes(*size, exif=False)
    return asset_create(actor=user, file=ContentFile(data, name="cover.png"))


def pdf_of(user) -> MediaAsset:
    return asset_create(actor=user, file=ContentFile(samples.pdf_bytes(1), name="a.pdf"))


def test_owner_creates_a_course_with_a_thumbnail(make_client, instructor):
    cover = image_of(instructor)
    response = make_client(instructor).post(
        COURSES, {"title": "Photography", "thumbnail": str(cover.pk)}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["thumbnail"] == str(cover.pk)
    assert body["thumbnail_url"] == (
        f"http://testserver{COURSES}{body['id']}/thumbnail/?v={cover.pk.hex[:12]}"
    )
    assert Course.objects.get(pk=body["id"]).thumbnail_id == cover.pk


def test_changing_and_removing_the_thumbnail(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor)
    first, second = image_of(instructor), image_of(instructor)
    client = make_client(instructor)
    url = f"{COURSES}{course.pk}/"
    one = client.patch(url, {"thumbnail": str(first.pk)}, format="json").json()
    two = client.patch(url, {"thumbnail": str(second.pk)}, format="json").json()
    assert one["thumbnail_url"] != two["thumbnail_url"]  # a new picture, a new URL
    cleared = client.patch(url, {"thumbnail": None}, format="json").json()
    assert (cleared["thumbnail"], cleared["thumbnail_url"]) == (None, None)
    assert MediaAsset.objects.filter(pk=first.pk).exists()  # the asset itself stays
    untouched = client.patch(url, {"title": "Renamed"}, format="json").json()
    assert untouched["thumbnail"] is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda owner, other: pdf_of(owner), "needs an image asset; the asset given is a document"),
        (
            lambda owner, other: MediaAsset.objects.create(
                owner=owner, kind="image", status=AssetStatus.PROCESSING
            ),
            "not ready yet",
        ),
        (
            lambda owner, other: MediaAsset.objects.create(
                owner=owner, kind="image", status=AssetStatus.FAILED, error="bad"
            ),
            "failed processing",
        ),
        (lambda owner, other: image_of(other), "does not exist"),  # not visible to the owner
    ],
)
def test_thumbnail_must_be_a_ready_image_of_the_instructor(
    make_client, instructor, other_instructor, make, message
):
    course = factories.CourseFactory(instructor=instructor)
    asset = make(instructor, other_instructor)
    response = make_client(instructor).patch(
        f"{COURSES}{course.pk}/", {"thumbnail": str(asset.pk)}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert message in body["errors"]["thumbnail"][0]
    course.refresh_from_db()
    assert course.thumbnail_id is None


def test_unknown_thumbnail_id_is_400(make_client, instructor):
    response = make_client(instructor).post(
        COURSES,
        {"title": "X", "thumbnail": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )
    assert_problem(response, 400, "validation_error")
    assert not Course.objects.exists()


def test_admin_may_use_any_image_even_for_someone_elses_course(
    make_client, admin_user, instructor, other_instructor
):
    course = factories.CourseFactory(instructor=instructor)
    theirs = image_of(other_instructor)
    response = make_client(admin_user).patch(
        f"{COURSES}{course.pk}/", {"thumbnail": str(theirs.pk)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["thumbnail"] == str(theirs.pk)


def test_other_instructor_cannot_set_a_thumbnail_on_a_course_they_do_not_own(
    make_client, instructor, other_instructor
):
    course = factories.PublishedCourseFactory(instructor=instructor)
    theirs = image_of(other_instructor)
    response = make_client(other_instructor).patch(
        f"{COURSES}{course.pk}/", {"thumbnail": str(theirs.pk)}, format="json"
    )
    assert_problem(response, 403, "permission_denied")


# --- the public thumbnail endpoint -------------------------------------------------------------


def _published_with_cover(instructor, size=(300, 150)):
    course = factories.PublishedCourseFactory(instructor=instructor)
    cover = image_of(instructor, size)
    Course.objects.filter(pk=course.pk).update(thumbnail=cover)
    return course, cover


def test_anyone_gets_the_thumbnail_of_a_published_course(make_client, instructor, media_root):
    _course, cover = _published_with_cover(instructor)
    listing = make_client().get(COURSES).json()["results"]
    url = listing[0]["thumbnail_url"]
    response = make_client().get(url, HTTP_ACCEPT="image/avif,image/webp")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=3600"
    data = b"".join(response.streaming_content)
    assert data == (media_root / f"assets/{cover.pk}/original").read_bytes()
    assert Image.open(io.BytesIO(data)).size == (300, 150)


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 404), ("student", 404), ("other_instructor", 404), ("owner", 200),
     ("admin", 200)],
)  # fmt: skip
def test_thumbnail_of_a_draft_follows_course_visibility(
    make_client, student, instructor, other_instructor, admin_user, role, status
):
    users = {
        "anonymous": None,
        "student": student,
        "other_instructor": other_instructor,
        "owner": instructor,
        "admin": admin_user,
    }
    course = factories.CourseFactory(instructor=instructor)
    Course.objects.filter(pk=course.pk).update(thumbnail=image_of(instructor))
    response = make_client(users[role]).get(f"{COURSES}{course.pk}/thumbnail/")
    if status == 404:
        assert_problem(response, 404, "not_found")
    else:
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, max-age=300"


def test_course_without_thumbnail_answers_404(make_client, instructor):
    course = factories.PublishedCourseFactory(instructor=instructor)
    body = make_client().get(f"{COURSES}{course.pk}/").json()
    assert body["thumbnail_url"] is None
    response = make_client().get(f"{COURSES}{course.pk}/thumbnail/")
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("count", [2, 9])
def test_course_list_with_thumbnails_keeps_its_query_count(
    make_client, instructor, django_assert_num_queries, count
):
    for _ in range(count):
        _published_with_cover(instructor, (20, 10))
    client = make_client()
    # count + page + lesson totals of the page: thumbnail_url needs only the FK column
    with django_assert_num_queries(3):
        results = client.get(COURSES).json()["results"]
    assert len(results) == count
    assert all(item["thumbnail_url"] for item in results)
