"""Concurrent enrollments: real threads, each with its own database connection, going through the
whole HTTP stack (JWT auth, view, service, database) against committed data.

The PostgreSQL tests prove the course row lock (`select_for_update`) and the row lock taken on
completion; they skip on SQLite. The SQLite tests run the same races in a child process against
a fresh SQLite file with the production settings (WAL, IMMEDIATE transactions, busy timeout),
because the in-memory test database pytest uses fails on lock contention instead of waiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from enrollments import services
from enrollments.models import Enrollment, EnrollmentStatus
from enrollments.signals import enrollment_completed
from tests import factories
from tests.conftest import client_for

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-lock races need PostgreSQL: set DATABASE_URL=postgres://... to run them",
)


def run_together(calls):
    """Run each callable in its own thread, all released at once by a barrier; return results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(index, call)) for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    assert not errors, errors
    return results


def post_enrollment(client, course):
    def call():
        response = client.post("/api/v1/enrollments/", {"course": str(course.id)}, format="json")
        return response.status_code, response.json().get("code")

    return call


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_same_student_twice_at_once_gets_one_row():
    course = factories.PublishedCourseFactory()
    student = factories.UserFactory()
    client = client_for(student)

    results = run_together([post_enrollment(client, course), post_enrollment(client, course)])

    assert sorted(results) == [(201, None), (409, "already_enrolled")]
    assert Enrollment.objects.filter(user=student, course=course).count() == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_capacity_holds_under_a_crowd():
    seats = 4
    course = factories.PublishedCourseFactory(capacity=seats)
    clients = [client_for(factories.UserFactory()) for _ in range(3 * seats)]

    results = run_together([post_enrollment(client, course) for client in clients])

    assert Counter(results) == Counter({(201, None): seats, (409, "course_full"): 2 * seats})
    assert Enrollment.objects.filter(course=course).holding_seat().count() == seats


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_completing_twice_at_once_signals_once():
    enrollment = factories.EnrollmentFactory()
    received: list = []

    def receiver(sender, enrollment, **kwargs):
        received.append(enrollment.pk)

    def complete():
        return services.enrollment_complete(enrollment=Enrollment.objects.get(pk=enrollment.pk))

    enrollment_completed.connect(receiver, weak=False)
    try:
        run_together([complete, complete])
    finally:
        enrollment_completed.disconnect(receiver)

    assert received == [enrollment.pk]
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED


def run_sqlite_race(scenario: str, data_dir: Path) -> dict:
    env = {
        **os.environ,
        "EDUFLOW_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [sys.executable, "-m", "tests.enrollments.sqlite_race", scenario],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["vendor"] == "sqlite"
    assert outcome["journal_mode"] == "wal"
    return outcome


def test_same_student_twice_at_once_gets_one_row_on_sqlite_file(tmp_path):
    outcome = run_sqlite_race("same-student", tmp_path)

    assert sorted(map(tuple, outcome["results"])) == [(201, None), (409, "already_enrolled")]
    assert outcome["rows"] == 1


def test_capacity_holds_under_a_crowd_on_sqlite_file(tmp_path):
    outcome = run_sqlite_race("capacity", tmp_path)

    assert Counter(map(tuple, outcome["results"])) == Counter(
        {(201, None): 4, (409, "course_full"): 8}
    )
    assert outcome["seats"] == 4
    assert outcome["rows"] == 4
