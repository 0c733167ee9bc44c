"""The dashboard's fast path gives what the general one gives.

`GET /api/v1/progress/dashboard/` reads records as `ProgressSummary` tuples, computes only the
course figures and builds its JSON without DRF's serializer tree. These tests pin it to the
general path: the documented `DashboardSerializer` over the same entries, and `course_progress`
(full records, per-lesson states) for every course shown.

Real parts: URL routes, JWT authentication, views, selectors, services and the database. Tests
taking `store` run with the SQL store and with the MongoDB store on mongomock (a mock of the
MongoDB server).
"""

from __future__ import annotations

import pytest
from rest_framework.renderers import JSONRenderer

from courses.models import Course
from enrollments.models import EnrollmentStatus
from lessons.models import LessonKind
from progress import selectors, services
from progress.serializers import DashboardSerializer, dashboard_payload
from tests import factories
from tests.progress.conftest import heartbeat_body

DASHBOARD = "/api/v1/progress/dashboard/"


@pytest.fixture(autouse=True)
def generous(settings):
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000


def watch(client, lesson, seconds, seq=0):
    response = client.post(
        "/api/v1/progress/heartbeat/",
        heartbeat_body(lesson, seq, seconds, [(0, seconds)], session="p"),
        format="json",
    )
    assert response.status_code == 200, response.content


def complete(client, lesson):
    response = client.post(f"/api/v1/progress/lessons/{lesson.pk}/complete/")
    assert response.status_code == 200, response.content


@pytest.fixture
def busy_learner(classroom, store):
    """The classroom's learner with every kind of dashboard row: a course in progress (text
    completed, a video at 40 s), one untouched, one without lessons, one completed, one whose
    last video is finished (resume moves on), and a cancelled and a hidden (draft) enrollment
    that must not show."""
    learner = classroom.learner
    client = classroom.client("enrolled_student")
    complete(client, classroom.text)
    watch(client, classroom.video, 40)

    untouched = factories.PublishedCourseFactory(title="Café ✓ « quoted »")
    factories.LessonFactory(course=untouched, position=1, kind=LessonKind.TEXT)
    factories.EnrollmentFactory(user=learner, course=untouched)

    empty = factories.PublishedCourseFactory()
    factories.EnrollmentFactory(user=learner, course=empty)

    done = factories.PublishedCourseFactory()
    done_text = factories.LessonFactory(course=done, position=1, kind=LessonKind.TEXT)
    factories.EnrollmentFactory(user=learner, course=done)
    complete(client, done_text)

    moving_on = factories.PublishedCourseFactory()
    first = factories.LessonFactory(
        course=moving_on, position=1, kind=LessonKind.VIDEO, duration_seconds=100
    )
    second = factories.LessonFactory(
        course=moving_on, position=2, kind=LessonKind.VIDEO, duration_seconds=50
    )
    factories.EnrollmentFactory(user=learner, course=moving_on)
    watch(client, first, 99.5)

    cancelled = factories.PublishedCourseFactory()
    factories.LessonFactory(course=cancelled, position=1, kind=LessonKind.TEXT)
    factories.EnrollmentFactory(user=learner, course=cancelled, status=EnrollmentStatus.CANCELLED)
    hidden = factories.CourseFactory()
    factories.EnrollmentFactory(user=learner, course=hidden)
    return learner, client, second


def test_dashboard_json_is_the_documented_serializers_json(busy_learner):
    learner, client, second = busy_learner
    entries = selectors.dashboard(user=learner, policy=services.progress_policy())
    documented = DashboardSerializer({"count": len(entries), "results": entries}).data

    response = client.get(DASHBOARD)

    assert response.status_code == 200
    assert dashboard_payload(entries) == documented
    assert response.content == JSONRenderer().render(documented)
    body = response.json()
    assert body["count"] == 5
    statuses = {row["course_slug"]: row["enrollment_status"] for row in body["results"]}
    assert sorted(statuses.values()) == ["active"] * 4 + ["completed"]
    assert [row["resume"] for row in body["results"]].count(None) == 1
    resumes = {row["resume"]["lesson"] for row in body["results"] if row["resume"]}
    assert str(second.pk) in resumes  # the first video is finished: on to the next one


def test_dashboard_figures_equal_course_progress_for_every_course(busy_learner):
    """The dashboard reads `ProgressSummary` tuples; `course_progress` reads full records and
    builds every lesson's state. Both must agree on every figure and on where to resume."""
    learner, _, _ = busy_learner
    policy = services.progress_policy()
    entries = selectors.dashboard(user=learner, policy=policy)
    assert len(entries) == 5

    for entry in entries:
        course = Course.objects.get(pk=entry.enrollment.course_id)
        full = selectors.course_progress(
            course=course,
            user_id=learner.pk,
            enrollment_status=entry.enrollment.status,
            policy=policy,
        )
        summary = entry.progress
        assert (
            summary.total_lessons,
            summary.completed_lessons,
            summary.percent_complete,
            summary.last_activity_at,
            summary.resume,
        ) == (
            full.total_lessons,
            full.completed_lessons,
            full.percent_complete,
            full.last_activity_at,
            full.resume,
        )
    figures = {
        entry.enrollment.course.title: (entry.progress.completed_lessons, entry.progress.resume)
        for entry in entries
    }
    assert figures["Café ✓ « quoted »"][0] == 0
    assert sum(1 for completed, resume in figures.values() if resume is None) == 1
