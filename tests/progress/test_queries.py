"""Pinned query counts and store reads: the dashboard, course progress and history cost the same
whatever the number of courses, lessons and records.

Real parts: URL routes, JWT authentication, views, selectors and the database; SQL store tests
count SQL queries (`django_assert_num_queries`); MongoDB store tests (mongomock, a mock of the
server) count calls to the repository and the SQL queries that remain (enrollments, lessons).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from lessons.models import LessonKind
from tests import factories
from tests.progress.conftest import heartbeat_body, use_mongomock

# Authentication (the user row) + enrollments + lessons + progress records.
DASHBOARD_QUERIES_SQL = 4
# Authentication + visible course + the learner's enrollment + lessons + records.
COURSE_PROGRESS_QUERIES_SQL = 5
# Authentication + count + one page of records + the page's lesson titles.
HISTORY_QUERIES_SQL = 4


@pytest.fixture(autouse=True)
def generous(settings):
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000


def build(learner, courses: int, lessons: int, client):
    """Enroll `learner` into `courses` courses of `lessons` videos each, with some progress."""
    made = []
    for _ in range(courses):
        course = factories.PublishedCourseFactory()
        factories.EnrollmentFactory(user=learner, course=course)
        videos = [
            factories.LessonFactory(
                course=course, position=index + 1, kind=LessonKind.VIDEO, duration_seconds=100
            )
            for index in range(lessons)
        ]
        for index, video in enumerate(videos[: max(1, lessons - 1)]):
            response = client.post(
                "/api/v1/progress/heartbeat/",
                heartbeat_body(video, 0, 10.0 * (index + 1), [(0, 10.0 * (index + 1))]),
                format="json",
            )
            assert response.status_code == 200
        made.append(course)
    return made


class CallCounter:
    """Counts calls to the public methods of the active repository instance."""

    def __init__(self, store, monkeypatch):
        self.calls: Counter = Counter()
        for name in ("get", "list_for_user", "recent_for_user", "count_for_user", "lesson_stats"):
            original = getattr(store, name)
            monkeypatch.setattr(store, name, self._wrap(name, original))

    def _wrap(self, name, original):
        def counted(*args, **kwargs):
            self.calls[name] += 1
            return original(*args, **kwargs)

        return counted

    def reset(self):
        self.calls.clear()


@pytest.mark.parametrize(("courses", "lessons"), [(1, 1), (4, 5)])
def test_dashboard_queries_are_pinned_on_sql(
    db, make_client, django_assert_num_queries, courses, lessons
):
    learner = factories.UserFactory()
    client = make_client(learner)
    build(learner, courses, lessons, client)

    with django_assert_num_queries(DASHBOARD_QUERIES_SQL):
        response = client.get("/api/v1/progress/dashboard/")

    assert response.json()["count"] == courses


@pytest.mark.parametrize(("courses", "lessons"), [(1, 1), (4, 5)])
def test_dashboard_reads_the_mongo_store_once(
    db, make_client, django_assert_num_queries, settings, monkeypatch, courses, lessons
):
    store = use_mongomock(settings, monkeypatch)
    learner = factories.UserFactory()
    client = make_client(learner)
    build(learner, courses, lessons, client)
    counter = CallCounter(store, monkeypatch)

    with django_assert_num_queries(DASHBOARD_QUERIES_SQL - 1):
        response = client.get("/api/v1/progress/dashboard/")

    assert response.json()["count"] == courses
    assert counter.calls == Counter({"list_for_user": 1})


@pytest.mark.parametrize("lessons", [1, 8])
def test_course_progress_queries_are_pinned_on_sql(
    db, make_client, django_assert_num_queries, lessons
):
    learner = factories.UserFactory()
    client = make_client(learner)
    (course,) = build(learner, 1, lessons, client)

    with django_assert_num_queries(COURSE_PROGRESS_QUERIES_SQL):
        response = client.get(f"/api/v1/progress/courses/{course.pk}/")

    assert response.json()["total_lessons"] == lessons


@pytest.mark.parametrize("lessons", [1, 8])
def test_course_progress_reads_the_mongo_store_once(
    db, make_client, django_assert_num_queries, settings, monkeypatch, lessons
):
    store = use_mongomock(settings, monkeypatch)
    learner = factories.UserFactory()
    client = make_client(learner)
    (course,) = build(learner, 1, lessons, client)
    counter = CallCounter(store, monkeypatch)

    with django_assert_num_queries(COURSE_PROGRESS_QUERIES_SQL - 1):
        response = client.get(f"/api/v1/progress/courses/{course.pk}/")

    assert response.json()["total_lessons"] == lessons
    assert counter.calls == Counter({"list_for_user": 1})


@pytest.mark.parametrize("courses", [1, 3])
def test_history_queries_are_pinned_on_sql(db, make_client, django_assert_num_queries, courses):
    learner = factories.UserFactory()
    client = make_client(learner)
    build(learner, courses, 4, client)

    with django_assert_num_queries(HISTORY_QUERIES_SQL):
        response = client.get("/api/v1/progress/history/", {"page_size": 5})

    assert len(response.json()["results"]) == min(5, 3 * courses)


def test_history_reads_the_mongo_store_twice(
    db, make_client, django_assert_num_queries, settings, monkeypatch
):
    store = use_mongomock(settings, monkeypatch)
    learner = factories.UserFactory()
    client = make_client(learner)
    build(learner, 3, 4, client)
    counter = CallCounter(store, monkeypatch)

    with django_assert_num_queries(2):  # authentication + the page's lesson titles
        response = client.get("/api/v1/progress/history/", {"page_size": 5})

    assert response.json()["count"] == 9
    assert counter.calls == Counter({"count_for_user": 1, "recent_for_user": 1})


def _heartbeat_queries(client, lesson, seq, *ranges):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/api/v1/progress/heartbeat/",
            heartbeat_body(lesson, seq, ranges[-1][1], ranges),
            format="json",
        )
    assert response.status_code == 200
    # The statements' shapes: literal ids, numbers and savepoint names removed.
    return [
        re.sub(r"'[^']*'|\b\d+(\.\d+)?\b|\"s\d+_x\d+\"", "?", query["sql"])
        for query in captured.captured_queries
    ]


def test_a_heartbeat_costs_the_same_whatever_the_history(db, make_client):
    """The same SQL statements for a learner with one short record as for one with 50 more
    records and 1000 intervals: nothing reads the history or the whole interval list."""
    from datetime import UTC, datetime

    from progress.repository import SeedProgress, SqlProgressRepository

    small_learner, big_learner = factories.UserFactory(), factories.UserFactory()
    course = factories.PublishedCourseFactory()
    video = factories.LessonFactory(
        course=course, position=1, kind=LessonKind.VIDEO, duration_seconds=3000
    )
    others = [factories.LessonFactory(course=course, position=i + 2) for i in range(50)]
    for learner in (small_learner, big_learner):
        factories.EnrollmentFactory(user=learner, course=course)
    seeded = datetime(2026, 1, 1, tzinfo=UTC)
    SqlProgressRepository().bulk_insert(
        [
            SeedProgress(
                user_id=big_learner.pk,
                course_id=course.pk,
                lesson_id=lesson.pk,
                intervals=intervals,
                duration=duration,
                position=0.0,
                completed=False,
                updated_at=seeded,
            )
            for lesson, intervals, duration in [
                (video, [(2.0 * i, 2.0 * i + 1) for i in range(1000)], 3000.0),
                *((lesson, [], 0.0) for lesson in others),
            ]
        ]
    )
    small, big = make_client(small_learner), make_client(big_learner)
    _heartbeat_queries(small, video, 0, (0, 1), (2, 3))
    _heartbeat_queries(big, video, 0, (4, 5))  # now both have a session

    small_sql = _heartbeat_queries(small, video, 1, (1, 2.5))  # bridges [0, 1] and [2, 3]
    big_sql = _heartbeat_queries(big, video, 1, (1, 2.5))  # the same, in 1000 intervals

    # user, lesson with the caller's enrollment status; savepoint; locked record, touching
    # intervals, delete, insert, update; release.
    assert len(small_sql) == 9
    assert small_sql == big_sql
