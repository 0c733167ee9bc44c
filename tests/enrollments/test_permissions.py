"""Permission matrix for every enrollment endpoint and every kind of caller, through the real
stack (URL routing, JWT authentication, views, services, test database).

Policy: anonymous callers get 401; enrollments outside the caller's scope answer 404; forbidden
actions on visible objects or courses answer 403.

Callers: anonymous, a student without an enrollment, the enrolled student, an instructor who does
not own the course, the owning instructor, an admin. The enrollment under test belongs to the
enrolled student in a published free course of the owning instructor.
"""

from __future__ import annotations

import pytest

from enrollments.models import Enrollment, EnrollmentStatus
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/enrollments/"
ROLES = ["anonymous", "student", "enrolled", "other_instructor", "owner", "admin"]


@pytest.fixture
def world(student, instructor, other_instructor, admin_user):
    course = factories.PublishedCourseFactory(instructor=instructor)
    enrolled = factories.UserFactory()
    enrollment = factories.EnrollmentFactory(user=enrolled, course=course)
    return {
        "course": course,
        "enrollment": enrollment,
        "users": {
            "anonymous": None,
            "student": student,
            "enrolled": enrolled,
            "other_instructor": other_instructor,
            "owner": instructor,
            "admin": admin_user,
        },
    }


def client_as(world, role):
    return client_for(world["users"][role])


def matrix(expected: dict[str, int]):
    assert set(expected) == set(ROLES)
    return pytest.mark.parametrize(("role", "status"), list(expected.items()))


@matrix(
    {
        "anonymous": 401,
        "student": 200,
        "enrolled": 200,
        "other_instructor": 200,
        "owner": 200,
        "admin": 200,
    }
)
def test_list(world, role, status):
    response = client_as(world, role).get(URL)

    assert response.status_code == status
    if status == 200:
        sees_it = str(world["enrollment"].id) in {row["id"] for row in response.json()["results"]}
        assert sees_it == (role in {"enrolled", "owner", "admin"})


@matrix(
    {
        "anonymous": 401,
        "student": 404,
        "enrolled": 200,
        "other_instructor": 404,
        "owner": 200,
        "admin": 200,
    }
)
def test_retrieve(world, role, status):
    response = client_as(world, role).get(f"{URL}{world['enrollment'].id}/")

    assert response.status_code == status
    if status == 200:
        assert response.json()["id"] == str(world["enrollment"].id)


@matrix(
    {
        "anonymous": 401,
        "student": 201,
        "enrolled": 409,
        "other_instructor": 201,
        "owner": 201,
        "admin": 201,
    }
)
def test_create_for_yourself(world, role, status):
    before = Enrollment.objects.count()

    response = client_as(world, role).post(URL, {"course": str(world["course"].id)}, format="json")

    assert response.status_code == status
    assert Enrollment.objects.count() == before + (1 if status == 201 else 0)
    if status == 201:
        assert response.json()["user"]["id"] == str(world["users"][role].id)


@matrix(
    {
        "anonymous": 401,
        "student": 403,
        "enrolled": 403,
        "other_instructor": 403,
        "owner": 201,
        "admin": 201,
    }
)
def test_create_for_another_user(world, role, status):
    target = factories.UserFactory()

    response = client_as(world, role).post(
        URL, {"course": str(world["course"].id), "user": str(target.id)}, format="json"
    )

    assert response.status_code == status
    assert Enrollment.objects.filter(user=target).exists() == (status == 201)
    if status == 403:
        assert response.json()["code"] == "cannot_enroll_others"


@matrix(
    {
        "anonymous": 401,
        "student": 404,
        "enrolled": 204,
        "other_instructor": 404,
        "owner": 204,
        "admin": 204,
    }
)
def test_cancel(world, role, status):
    enrollment = world["enrollment"]

    response = client_as(world, role).delete(f"{URL}{enrollment.id}/")

    assert response.status_code == status
    enrollment.refresh_from_db()
    expected = EnrollmentStatus.CANCELLED if status == 204 else EnrollmentStatus.ACTIVE
    assert enrollment.status == expected


@pytest.mark.parametrize("method", ["put", "patch"])
@matrix(
    {
        "anonymous": 401,
        "student": 405,
        "enrolled": 405,
        "other_instructor": 405,
        "owner": 405,
        "admin": 405,
    }
)
def test_update_is_not_allowed(world, role, status, method):
    enrollment = world["enrollment"]

    response = getattr(client_as(world, role), method)(
        f"{URL}{enrollment.id}/", {"status": "completed"}, format="json"
    )

    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.ACTIVE


def test_instructor_sees_own_enrollments_in_other_courses(world, other_instructor):
    own = factories.EnrollmentFactory(user=other_instructor)

    response = client_for(other_instructor).get(URL)

    assert [row["id"] for row in response.json()["results"]] == [str(own.id)]
    assert client_for(other_instructor).get(f"{URL}{own.id}/").status_code == 200
