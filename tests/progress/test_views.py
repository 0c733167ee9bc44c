"""Course progress, resume pointer, dashboard, history and the instructor analytics.

Real parts: URL routes, JWT authentication, views, selectors, services and the database. Tests
taking `store` run with the SQL store and with the MongoDB store on mongomock (a mock of the
MongoDB server).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from enrollments.models import Enrollment, EnrollmentStatus
from lessons.models import LessonKind
from progress.ledger import Heartbeat, Policy
from tests import factories
from tests.core.assertions import assert_problem
from tests.progress.conftest import heartbeat_body

HEARTBEAT = "/api/v1/progress/heartbeat/"
DASHBOARD = "/api/v1/progress/dashboard/"
HISTORY = "/api/v1/progress/history/"


def progress_url(course) -> str:
    return f"/api/v1/progress/courses/{course.pk}/"


@pytest.fixture(autouse=True)
def generous(settings):
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000


def watch(client, lesson, seconds, position=None, seq=0, session="p"):
    response = client.post(
        HEARTBEAT,
        heartbeat_body(
            lesson, seq, seconds if position is None else position, [(0, seconds)], session
        ),
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def complete(client, lesson):
    response = client.post(f"/api/v1/progress/lessons/{lesson.pk}/complete/")
    assert response.status_code == 200, response.content


# --- Course progress --------------------------------------------------------------------------


def test_course_progress_before_anything(classroom, store):
    body = classroom.client("enrolled_student").get(progress_url(classroom.course)).json()

    assert body["course"] == str(classroom.course.pk)
    assert body["user"] == str(classroom.learner.pk)
    assert body["enrollment_status"] == "active"
    assert (body["completed_lessons"], body["total_lessons"]) == (0, 3)
    assert body["percent_complete"] == 0.0
    assert body["last_activity_at"] is None
    assert [lesson["lesson"] for lesson in body["lessons"]] == [
        str(lesson.pk) for lesson in classroom.lessons
    ]
    assert {lesson["status"] for lesson in body["lessons"]} == {"not_started"}
    assert body["resume"]["lesson"] == str(classroom.text.pk)
    assert body["resume"]["position"] == 0.0


def test_course_progress_counts_completed_lessons(classroom, store):
    client = classroom.client("enrolled_student")
    complete(client, classroom.text)
    watch(client, classroom.video, 30)

    body = client.get(progress_url(classroom.course)).json()

    assert (body["completed_lessons"], body["total_lessons"]) == (1, 3)
    assert body["percent_complete"] == 33.3
    states = {lesson["lesson"]: lesson for lesson in body["lessons"]}
    assert states[str(classroom.text.pk)]["status"] == "completed"
    video = states[str(classroom.video.pk)]
    assert (video["status"], video["coverage"], video["position"]) == ("in_progress", 0.3, 30.0)
    assert states[str(classroom.video2.pk)]["status"] == "not_started"
    assert body["resume"] == {
        "lesson": str(classroom.video.pk),
        "title": classroom.video.title,
        "kind": "video",
        "position": 30.0,
    }
    assert body["last_activity_at"] is not None


def test_resume_moves_to_the_next_lesson_from_the_final_seconds(classroom, store):
    client = classroom.client("enrolled_student")
    watch(client, classroom.video, 30, position=95.0)  # within the last 10 s of 100

    resume = client.get(progress_url(classroom.course)).json()["resume"]

    assert resume["lesson"] == str(classroom.video2.pk)
    assert resume["position"] == 0.0


def test_resume_after_a_completed_reading_is_the_next_lesson(classroom, store):
    client = classroom.client("enrolled_student")
    complete(client, classroom.text)
    assert client.get(progress_url(classroom.course)).json()["resume"]["lesson"] == str(
        classroom.video.pk
    )


def test_resume_after_the_last_lesson_goes_to_the_first_unfinished(classroom, store):
    client = classroom.client("enrolled_student")
    watch(client, classroom.video2, 58, position=58.0)
    resume = client.get(progress_url(classroom.course)).json()["resume"]
    assert resume["lesson"] == str(classroom.text.pk)


def test_staff_read_a_learners_progress_with_user(classroom, store):
    watch(classroom.client("enrolled_student"), classroom.video, 20)

    for role in ("owner", "admin"):
        response = classroom.client(role).get(
            progress_url(classroom.course), {"user": str(classroom.learner.pk)}
        )
        assert response.status_code == 200
        assert response.json()["user"] == str(classroom.learner.pk)
        assert response.json()["lessons"][1]["watched_seconds"] == 20.0


def test_staff_get_404_for_a_user_not_in_the_course(classroom):
    response = classroom.client("owner").get(
        progress_url(classroom.course), {"user": str(classroom.users["student"].pk)}
    )
    assert_problem(response, 404, "not_found")


def test_user_must_be_a_uuid(classroom):
    response = classroom.client("owner").get(progress_url(classroom.course), {"user": "me"})
    assert "user" in assert_problem(response, 400, "validation_error")["errors"]


def test_learners_may_name_themselves_but_no_one_else(classroom):
    client = classroom.client("enrolled_student")
    own = client.get(progress_url(classroom.course), {"user": str(classroom.learner.pk)})
    assert own.status_code == 200
    other = client.get(progress_url(classroom.course), {"user": str(classroom.users["owner"].pk)})
    assert_problem(other, 403, "not_course_staff")


def test_cancelled_learners_lose_their_progress_view_but_staff_keep_it(classroom):
    Enrollment.objects.filter(user=classroom.learner).update(status=EnrollmentStatus.CANCELLED)
    response = classroom.client("enrolled_student").get(progress_url(classroom.course))
    assert_problem(response, 403, "not_enrolled")
    staff = classroom.client("owner").get(
        progress_url(classroom.course), {"user": str(classroom.learner.pk)}
    )
    assert staff.json()["enrollment_status"] == "cancelled"


# --- Dashboard --------------------------------------------------------------------------------


def test_dashboard_lists_enrollments_with_progress(classroom, store):
    learner = classroom.learner
    client = classroom.client("enrolled_student")
    other_course = factories.PublishedCourseFactory()
    factories.LessonFactory(course=other_course, position=1, kind=LessonKind.TEXT)
    factories.EnrollmentFactory(user=learner, course=other_course)
    cancelled = factories.PublishedCourseFactory()
    factories.EnrollmentFactory(user=learner, course=cancelled, status=EnrollmentStatus.CANCELLED)
    complete(client, classroom.text)
    watch(client, classroom.video, 40)

    body = client.get(DASHBOARD).json()

    assert body["count"] == 2
    rows = {row["course"]: row for row in body["results"]}
    assert set(rows) == {str(classroom.course.pk), str(other_course.pk)}
    mine = rows[str(classroom.course.pk)]
    assert mine["enrollment_status"] == "active"
    assert mine["percent_complete"] == 33.3
    assert (mine["completed_lessons"], mine["total_lessons"]) == (1, 3)
    assert mine["resume"]["lesson"] == str(classroom.video.pk)
    assert mine["resume"]["position"] == 40.0
    assert mine["last_activity_at"] is not None
    untouched = rows[str(other_course.pk)]
    assert (untouched["percent_complete"], untouched["last_activity_at"]) == (0.0, None)


def test_dashboard_of_someone_without_enrollments_is_empty(classroom):
    assert classroom.client("student").get(DASHBOARD).json() == {"count": 0, "results": []}


# --- History ----------------------------------------------------------------------------------


def test_history_is_newest_first_and_paginated(classroom, store):
    client = classroom.client("enrolled_student")
    complete(client, classroom.text)
    watch(client, classroom.video, 10)
    watch(client, classroom.video2, 5)
    watch(classroom.client("admin"), classroom.video, 10)  # a preview: not in anyone's history

    first = client.get(HISTORY, {"page_size": 2}).json()
    second = client.get(HISTORY, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert [row["lesson"] for row in first["results"]] == [
        str(classroom.video2.pk),
        str(classroom.video.pk),
    ]
    assert [row["lesson"] for row in second["results"]] == [str(classroom.text.pk)]
    row = first["results"][0]
    assert row["lesson_title"] == "Second video"
    assert row["course"] == str(classroom.course.pk)
    assert row["course_title"] == classroom.course.title
    assert (row["status"], row["watched_seconds"]) == ("in_progress", 5.0)
    assert second["results"][0]["status"] == "completed"
    assert first["next"] is not None and second["next"] is None


def test_history_only_shows_your_own_activity(classroom, store):
    watch(classroom.client("enrolled_student"), classroom.video, 10)
    assert classroom.client("student").get(HISTORY).json()["count"] == 0


def test_history_page_out_of_range_is_404(classroom):
    response = classroom.client("enrolled_student").get(HISTORY, {"page": 9})
    assert_problem(response, 404, "not_found")


# --- Analytics --------------------------------------------------------------------------------


def _learner(classroom):
    user = factories.UserFactory()
    factories.EnrollmentFactory(user=user, course=classroom.course)
    return user, classroom.make_client(user)


def test_course_analytics(classroom, store, make_client):
    first, first_client = _learner(classroom)
    _, second_client = _learner(classroom)
    watch(first_client, classroom.video, 100)
    watch(second_client, classroom.video, 20)
    complete(second_client, classroom.text)
    watch(classroom.client("enrolled_student"), classroom.video, 50)
    Enrollment.objects.filter(user=first).update(status=EnrollmentStatus.COMPLETED)
    factories.EnrollmentFactory(course=classroom.course, status=EnrollmentStatus.CANCELLED)
    # A learner last seen 8 days ago is not active.
    stale, _ = _learner(classroom)
    store.record_heartbeat(
        user_id=stale.pk,
        course_id=classroom.course.pk,
        lesson_id=classroom.video2.pk,
        duration=60.0,
        heartbeat=Heartbeat(session="s", seq=0, position=3.0, ranges=((0, 3),)),
        policy=Policy(),
        now=timezone.now() - timedelta(days=8),
    )

    response = classroom.client("owner").get(f"/api/v1/courses/{classroom.course.pk}/analytics/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["course"] == str(classroom.course.pk)
    assert body["enrollments"] == 4  # three learners above plus the fixture's, not the cancelled
    assert body["completed_enrollments"] == 1
    assert body["completion_rate"] == 0.25
    assert body["active_learners_7d"] == 3
    lessons = {row["lesson"]: row for row in body["lessons"]}
    assert list(lessons) == [str(lesson.pk) for lesson in classroom.lessons]
    video = lessons[str(classroom.video.pk)]
    assert (video["started"], video["completed"]) == (3, 1)
    assert video["median_coverage"] == pytest.approx(0.5)
    text = lessons[str(classroom.text.pk)]
    assert (text["started"], text["completed"], text["median_coverage"]) == (1, 1, 1.0)
    video2 = lessons[str(classroom.video2.pk)]
    assert (video2["started"], video2["completed"]) == (1, 0)
    assert video2["median_coverage"] == pytest.approx(0.05)


def test_course_analytics_without_any_progress(classroom):
    body = classroom.client("admin").get(f"/api/v1/courses/{classroom.course.pk}/analytics/").json()
    assert body["active_learners_7d"] == 0
    assert all(row["median_coverage"] is None for row in body["lessons"])
    assert all(row["started"] == 0 for row in body["lessons"])


def test_retention_curve(classroom, store):
    for seconds in (100, 50, 12):
        _, client = _learner(classroom)
        watch(client, classroom.video, seconds)
    _, idle = _learner(classroom)
    idle.post(HEARTBEAT, heartbeat_body(classroom.video, 0, 0.0), format="json")

    response = classroom.client("owner").get(
        f"/api/v1/lessons/{classroom.video.pk}/analytics/retention/"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["lesson"], body["duration"], body["bucket_seconds"]) == (
        str(classroom.video.pk),
        100.0,
        5,
    )
    assert body["viewers"] == 3
    buckets = body["buckets"]
    assert len(buckets) == 20
    assert buckets[0] == {"start": 0.0, "end": 5.0, "viewers": 3, "share": 1.0}
    assert buckets[2]["viewers"] == 2  # midpoint 12.5 is past the 12 s learner
    assert buckets[9]["viewers"] == 2  # 47.5 is within 50 s
    assert buckets[10] == {"start": 50.0, "end": 55.0, "viewers": 1, "share": 0.3333}
    assert buckets[19]["viewers"] == 1


def test_retention_is_for_videos(classroom):
    response = classroom.client("owner").get(
        f"/api/v1/lessons/{classroom.text.pk}/analytics/retention/"
    )
    assert_problem(response, 409, "lesson_not_video")
