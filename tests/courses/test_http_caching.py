"""ETag / If-None-Match and Cache-Control on course, category, module and lesson reads.

Real parts: the API through Django's test client, the database and the configured cache.
"""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(instructor):
    category = factories.CategoryFactory()
    course = factories.PublishedCourseFactory(instructor=instructor, category=category)
    module = factories.ModuleFactory(course=course, position=1)
    lesson = factories.LessonFactory(course=course, module=module, position=1, body="Secret")
    return {"course": course, "category": category, "module": module, "lesson": lesson}


def _paths(catalog) -> list[str]:
    return [
        "/api/v1/courses/",
        f"/api/v1/courses/{catalog['course'].pk}/",
        "/api/v1/categories/",
        f"/api/v1/categories/{catalog['category'].pk}/",
        "/api/v1/modules/",
        f"/api/v1/modules/{catalog['module'].pk}/",
        "/api/v1/lessons/",
        f"/api/v1/lessons/{catalog['lesson'].pk}/",
    ]


def _vary(response) -> set[str]:
    return {part.strip().lower() for part in response["Vary"].split(",")}


def test_anonymous_reads_are_public_with_etag_and_304(make_client, catalog):
    client = make_client()
    for path in _paths(catalog):
        first = client.get(path)
        assert first.status_code == 200, path
        etag = first["ETag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10, path
        assert first["Cache-Control"] == "public, max-age=0", path
        assert {"accept", "authorization", "cookie"} <= _vary(first), path

        again = client.get(path, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304, path
        assert again.content == b"", path
        assert again["ETag"] == etag, path
        assert again["Cache-Control"] == "public, max-age=0", path

        # A list of tags, weak or not, matches too (weak comparison, RFC 9110 13.1.2).
        listed = client.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
        assert listed.status_code == 304, path
        assert client.get(path, HTTP_IF_NONE_MATCH='"other"').status_code == 200, path


def test_cached_304_needs_no_database(make_client, catalog, django_assert_num_queries):
    client = make_client()
    path = f"/api/v1/courses/{catalog['course'].pk}/"
    etag = client.get(path)["ETag"]
    list_etag = client.get("/api/v1/courses/")["ETag"]
    with django_assert_num_queries(0):
        assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert client.get("/api/v1/courses/").status_code == 200
        assert client.get("/api/v1/courses/", HTTP_IF_NONE_MATCH=list_etag).status_code == 304


def test_signed_in_reads_are_private(make_client, catalog, student):
    client = make_client(student)
    for path in _paths(catalog):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-cache", path
        assert client.get(path, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304, path


def test_personal_bodies_get_their_own_etag(make_client, catalog, student):
    """A learner with a seat reads the lesson body; the public does not: different tags."""
    factories.EnrollmentFactory(user=student, course=catalog["course"])
    path = f"/api/v1/lessons/{catalog['lesson'].pk}/"
    public = make_client().get(path)
    mine = make_client(student).get(path)
    assert public.json()["body"] is None
    assert mine.json()["body"] == "Secret"
    assert public["ETag"] != mine["ETag"]
    # The public tag does not validate the learner's copy, nor the reverse.
    assert make_client(student).get(path, HTTP_IF_NONE_MATCH=public["ETag"]).status_code == 200
    assert make_client().get(path, HTTP_IF_NONE_MATCH=mine["ETag"]).status_code == 200


def test_changed_resource_answers_200_to_an_old_tag(make_client, catalog, admin_user):
    client = make_client()
    path = f"/api/v1/categories/{catalog['category'].pk}/"
    etag = client.get(path)["ETag"]
    assert (
        make_client(admin_user).patch(path, {"name": "Changed"}, format="json").status_code == 200
    )
    response = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["name"] == "Changed"


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/me/", "/api/v1/enrollments/", "/api/v1/certificates/"]
)
def test_personal_data_is_never_stored(make_client, student, path):
    response = make_client(student).get(path)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert not response.has_header("ETag")


def test_login_answer_is_not_stored(api_client, student):
    student.set_password("pass-Word-123")
    student.save()
    response = api_client.post(
        "/api/v1/auth/login/", {"email": student.email, "password": "pass-Word-123"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_errors_carry_no_etag(make_client):
    response = make_client().get("/api/v1/courses/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert not response.has_header("ETag")
    assert response["Cache-Control"] == "private, no-store"
