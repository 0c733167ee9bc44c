"""Concurrent heartbeat scenarios through the whole HTTP stack, with real threads.

Used in-process on PostgreSQL by test_races.py, and in a child process against a fresh SQLite
file (`python -m tests.progress.race_scenarios <scenario>`), because the in-memory SQLite test
database fails on lock contention instead of waiting like the file database EduFlow runs on
(WAL, IMMEDIATE transactions, busy timeout). Each scenario returns a JSON-able outcome.
"""

from __future__ import annotations

import json
import os
import sys
import threading

HEARTBEAT = "/api/v1/progress/heartbeat/"


def run_together(calls) -> list:
    """Run each callable in its own thread, released at once by a barrier."""
    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:
            results[index] = ["exception", repr(exc)]
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a worker thread hung")
    return results


def _body(lesson, session, seq, start, end) -> dict:
    return {
        "lesson": str(lesson.pk),
        "session": session,
        "seq": seq,
        "position": end,
        "ranges": [[start, end]],
    }


def _video_course(videos: int):
    from lessons.models import LessonKind
    from tests import factories

    course = factories.PublishedCourseFactory()
    lessons = [
        factories.LessonFactory(
            course=course, position=index + 1, kind=LessonKind.VIDEO, duration_seconds=1000
        )
        for index in range(videos)
    ]
    return course, lessons


def _completions():
    from enrollments.signals import enrollment_completed

    received: list = []

    def receiver(sender, enrollment, **kwargs):
        received.append(str(enrollment.pk))

    enrollment_completed.connect(receiver, weak=False)
    return received, lambda: enrollment_completed.disconnect(receiver)


def same_lesson(writers: int = 8, beats: int = 4) -> dict:
    """One learner, `writers` sessions sending heartbeats for one lesson at once."""
    from progress.repository import get_progress_repository
    from tests import factories
    from tests.conftest import client_for

    course, (lesson,) = _video_course(1)
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=course)
    client = client_for(learner)

    def writer(index):
        def call():
            statuses = []
            for seq in range(beats):
                start = index * 100 + seq * 10
                response = client.post(
                    HEARTBEAT, _body(lesson, f"w{index}", seq, start, start + 10), format="json"
                )
                statuses.append(response.status_code)
            return statuses

        return call

    results = run_together([writer(index) for index in range(writers)])
    record = get_progress_repository().get(
        user_id=learner.pk, lesson_id=lesson.pk, with_intervals=True
    )
    return {
        "results": results,
        "intervals": [list(pair) for pair in record.intervals],
        "watched": record.watched_seconds,
        "records": get_progress_repository().count_for_user(user_id=learner.pk),
    }


def last_lessons(learners: int = 4) -> dict:
    """Each learner completes the course's two videos in two threads at once: the course
    completes exactly once per learner."""
    from enrollments.models import Enrollment
    from tests import factories
    from tests.conftest import client_for

    course, lessons = _video_course(2)
    enrollments = []
    calls = []
    for _ in range(learners):
        learner = factories.UserFactory()
        enrollments.append(factories.EnrollmentFactory(user=learner, course=course))
        client = client_for(learner)
        for lesson in lessons:
            calls.append(
                lambda client=client, lesson=lesson: (
                    client.post(
                        HEARTBEAT, _body(lesson, "s", 0, 0, 1000), format="json"
                    ).status_code
                )
            )
    received, disconnect = _completions()
    try:
        results = run_together(calls)
    finally:
        disconnect()
    statuses = dict(
        Enrollment.objects.filter(pk__in=[e.pk for e in enrollments]).values_list("pk", "status")
    )
    return {
        "results": results,
        "statuses": sorted(statuses.values()),
        "signals": sorted(received),
        "enrollments": sorted(str(e.pk) for e in enrollments),
    }


def same_last_lesson(writers: int = 4) -> dict:
    """Several sessions of one learner complete the course's only video at once."""
    from enrollments.models import Enrollment
    from tests import factories
    from tests.conftest import client_for

    course, (lesson,) = _video_course(1)
    learner = factories.UserFactory()
    enrollment = factories.EnrollmentFactory(user=learner, course=course)
    client = client_for(learner)
    calls = [
        lambda index=index: (
            client.post(
                HEARTBEAT, _body(lesson, f"s{index}", 0, 0, 1000), format="json"
            ).status_code
        )
        for index in range(writers)
    ]
    received, disconnect = _completions()
    try:
        results = run_together(calls)
    finally:
        disconnect()
    return {
        "results": results,
        "status": Enrollment.objects.get(pk=enrollment.pk).status,
        "signals": received,
        "enrollment": str(enrollment.pk),
    }


SCENARIOS = {
    "same-lesson": same_lesson,
    "last-lessons": last_lessons,
    "same-last-lesson": same_last_lesson,
}


def _setup_sqlite_file() -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("MONGO_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eduflow.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000
    call_command("migrate", verbosity=0, interactive=False)


def _journal_mode() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    _setup_sqlite_file()
    from django.db import connection

    outcome = SCENARIOS[sys.argv[1]]()
    outcome["vendor"] = connection.vendor
    outcome["journal_mode"] = _journal_mode()
    print(json.dumps(outcome))
