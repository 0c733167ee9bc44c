"""The /api/v1/enrollments/ endpoints through the real stack: URL routing, JWT authentication,
serializers, services, the problem+json exception handler and the test database (SQLite by
default, PostgreSQL with DATABASE_URL). Also the OpenAPI schema generated for these views.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from courses.models import CourseStatus
from enrollments.models import Enrollment, EnrollmentStatus
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/enrollments/"
PROBLEM = "application/problem+json"


def detail_url(enrollment) -> str:
    return f"{URL}{enrollment.pk}/"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


@pytest.fixture
def course(instructor):
    return factories.PublishedCourseFactory(instructor=instructor)


# --- POST ---------------------------------------------------------------------------------------


def test_enrolling_returns_the_enrollment(make_client, student, course):
    response = make_client(student).post(URL, {"course": str(course.id)}, format="json")

    assert response.status_code == 201
    body = response.json()
    enrollment = Enrollment.objects.get(user=student, course=course)
    assert body == {
        "id": str(enrollment.id),
        "user": {
            "id": str(student.id),
            "username": student.username,
            "full_name": student.full_name,
        },
        "course": {"id": str(course.id), "slug": course.slug, "title": course.title},
        "status": "active",
        "enrolled_at": body["enrolled_at"],
        "completed_at": None,
        "cancelled_at": None,
    }
    assert body["enrolled_at"].startswith(enrollment.enrolled_at.date().isoformat())


@pytest.mark.parametrize("caller", ["student", "other_instructor"])
@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.ARCHIVED])
def test_hidden_course_reads_like_an_unknown_one(request, make_client, instructor, caller, status):
    hidden = factories.CourseFactory(instructor=instructor, status=status)
    client = make_client(request.getfixturevalue(caller))

    hidden_body = assert_problem(
        client.post(URL, {"course": str(hidden.id)}, format="json"), 400, "validation_error"
    )
    unknown_body = assert_problem(
        client.post(URL, {"course": str(uuid.uuid4())}, format="json"), 400, "validation_error"
    )

    assert hidden_body["errors"] == unknown_body["errors"]
    assert list(hidden_body["errors"]) == ["course"]
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.ARCHIVED])
def test_owner_and_admin_get_not_published_for_visible_unpublished_course(
    make_client, instructor, admin_user, status
):
    course = factories.CourseFactory(instructor=instructor, status=status)

    for user in (instructor, admin_user):
        response = make_client(user).post(URL, {"course": str(course.id)}, format="json")
        assert_problem(response, 409, "course_not_published")
    assert not Enrollment.objects.exists()


def test_enrolling_twice_is_a_conflict_with_one_row(make_client, student, course):
    client = make_client(student)
    assert client.post(URL, {"course": str(course.id)}, format="json").status_code == 201

    assert_problem(
        client.post(URL, {"course": str(course.id)}, format="json"), 409, "already_enrolled"
    )
    assert Enrollment.objects.filter(user=student, course=course).count() == 1


def test_re_enrolling_after_cancel_reactivates_the_same_id(make_client, student, course):
    client = make_client(student)
    first = client.post(URL, {"course": str(course.id)}, format="json").json()
    assert client.delete(f"{URL}{first['id']}/").status_code == 204

    again = client.post(URL, {"course": str(course.id)}, format="json")

    assert again.status_code == 201
    body = again.json()
    assert body["id"] == first["id"]
    assert body["status"] == "active"
    assert body["cancelled_at"] is None
    assert body["enrolled_at"] > first["enrolled_at"]
    assert Enrollment.objects.filter(user=student, course=course).count() == 1


def test_paid_course_answers_payment_required(make_client, student):
    paid = factories.PublishedCourseFactory(price=Decimal("19.99"))

    assert_problem(
        make_client(student).post(URL, {"course": str(paid.id)}, format="json"),
        402,
        "payment_required",
    )
    assert not Enrollment.objects.exists()


def test_full_course_answers_course_full(make_client, student):
    course = factories.PublishedCourseFactory(capacity=1)
    factories.EnrollmentFactory(course=course)

    assert_problem(
        make_client(student).post(URL, {"course": str(course.id)}, format="json"),
        409,
        "course_full",
    )
    assert Enrollment.objects.filter(course=course).count() == 1


def test_owner_enrolls_another_user_into_paid_course(make_client, instructor, student):
    paid = factories.PublishedCourseFactory(instructor=instructor, price=Decimal("99.00"))

    response = make_client(instructor).post(
        URL, {"course": str(paid.id), "user": str(student.id)}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["user"]["id"] == str(student.id)
    assert Enrollment.objects.get(course=paid).user == student


def test_user_must_be_a_known_active_user(make_client, admin_user, course):
    inactive = factories.UserFactory(is_active=False)
    client = make_client(admin_user)

    for value in (str(uuid.uuid4()), str(inactive.id), "not-a-uuid", 12):
        body = assert_problem(
            client.post(URL, {"course": str(course.id), "user": value}, format="json"),
            400,
            "validation_error",
        )
        assert list(body["errors"]) == ["user"]
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"course": None},
        {"course": ""},
        {"course": "not-a-uuid"},
        {"course": "12345678-1234-1234-1234-12345678901Z"},
        {"course": 42},
        {"course": True},
        {"course": ["a"]},
        {"course": {"id": "x"}},
    ],
    ids=["missing", "null", "blank", "garbage", "bad-hex", "int", "bool", "list", "object"],
)
def test_bad_course_values_are_validation_errors(make_client, student, course, payload):
    body = assert_problem(
        make_client(student).post(URL, payload, format="json"), 400, "validation_error"
    )

    assert list(body["errors"]) == ["course"]
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"course": ', "parse_error"),
        ("not json at all", "parse_error"),
        ('["a", "list"]', "validation_error"),
        ('"a string"', "validation_error"),
        ("null", "validation_error"),
    ],
)
def test_malformed_bodies_are_400_problems(make_client, student, course, raw, code):
    response = make_client(student).generic(
        "POST", URL, raw.encode(), content_type="application/json"
    )

    assert_problem(response, 400, code)
    assert not Enrollment.objects.exists()


def test_read_only_fields_in_the_body_are_ignored(make_client, student, course):
    response = make_client(student).post(
        URL,
        {"course": str(course.id), "status": "completed", "completed_at": "2020-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert Enrollment.objects.get(user=student).completed_at is None


def test_browsable_form_does_not_list_users(make_client, student):
    stranger = factories.UserFactory(email="stranger-42@example.com")

    page = make_client(student).get(URL, HTTP_ACCEPT="text/html")

    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert 'name="user"' in html  # the form is there ...
    assert stranger.email not in html  # ... without a list of everyone
    assert str(stranger.id) not in html


# --- GET list -------------------------------------------------------------------------------------


def test_list_is_paginated_and_scoped(make_client, student, course):
    mine = factories.EnrollmentFactory(user=student, course=course)
    factories.EnrollmentFactory(course=course)  # someone else's

    body = make_client(student).get(URL).json()

    assert body["count"] == 1
    assert [item["id"] for item in body["results"]] == [str(mine.id)]
    assert {"count", "next", "previous", "results"} <= set(body)


def test_list_filters_by_course_and_status(make_client, admin_user):
    course_a = factories.PublishedCourseFactory()
    course_b = factories.PublishedCourseFactory()
    active_a = factories.EnrollmentFactory(course=course_a)
    cancelled_a = factories.EnrollmentFactory(course=course_a, status=EnrollmentStatus.CANCELLED)
    active_b = factories.EnrollmentFactory(course=course_b)
    client = make_client(admin_user)

    def ids(query):
        response = client.get(URL, query)
        assert response.status_code == 200
        return {item["id"] for item in response.json()["results"]}

    assert ids({"course": str(course_a.id)}) == {str(active_a.id), str(cancelled_a.id)}
    assert ids({"status": "active"}) == {str(active_a.id), str(active_b.id)}
    assert ids({"course": str(course_a.id), "status": "cancelled"}) == {str(cancelled_a.id)}
    assert ids({"course": str(uuid.uuid4())}) == set()


def test_course_filter_does_not_widen_scope(make_client, student, course):
    factories.EnrollmentFactory(course=course)

    body = make_client(student).get(URL, {"course": str(course.id)}).json()

    assert body["count"] == 0


@pytest.mark.parametrize("query", [{"status": "paused"}, {"course": "nope"}])
def test_bad_filters_are_validation_errors(make_client, student, query):
    body = assert_problem(make_client(student).get(URL, query), 400, "validation_error")

    assert list(body["errors"]) == list(query)


def test_list_query_count_does_not_grow_with_rows(
    make_client, instructor, django_assert_num_queries
):
    course = factories.PublishedCourseFactory(instructor=instructor)
    factories.EnrollmentFactory.create_batch(2, course=course)
    client = make_client(instructor)

    # JWT user lookup, page count, one page of enrollments joined with users and courses.
    with django_assert_num_queries(3):
        small = client.get(URL)
    factories.EnrollmentFactory.create_batch(13, course=course)
    factories.EnrollmentFactory.create_batch(3, user=instructor)  # their own, in other courses
    with django_assert_num_queries(3):
        large = client.get(URL)

    assert small.json()["count"] == 2
    assert large.json()["count"] == 18
    assert len(large.json()["results"]) == 18


def test_list_order_is_newest_first(make_client, admin_user):
    older = factories.EnrollmentFactory()
    newer = factories.EnrollmentFactory()

    results = make_client(admin_user).get(URL).json()["results"]

    assert [item["id"] for item in results] == [str(newer.id), str(older.id)]


# --- GET detail, DELETE, other methods ------------------------------------------------------------


def test_detail_returns_the_enrollment(make_client, student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)

    response = make_client(student).get(detail_url(enrollment))

    assert response.status_code == 200
    assert response.json()["id"] == str(enrollment.id)
    assert response.json()["course"]["slug"] == course.slug


@pytest.mark.parametrize("tail", ["not-a-uuid/", f"{uuid.uuid4()}/"])
def test_unknown_or_malformed_ids_are_404_problems(make_client, student, tail):
    assert_problem(make_client(student).get(f"{URL}{tail}"), 404, "not_found")


def test_delete_cancels_and_keeps_the_row(make_client, student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    client = make_client(student)

    response = client.delete(detail_url(enrollment))

    assert response.status_code == 204
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.CANCELLED
    assert enrollment.cancelled_at is not None
    cancelled_at = enrollment.cancelled_at
    assert client.delete(detail_url(enrollment)).status_code == 204
    enrollment.refresh_from_db()
    assert enrollment.cancelled_at == cancelled_at
    detail = client.get(detail_url(enrollment)).json()
    assert detail["status"] == "cancelled"
    assert detail["cancelled_at"] is not None


def test_delete_of_completed_enrollment_is_a_conflict(make_client, student, course):
    enrollment = factories.EnrollmentFactory(
        user=student, course=course, status=EnrollmentStatus.COMPLETED
    )

    assert_problem(make_client(student).delete(detail_url(enrollment)), 409, "enrollment_completed")
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED


@pytest.mark.parametrize("method", ["put", "patch"])
def test_no_updates(make_client, student, course, method):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    client = make_client(student)

    for url in (detail_url(enrollment), URL):
        response = getattr(client, method)(url, {"status": "completed"}, format="json")
        assert_problem(response, 405, "method_not_allowed")
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.ACTIVE


# --- schema ---------------------------------------------------------------------------------------


def test_schema_for_enrollments_has_no_warnings_of_its_own():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("enrollments.urls"))])

    schema = generator.get_schema(request=None, public=True)

    # The project's JWT authenticator subclass has no schema extension yet; that warning
    # comes from the shared authentication class, not from these views.
    own = [
        msg for msg in GENERATOR_STATS._warn_cache if "could not resolve authenticator" not in msg
    ]
    assert own == []
    assert not GENERATOR_STATS._error_cache
    enrollment_paths = {p for p in schema["paths"] if p.startswith("/api/v1/enrollments/")}
    assert enrollment_paths == {"/api/v1/enrollments/", "/api/v1/enrollments/{id}/"}
    assert set(schema["paths"]["/api/v1/enrollments/"]) == {"get", "post"}
    assert set(schema["paths"]["/api/v1/enrollments/{id}/"]) == {"get", "delete"}
    post = schema["paths"]["/api/v1/enrollments/"]["post"]
    assert {"201", "400", "402", "403", "409"} <= set(post["responses"])
