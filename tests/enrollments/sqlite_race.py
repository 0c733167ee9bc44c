"""Enrollment races against a real SQLite file, run in a separate process by test_races.py.

The pytest SQLite database is an in-memory shared-cache database, whose table locks fail at
once instead of waiting, unlike the file database (WAL, IMMEDIATE transactions, busy timeout)
that EduFlow runs on. So this script sets up a fresh file database in the directory named by
EDUFLOW_DATA_DIR, migrates it, runs one scenario with real threads through the HTTP API and
prints the outcome as JSON.

    python -m tests.enrollments.sqlite_race same-student|capacity
"""

from __future__ import annotations

import json
import os
import sys
import threading


def _setup() -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eduflow.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0, interactive=False)


def _post_together(clients, course_id) -> list:
    from django.db import connection

    barrier = threading.Barrier(len(clients))
    results: list = [None] * len(clients)

    def worker(index, client):
        try:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/enrollments/", {"course": str(course_id)}, format="json"
            )
            results[index] = [response.status_code, response.json().get("code")]
        except Exception as exc:
            results[index] = ["exception", repr(exc)]
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def main(scenario: str) -> dict:
    _setup()
    from django.db import connection

    from enrollments.models import Enrollment
    from tests import factories
    from tests.conftest import client_for

    if scenario == "same-student":
        course = factories.PublishedCourseFactory()
        student = factories.UserFactory()
        client = client_for(student)
        clients = [client, client]
    elif scenario == "capacity":
        course = factories.PublishedCourseFactory(capacity=4)
        clients = [client_for(factories.UserFactory()) for _ in range(12)]
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    connection.close()

    results = _post_together(clients, course.id)
    return {
        "vendor": connection.vendor,
        "journal_mode": _journal_mode(),
        "results": results,
        "rows": Enrollment.objects.filter(course=course).count(),
        "seats": Enrollment.objects.filter(course=course).holding_seat().count(),
    }


def _journal_mode() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
