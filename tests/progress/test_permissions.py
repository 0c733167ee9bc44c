"""Permission matrix of every progress endpoint, for every role, on a published and a draft
course; and that learners only ever see their own progress.

Real parts: URL routes, JWT authentication, views, services, selectors and the SQL store.
Policy: 401 without an account; hidden lessons and courses answer like unknown ids (400 for the
`lesson` of a heartbeat body, 404 in a path); no seat → 403 `not_enrolled`; other learners'
progress and analytics → 403 `not_course_staff`; the owner and admins get previews.
"""

from __future__ import annotations

import pytest

from lessons.models import LessonKind
from progress.models import LessonProgress
from tests import factories
from tests.progress.conftest import ROLES, heartbeat_body, matrix

# (name, statuses on the published course, statuses on the draft course)
CASES = [
    ("heartbeat", matrix(401, 403, 200, 403, 200, 200), matrix(401, 400, 400, 400, 200, 200)),
    ("complete", matrix(401, 403, 200, 403, 200, 200), matrix(401, 404, 404, 404, 200, 200)),
    ("progress", matrix(401, 403, 200, 403, 403, 403), matrix(401, 404, 404, 404, 403, 403)),
    (
        "progress_of_learner",
        matrix(401, 403, 200, 403, 200, 200),
        matrix(401, 404, 404, 404, 404, 404),
    ),
    ("dashboard", matrix(401, 200, 200, 200, 200, 200), matrix(401, 200, 200, 200, 200, 200)),
    ("history", matrix(401, 200, 200, 200, 200, 200), matrix(401, 200, 200, 200, 200, 200)),
    ("analytics", matrix(401, 403, 403, 403, 200, 200), matrix(401, 404, 404, 404, 200, 200)),
    ("retention", matrix(401, 403, 403, 403, 200, 200), matrix(401, 404, 404, 404, 200, 200)),
]
CODES = {401: "not_authenticated", 403: None, 404: "not_found", 400: "validation_error"}


def _request(classroom, name, state, client):
    course = classroom.course if state == "published" else classroom.draft
    video = classroom.video if state == "published" else classroom.draft_video
    text = classroom.text if state == "published" else classroom.draft_text
    if name == "heartbeat":
        body = heartbeat_body(video, 0, 2.0, [(0, 2)])
        return client.post("/api/v1/progress/heartbeat/", body, format="json")
    if name == "complete":
        return client.post(f"/api/v1/progress/lessons/{text.pk}/complete/")
    if name == "progress":
        return client.get(f"/api/v1/progress/courses/{course.pk}/")
    if name == "progress_of_learner":
        params = {"user": str(classroom.learner.pk)}
        return client.get(f"/api/v1/progress/courses/{course.pk}/", params)
    if name == "dashboard":
        return client.get("/api/v1/progress/dashboard/")
    if name == "history":
        return client.get("/api/v1/progress/history/")
    if name == "analytics":
        return client.get(f"/api/v1/courses/{course.pk}/analytics/")
    return client.get(f"/api/v1/lessons/{video.pk}/analytics/retention/")


def _params():
    for name, published, draft in CASES:
        for state, table in (("published", published), ("draft", draft)):
            for role, expected in table:
                yield pytest.param(name, state, role, expected, id=f"{name}-{state}-{role}")


@pytest.mark.parametrize(("name", "state", "role", "expected"), list(_params()))
def test_progress_endpoints(classroom, name, state, role, expected):
    classroom.draft_text = factories.LessonFactory(
        course=classroom.draft, position=2, kind=LessonKind.TEXT
    )
    response = _request(classroom, name, state, classroom.client(role))

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        if CODES[expected]:
            assert body["code"] == CODES[expected]
        if expected == 403:
            staff_only = name in ("analytics", "retention", "progress_of_learner")
            assert body["code"] == ("not_course_staff" if staff_only else "not_enrolled")
        if expected == 400:
            assert "lesson" in body["errors"]
    # Only a learner holding a seat ever writes progress.
    writers = set(LessonProgress.objects.values_list("user_id", flat=True))
    if name in ("heartbeat", "complete") and role == "enrolled_student" and expected == 200:
        assert writers == {classroom.learner.pk}
    else:
        assert writers == set()


@pytest.mark.parametrize("role", [role for role in ROLES if role != "anonymous"])
def test_learners_only_ever_see_their_own_progress(classroom, role):
    client = classroom.client("enrolled_student")
    client.post(
        "/api/v1/progress/heartbeat/",
        heartbeat_body(classroom.video, 0, 5.0, [(0, 5)]),
        format="json",
    )
    caller = classroom.client(role)
    history = caller.get("/api/v1/progress/history/").json()
    dashboard = caller.get("/api/v1/progress/dashboard/").json()

    mine = role == "enrolled_student"
    assert history["count"] == (1 if mine else 0)
    assert dashboard["count"] == (1 if mine else 0)
    if mine:
        assert dashboard["results"][0]["last_activity_at"] is not None
