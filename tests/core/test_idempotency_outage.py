"""`Idempotency-Key` while the cache is down: requests run without protection, never a 500.

Real parts: a real django-redis client pointed at a closed loopback port (redis://127.0.0.1:1),
the whole middleware stack with real JWTs, the real views and the database. The throttles meet
the same dead cache and pass requests through (their own policy, tested with the throttles).
"""

from __future__ import annotations

import logging

import pytest

from eduflow.core import idempotency
from enrollments.models import Enrollment
from tests import factories
from tests.conftest import client_for
from tests.core.assertions import assert_problem
from tests.core.test_idempotency import ENROLL, REGISTER, STRONG, enroll, keyed, new_key

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


@pytest.fixture
def dead_cache(settings):
    """The cache unreachable, with a fresh outage memory before and after (per process)."""
    idempotency.outage.reset()
    settings.CACHES = DEAD_REDIS
    yield
    idempotency.outage.reset()


def warnings_of(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "eduflow.core.idempotency" and record.levelno == logging.WARNING
    ]


def test_a_keyed_enrollment_runs_unprotected_and_logs_a_warning(dead_cache, caplog):
    student = factories.UserFactory()
    course = factories.PublishedCourseFactory()
    client = client_for(student)
    key = new_key()

    with caplog.at_level(logging.WARNING):
        first = enroll(client, course, key)
        second = enroll(client, course, key)

    assert first.status_code == 201, first.content
    # No stored answer to replay: the repeat ran, and the service refused it.
    assert_problem(second, 409, "already_enrolled")
    assert Enrollment.objects.filter(user=student, course=course).count() == 1
    [warning] = warnings_of(caplog)  # one warning, then counted until the next one is due
    assert "unreachable" in warning.getMessage()
    assert warning.event == "idempotency_cache_unavailable"


def test_the_warning_counts_what_ran_unprotected_since_the_last_one(dead_cache, caplog):
    student = factories.UserFactory()
    client = client_for(student)
    courses = [factories.PublishedCourseFactory() for _ in range(3)]
    with caplog.at_level(logging.WARNING):
        for course in courses:
            assert enroll(client, course, new_key()).status_code == 201
        idempotency.outage._next_warning_at = 0.0  # the next warning is due
        idempotency.outage._retry_at = 0.0  # and the cache is tried again
        assert enroll(client, factories.PublishedCourseFactory(), new_key()).status_code == 201
    first, second = warnings_of(caplog)
    assert first.unprotected_since_last == 0
    assert second.unprotected_since_last == 2


def test_anonymous_register_with_a_key_still_registers(dead_cache, api_client):
    response = api_client.post(
        REGISTER,
        {"email": "outage@example.org", "password": STRONG},
        format="json",
        **keyed(new_key()),
    )
    assert response.status_code == 201, response.content


def test_an_invalid_key_is_still_a_400_without_the_cache(dead_cache, student):
    course = factories.PublishedCourseFactory()
    response = client_for(student).post(
        ENROLL, {"course": str(course.pk)}, format="json", **keyed("x" * 300)
    )
    assert_problem(response, 400, "invalid_idempotency_key")


def test_a_cache_that_fails_after_the_run_still_answers(settings, student, monkeypatch, caplog):
    """The cache answers the look-up and the lock, then fails to store: the answer goes out."""
    idempotency.outage.reset()
    course = factories.PublishedCourseFactory()
    from django.core.cache import cache
    from redis.exceptions import ConnectionError as RedisConnectionError

    def broken_set(*args, **kwargs):
        raise RedisConnectionError("connection lost")

    monkeypatch.setattr(cache, "set", broken_set)
    with caplog.at_level(logging.WARNING):
        response = enroll(client_for(student), course, new_key())
    monkeypatch.undo()
    idempotency.outage.reset()
    assert response.status_code == 201, response.content
    assert warnings_of(caplog)
