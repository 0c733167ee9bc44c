"""`POST /api/v1/progress/heartbeat/` and `POST /api/v1/progress/lessons/{id}/complete/`.

Real parts: URL routes, JWT authentication, serializers, services, the enrollments service and
signal, and the database. Tests taking `store` run twice: with the SQL store and with the
MongoDB store on mongomock (a mock of the MongoDB server).
"""

from __future__ import annotations

import json

import pytest

from enrollments.models import Enrollment, EnrollmentStatus
from enrollments.signals import enrollment_completed
from progress.models import LessonProgress
from tests.core.assertions import assert_problem
from tests.progress.conftest import heartbeat_body

URL = "/api/v1/progress/heartbeat/"


def complete_url(lesson) -> str:
    return f"/api/v1/progress/lessons/{lesson.pk}/complete/"


@pytest.fixture
def generous(settings):
    """A large slack, so a test can claim a lot of watching in one heartbeat."""
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000


@pytest.fixture
def signals():
    received = []

    def receiver(sender, enrollment, **kwargs):
        received.append(enrollment.pk)

    enrollment_completed.connect(receiver, weak=False)
    yield received
    enrollment_completed.disconnect(receiver)


def post(client, body):
    return client.post(URL, body, format="json")


def test_heartbeat_records_and_answers_the_lesson_state(classroom, store):
    client = classroom.client("enrolled_student")

    response = post(client, heartbeat_body(classroom.video, 0, 8.0, [(0, 8)]))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lesson"] == str(classroom.video.pk)
    assert body["course"] == str(classroom.course.pk)
    assert body["status"] == "in_progress"
    assert body["watched_seconds"] == 8.0
    assert body["duration"] == 100.0
    assert body["coverage"] == pytest.approx(0.08)
    assert body["position"] == 8.0
    assert body["completed"] is False
    assert (body["recorded"], body["applied"]) == (True, True)
    assert (body["added_seconds"], body["ignored_seconds"]) == (8.0, 0.0)
    assert body["course_completed"] is False
    stored = store.get(user_id=classroom.learner.pk, lesson_id=classroom.video.pk)
    assert stored.watched_seconds == 8.0


def test_the_same_heartbeat_twice_changes_nothing(classroom, store):
    client = classroom.client("enrolled_student")
    first = post(client, heartbeat_body(classroom.video, 3, 8.0, [(0, 8)])).json()
    replay = post(client, heartbeat_body(classroom.video, 3, 8.0, [(0, 8)])).json()

    assert replay["applied"] is False
    assert replay["added_seconds"] == 0
    assert replay["updated_at"] == first["updated_at"]
    assert replay["watched_seconds"] == first["watched_seconds"] == 8.0


def test_out_of_order_heartbeats_merge(classroom, store):
    client = classroom.client("enrolled_student")
    post(client, heartbeat_body(classroom.video, 0, 5.0, [(0, 5)]))
    post(client, heartbeat_body(classroom.video, 2, 12.0, [(8, 12)]))
    late = post(client, heartbeat_body(classroom.video, 1, 8.0, [(5, 8)])).json()

    assert late["applied"] is True
    assert late["watched_seconds"] == 12.0
    assert late["position"] == 12.0
    record = store.get(
        user_id=classroom.learner.pk, lesson_id=classroom.video.pk, with_intervals=True
    )
    assert record.intervals == ((0.0, 12.0),)


def test_claims_beyond_the_wall_clock_are_ignored_not_refused(classroom, store, settings):
    settings.PROGRESS_RATE_SLACK_SECONDS = 10
    client = classroom.client("enrolled_student")

    response = post(client, heartbeat_body(classroom.video, 0, 95.0, [(0, 95)]))

    assert response.status_code == 200
    body = response.json()
    assert body["watched_seconds"] == 10.0
    assert body["ignored_seconds"] == 85.0
    assert body["completed"] is False


def test_seeking_to_95_percent_does_not_complete(classroom, store):
    client = classroom.client("enrolled_student")
    post(client, heartbeat_body(classroom.video, 0, 2.0, [(0, 2)]))
    body = post(client, heartbeat_body(classroom.video, 1, 95.0, [])).json()

    assert body["completed"] is False
    assert body["status"] == "in_progress"
    assert body["position"] == 95.0
    assert body["watched_seconds"] == 2.0


def test_a_video_completes_at_the_threshold_and_never_reverts(classroom, store, generous):
    client = classroom.client("enrolled_student")
    below = post(client, heartbeat_body(classroom.video, 0, 89.0, [(0, 89)])).json()
    assert below["completed"] is False

    done = post(client, heartbeat_body(classroom.video, 1, 90.0, [(89, 90)])).json()
    assert done["completed"] is True
    assert done["status"] == "completed"
    assert done["completed_at"] is not None

    after = post(client, heartbeat_body(classroom.video, 2, 0.0, [])).json()
    assert after["completed"] is True
    assert after["completed_at"] == done["completed_at"]


def test_restarting_does_not_reset_the_resume_position(classroom, store, generous):
    client = classroom.client("enrolled_student")
    post(client, heartbeat_body(classroom.video, 0, 40.0, [(0, 40)]))
    body = post(client, heartbeat_body(classroom.video, 1, 0.0, [])).json()
    assert body["position"] == 40.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ranges": [[-1, 5]]}, "ranges.0.0"),
        ({"ranges": [[10, 5]]}, "ranges.0"),
        ({"ranges": [[90, 101]]}, "ranges"),
        ({"ranges": [[0, "5"]]}, "ranges.0.1"),
        ({"ranges": [[0, True]]}, "ranges.0.1"),
        ({"ranges": [[0, 1, 2]]}, "ranges.0"),
        ({"ranges": [[0]]}, "ranges.0"),
        ({"ranges": "0-5"}, "ranges"),
        ({"ranges": [[index, index + 0.5] for index in range(101)]}, "ranges"),
        ({"seq": -1}, "seq"),
        ({"seq": 1.5}, "seq"),
        ({"seq": "1"}, "seq"),
        ({"seq": 2**60}, "seq"),
        ({"position": "ten"}, "position"),
        ({"position": -2}, "position"),
        ({"position": 150}, "position"),
        ({"session": ""}, "session"),
        ({"session": "x" * 65}, "session"),
        ({"session": "tab one"}, "session"),
        ({"lesson": "not-a-uuid"}, "lesson"),
        ({"lesson": "00000000-0000-0000-0000-000000000000"}, "lesson"),
    ],
)
def test_bad_heartbeats_are_400_problems(classroom, change, field):
    body = {**heartbeat_body(classroom.video, 0, 1.0, [(0, 1)]), **change}

    response = post(classroom.client("enrolled_student"), body)

    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"], problem["errors"]
    assert not LessonProgress.objects.exists()


@pytest.mark.parametrize("missing", ["lesson", "session", "seq", "position"])
def test_required_fields(classroom, missing):
    body = heartbeat_body(classroom.video, 0, 1.0, [(0, 1)])
    del body[missing]
    problem = assert_problem(
        post(classroom.client("enrolled_student"), body), 400, "validation_error"
    )
    assert missing in problem["errors"]


def test_numbers_too_large_for_a_float_are_refused(classroom):
    raw = json.dumps(heartbeat_body(classroom.video, 0, 1.0, [(0, 1)])).replace(
        "[[0, 1]]", "[[0, 1e400]]"
    )
    response = classroom.client("enrolled_student").post(URL, raw, content_type="application/json")
    problem = assert_problem(response, 400, "validation_error")
    assert "ranges.0.1" in problem["errors"]


def test_nan_and_infinity_literals_are_refused(classroom):
    client = classroom.client("enrolled_student")
    raw = json.dumps(heartbeat_body(classroom.video, 0, 1.0, [(0, 1)]))
    raw = raw.replace('"position": 1.0', '"position": NaN').replace("[[0, 1]]", "[[0, Infinity]]")
    assert "NaN" in raw and "Infinity" in raw
    response = client.post(URL, raw, content_type="application/json")
    assert_problem(response, 400, "parse_error")


def test_ranges_a_fraction_past_the_duration_are_clamped(classroom, generous):
    response = post(
        classroom.client("enrolled_student"),
        heartbeat_body(classroom.video, 0, 100.4, [(95, 100.5)]),
    )
    assert response.status_code == 200
    assert response.json()["watched_seconds"] == 5.0
    assert response.json()["position"] == 100.0


def test_a_hidden_lesson_answers_like_an_unknown_one(classroom):
    response = post(classroom.client("student"), heartbeat_body(classroom.draft_video, 0, 1.0))
    problem = assert_problem(response, 400, "validation_error")
    unknown = post(
        classroom.client("student"),
        {**heartbeat_body(classroom.video), "lesson": "00000000-0000-0000-0000-000000000000"},
    ).json()
    assert problem["errors"]["lesson"] == unknown["errors"]["lesson"]


def test_a_learner_without_a_seat_is_403_not_enrolled(classroom):
    response = post(classroom.client("student"), heartbeat_body(classroom.video, 0, 1.0))
    assert_problem(response, 403, "not_enrolled")


def test_a_cancelled_enrollment_no_longer_records(classroom):
    Enrollment.objects.filter(user=classroom.learner).update(status=EnrollmentStatus.CANCELLED)
    response = post(classroom.client("enrolled_student"), heartbeat_body(classroom.video))
    assert_problem(response, 403, "not_enrolled")


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_previews_store_nothing(classroom, store, role):
    client = classroom.client(role)
    response = post(client, heartbeat_body(classroom.video, 0, 95.0, [(0, 95)]))

    assert response.status_code == 200
    body = response.json()
    assert body["recorded"] is False
    assert body["watched_seconds"] == 95.0
    assert body["completed"] is True
    assert store.get(user_id=classroom.users[role].pk, lesson_id=classroom.video.pk) is None
    assert store.count_for_user(user_id=classroom.users[role].pk) == 0


def test_heartbeats_on_text_lessons_are_409(classroom):
    response = post(classroom.client("enrolled_student"), heartbeat_body(classroom.text))
    assert_problem(response, 409, "lesson_not_video")


def test_heartbeats_on_a_video_of_unknown_duration_are_409(classroom):
    classroom.video.duration_seconds = 0
    classroom.video.save(update_fields=["duration_seconds"])
    response = post(
        classroom.client("enrolled_student"), heartbeat_body(classroom.video, 0, 3.0, [(0, 3)])
    )
    assert_problem(response, 409, "lesson_duration_unknown")
    assert not LessonProgress.objects.exists()


def test_completing_a_text_lesson_is_idempotent(classroom, store):
    client = classroom.client("enrolled_student")
    first = client.post(complete_url(classroom.text))
    again = client.post(complete_url(classroom.text))

    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["status"], body["completed"], body["coverage"]) == ("completed", True, 1.0)
    assert (body["recorded"], body["newly_completed"]) == (True, True)
    assert again.json()["newly_completed"] is False
    assert again.json()["completed_at"] == body["completed_at"]


def test_video_lessons_cannot_be_completed_by_hand(classroom):
    response = classroom.client("enrolled_student").post(complete_url(classroom.video))
    assert_problem(response, 409, "lesson_is_video")


def test_completing_every_lesson_completes_the_course_once(
    classroom, store, generous, signals, django_capture_on_commit_callbacks
):
    client = classroom.client("enrolled_student")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(complete_url(classroom.text))
        post(client, heartbeat_body(classroom.video, 0, 100.0, [(0, 100)]))
    enrollment = Enrollment.objects.get(user=classroom.learner, course=classroom.course)
    assert enrollment.status == EnrollmentStatus.ACTIVE
    assert signals == []

    with django_capture_on_commit_callbacks(execute=True):
        last = post(client, heartbeat_body(classroom.video2, 0, 60.0, [(0, 60)])).json()
        again = post(client, heartbeat_body(classroom.video2, 1, 60.0, [(0, 60)])).json()
        client.post(complete_url(classroom.text))

    assert last["completed"] is True
    assert last["course_completed"] is True
    assert again["course_completed"] is True
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert enrollment.completed_at is not None
    assert signals == [enrollment.pk]


def test_a_completed_enrollment_keeps_recording(classroom, store, generous):
    Enrollment.objects.filter(user=classroom.learner).update(status=EnrollmentStatus.COMPLETED)
    body = post(
        classroom.client("enrolled_student"), heartbeat_body(classroom.video, 0, 5.0, [(0, 5)])
    ).json()
    assert body["recorded"] is True
    assert body["course_completed"] is True
    assert store.get(user_id=classroom.learner.pk, lesson_id=classroom.video.pk) is not None


def test_heartbeats_accept_json_only(classroom):
    response = classroom.client("enrolled_student").post(
        URL, {"lesson": str(classroom.video.pk), "session": "s", "seq": 0, "position": 0}
    )
    # The test client sends JSON by default; send a form explicitly.
    form = classroom.client("enrolled_student").post(
        URL,
        {"lesson": str(classroom.video.pk), "session": "s", "seq": "0", "position": "0"},
        format="multipart",
    )
    assert response.status_code == 200
    assert_problem(form, 415, "unsupported_media_type")
