"""The heartbeat's read before its transaction: one query answers the lesson and who the caller
is in its course, without the lesson's body or the course row.

Real parts: URL routes, JWT authentication, serializers, services, the SQL progress store and
the test database (SQLite by default, PostgreSQL with DATABASE_URL); SQL statements are captured
with Django's `CaptureQueriesContext`.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enrollments.models import EnrollmentStatus
from lessons.models import LessonKind
from tests import factories
from tests.core.assertions import assert_problem
from tests.progress.conftest import heartbeat_body

URL = "/api/v1/progress/heartbeat/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(instructor):
    course = factories.PublishedCourseFactory(instructor=instructor)
    return factories.LessonFactory(
        course=course, position=1, kind=LessonKind.VIDEO, duration_seconds=600
    )


def _heartbeat(client, video, seq=0):
    with CaptureQueriesContext(connection) as captured:
        response = client.post(URL, heartbeat_body(video, seq, 5.0, [(0, 5.0)]), format="json")
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_recorded_heartbeat_asks_for_lesson_and_seat_once(make_client, video):
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=video.course)

    response, statements = _heartbeat(make_client(learner), video)

    assert response.status_code == 200, response.content
    assert response.json()["recorded"] is True
    enrollment_reads = [sql for sql in statements if "enrollments_enrollment" in sql]
    # The lesson query carries the seat; nothing else reads enrollments (no lesson completed).
    assert len(enrollment_reads) == 1
    assert "lessons_lesson" in enrollment_reads[0]
    lesson_reads = [sql for sql in statements if 'FROM "lessons_lesson"' in sql]
    assert len(lesson_reads) == 1
    assert '"lessons_lesson"."body"' not in lesson_reads[0]
    assert not any(sql.startswith('SELECT "courses_course"') for sql in statements)


def test_the_owner_previews_and_a_cancelled_learner_is_refused(make_client, video, instructor):
    """The decision read with the lesson: the instructor (no seat) previews, a cancelled
    enrollment is no seat (403 `not_enrolled`), a completed one records."""
    preview, _ = _heartbeat(make_client(instructor), video)
    assert preview.status_code == 200, preview.content
    assert preview.json()["recorded"] is False

    cancelled = factories.UserFactory()
    factories.EnrollmentFactory(
        user=cancelled, course=video.course, status=EnrollmentStatus.CANCELLED
    )
    refused, _ = _heartbeat(make_client(cancelled), video)
    assert_problem(refused, 403, "not_enrolled")

    finished = factories.UserFactory()
    factories.EnrollmentFactory(
        user=finished, course=video.course, status=EnrollmentStatus.COMPLETED
    )
    recorded, _ = _heartbeat(make_client(finished), video)
    assert recorded.status_code == 200, recorded.content
    assert recorded.json()["recorded"] is True
    assert recorded.json()["course_completed"] is True


def test_a_seat_in_another_course_does_not_count(make_client, video):
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=factories.PublishedCourseFactory())

    response, _ = _heartbeat(make_client(learner), video)

    assert_problem(response, 403, "not_enrolled")
