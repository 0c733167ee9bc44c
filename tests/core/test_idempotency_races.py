"""Simultaneous requests with one `Idempotency-Key`: exactly one runs.

Real parts: real threads, each with its own database connection, released together by a barrier
through the whole HTTP stack (JWT authentication, the middleware, views, services) against
committed data in PostgreSQL, and the configured cache: Redis when REDIS_URL is set (the lock is
a SET NX with expiry there), else the process's local memory. Skipped on SQLite, whose in-memory
test database fails on lock contention instead of waiting (the single-process waiting and 409
cases run everywhere, in test_idempotency.py).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from courses.models import Course
from eduflow.core import idempotency
from enrollments.models import Enrollment
from lessons.models import LessonKind
from progress.models import LessonProgress
from tests import factories
from tests.conftest import client_for
from tests.enrollments.test_races import run_together

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent requests need PostgreSQL: set DATABASE_URL=postgres://... to run them",
    ),
    pytest.mark.django_db(transaction=True),
]

CALLERS = 4
ROUNDS = 3


def _key() -> str:
    return str(uuid.uuid4())


def same_key_at_once(client, url: str, data: dict, key: str):
    """CALLERS threads POST the same request with the same key at once; their answers."""

    def call():
        response = client.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY=key)
        return (
            response.status_code,
            response.get(idempotency.REPLAYED_HEADER),
            response.content,
            response.json().get("code"),
        )

    return run_together([call] * CALLERS)


def check_one_ran(results, status: int) -> bytes:
    """One answer came from a run; every other one replays it, or found it still running."""
    ran = [r for r in results if r[1] is None and r[0] == status]
    assert len(ran) == 1, results
    body = ran[0][2]
    for code, replayed, content, problem in results:
        if replayed is not None:
            assert (code, replayed, content) == (status, "true", body)
        elif (code, content) != (status, body):
            assert (code, problem) == (409, "request_in_progress"), (code, content)
    return body


def test_simultaneous_enrollments_with_one_key_make_one_row():
    for _ in range(ROUNDS):
        student = factories.UserFactory()
        course = factories.PublishedCourseFactory()
        results = same_key_at_once(
            client_for(student), "/api/v1/enrollments/", {"course": str(course.pk)}, _key()
        )
        check_one_ran(results, 201)
        assert Enrollment.objects.filter(user=student, course=course).count() == 1


def test_simultaneous_course_creations_with_one_key_make_one_course():
    instructor = factories.InstructorFactory()
    client = client_for(instructor)
    for round_ in range(ROUNDS):
        title = f"Race course {round_}"
        results = same_key_at_once(
            client, "/api/v1/courses/", {"title": title, "description": "x"}, _key()
        )
        check_one_ran(results, 201)
        assert Course.objects.filter(title=title).count() == 1


def test_simultaneous_heartbeats_with_one_key_apply_once_and_answer_alike():
    course = factories.PublishedCourseFactory()
    lesson = factories.LessonFactory(
        course=course, position=1, kind=LessonKind.VIDEO, duration_seconds=600
    )
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=course)
    client = client_for(learner)
    for seq in range(ROUNDS):
        beat = {
            "lesson": str(lesson.pk),
            "session": "race-player",
            "seq": seq,
            "position": (seq + 1) * 5.0,
            "ranges": [[seq * 5.0, (seq + 1) * 5.0]],
        }
        results = same_key_at_once(client, "/api/v1/progress/heartbeat/", beat, _key())
        body = check_one_ran(results, 200)
        # Replays say what the run said: applied (a second run would answer applied: false).
        assert b'"applied":true' in body.replace(b" ", b"")
    assert LessonProgress.objects.filter(user_id=learner.pk, lesson_id=lesson.pk).count() == 1
