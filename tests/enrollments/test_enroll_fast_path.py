"""`POST /api/v1/enrollments/` reads the course lightly before locking it, and a duplicate insert
is answered without a savepoint of its own.

Real parts: URL routes, JWT authentication, serializers, the enrollments service, the problem+json
handler and the database's unique constraint (SQLite by default, PostgreSQL with DATABASE_URL).
Stub: one test replaces `_existing_enrollment` with a function that finds nothing, to reach
the constraint the way a writer bypassing the course lock would.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enrollments import services
from enrollments.models import Enrollment, EnrollmentStatus
from tests import factories
from tests.core.assertions import assert_problem

URL = "/api/v1/enrollments/"


@pytest.mark.django_db
def test_enrolling_reads_the_course_lightly_then_locks_it(make_client):
    course = factories.PublishedCourseFactory()
    learner = factories.UserFactory()

    with CaptureQueriesContext(connection) as captured:
        response = make_client(learner).post(URL, {"course": str(course.pk)}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["course"] == {
        "id": str(course.pk),
        "slug": course.slug,
        "title": course.title,
    }
    statements = [query["sql"] for query in captured.captured_queries]
    course_reads = [sql for sql in statements if sql.startswith('SELECT "courses_course"')]
    assert len(course_reads) == 2  # visibility (serializer), then the lock (service)
    assert all('"courses_course"."description"' not in sql for sql in course_reads)
    # Inside the test's transaction the service's own atomic is the only savepoint.
    assert sum(sql.startswith("SAVEPOINT") for sql in statements) == 1


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_insert_answers_already_enrolled_and_rolls_back(make_client, monkeypatch):
    """Outside any test transaction (as in a real request): the failed insert rolls back the
    whole enrollment transaction and answers 409 `already_enrolled`, not 500."""
    course = factories.PublishedCourseFactory()
    learner = factories.UserFactory()
    existing = factories.EnrollmentFactory(user=learner, course=course)
    monkeypatch.setattr(services, "_existing_enrollment", lambda **kwargs: None)

    response = make_client(learner).post(URL, {"course": str(course.pk)}, format="json")

    assert_problem(response, 409, "already_enrolled")
    assert list(Enrollment.objects.filter(user=learner, course=course)) == [existing]
    existing.refresh_from_db()
    assert existing.status == EnrollmentStatus.ACTIVE
    # The connection is usable again: a normal enrollment into another course succeeds.
    other = factories.PublishedCourseFactory()
    again = make_client(learner).post(URL, {"course": str(other.pk)}, format="json")
    assert again.status_code == 201, again.content
