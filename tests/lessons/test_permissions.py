"""Permission matrix of the module, lesson and course-reorder endpoints, for every role and for
a published and a draft course; plus who reads lesson bodies.

Real parts: URL routes, JWT authentication, viewsets, serializers, services, the enrollment
selectors and the database. Items of hidden (draft) courses answer 404 and are absent from
lists; forbidden changes to visible items answer 403; an invisible target course is a 400.
"""

from __future__ import annotations

import pytest

from lessons.models import Lesson, Module
from tests.courses.world import ROLES, matrix

pytestmark = pytest.mark.django_db

OWNERS = ("owner", "admin")

EVERYONE = matrix(200, 200, 200, 200, 200, 200)
HIDDEN = matrix(404, 404, 404, 404, 200, 200)
CREATE_PUBLISHED = matrix(401, 403, 403, 403, 201, 201)
CREATE_DRAFT = matrix(401, 400, 400, 400, 201, 201)  # the draft is not a valid `course` for them
CHANGE_PUBLISHED = matrix(401, 403, 403, 403, 200, 200)
CHANGE_DRAFT = matrix(401, 404, 404, 404, 200, 200)
DELETE_PUBLISHED = matrix(401, 403, 403, 403, 204, 204)
DELETE_DRAFT = matrix(401, 404, 404, 404, 204, 204)

# (resource, action, method, on the item?, statuses for the published course, for the draft)
CASES = [
    (resource, action, method, on_item, published, draft)
    for resource in ("modules", "lessons")
    for action, method, on_item, published, draft in (
        ("retrieve", "get", True, EVERYONE, HIDDEN),
        ("create", "post", False, CREATE_PUBLISHED, CREATE_DRAFT),
        ("patch", "patch", True, CHANGE_PUBLISHED, CHANGE_DRAFT),
        ("put", "put", True, CHANGE_PUBLISHED, CHANGE_DRAFT),
        ("delete", "delete", True, DELETE_PUBLISHED, DELETE_DRAFT),
    )
]


def _snapshot(world, state):
    course = world.courses[state]
    return (
        list(Module.objects.filter(course=course).values()),
        list(Lesson.objects.filter(course=course).values()),
    )


def _params():
    for resource, action, method, on_item, published, draft in CASES:
        for state, table in (("published", published), ("draft", draft)):
            for role, expected in table:
                yield pytest.param(
                    resource,
                    action,
                    method,
                    on_item,
                    state,
                    role,
                    expected,
                    id=f"{resource}-{action}-{state}-{role}",
                )


@pytest.mark.parametrize(
    ("resource", "action", "method", "on_item", "state", "role", "expected"), list(_params())
)
def test_module_and_lesson_endpoints(
    world, resource, action, method, on_item, state, role, expected
):
    course = world.courses[state]
    item = (world.modules if resource == "modules" else world.lessons)[state]
    path = f"/api/v1/{resource}/{item.pk}/" if on_item else f"/api/v1/{resource}/"
    body = {} if method in ("get", "delete") else {"course": str(course.pk), "title": "Changed"}
    before = _snapshot(world, state)
    response = getattr(world.client(role), method)(path, body, format="json")
    assert response.status_code == expected, response.content
    model = Module if resource == "modules" else Lesson
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert _snapshot(world, state) == before
        if expected == 400:
            assert "course" in response.json()["errors"]
    elif action == "delete":
        assert not model.objects.filter(pk=item.pk).exists()
    elif action == "create":
        created = model.objects.get(pk=response.json()["id"])
        assert (created.course_id, created.title) == (course.pk, "Changed")
    elif action in ("patch", "put"):
        assert model.objects.get(pk=item.pk).title == "Changed"
    else:
        assert response.json()["id"] == str(item.pk)


@pytest.mark.parametrize("resource", ["modules", "lessons"])
@pytest.mark.parametrize("role", ROLES)
def test_lists_hide_items_of_draft_courses(world, resource, role):
    client = world.client(role)
    items = world.modules if resource == "modules" else world.lessons
    listed = {row["id"] for row in client.get(f"/api/v1/{resource}/").json()["results"]}
    assert str(items["published"].pk) in listed
    assert (str(items["draft"].pk) in listed) == (role in OWNERS)
    draft_only = client.get(f"/api/v1/{resource}/", {"course": str(world.courses["draft"].pk)})
    assert draft_only.status_code == 200
    assert (draft_only.json()["count"] == 1) == (role in OWNERS)


@pytest.mark.parametrize(("role", "readable"), matrix(False, False, True, False, True, True))
def test_lesson_body_in_published_course(world, role, readable):
    lesson = world.lessons["published"]
    client = world.client(role)
    for body in (
        client.get(f"/api/v1/lessons/{lesson.pk}/").json(),
        client.get("/api/v1/lessons/", {"course": str(lesson.course_id)}).json()["results"][0],
    ):
        assert body["body_locked"] is (not readable)
        assert body["body"] == ("Secret published body" if readable else None)


@pytest.mark.parametrize("role", ROLES)
def test_preview_lesson_body_is_open_to_everyone(world, role):
    lesson = world.lessons["published"]
    lesson.is_preview = True
    lesson.save()
    body = world.client(role).get(f"/api/v1/lessons/{lesson.pk}/").json()
    assert (body["body"], body["body_locked"]) == ("Secret published body", False)


def test_cancelled_enrollment_no_longer_opens_bodies(world):
    enrollment = world.users["enrolled_student"].enrollments.get()
    enrollment.status = "cancelled"
    enrollment.save()
    lesson = world.lessons["published"]
    body = world.client("enrolled_student").get(f"/api/v1/lessons/{lesson.pk}/").json()
    assert (body["body"], body["body_locked"]) == (None, True)


# --- reorder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["published", "draft"])
@pytest.mark.parametrize(
    ("role", "published_status", "draft_status"),
    [(role, p, d) for (role, p), (_, d) in zip(CHANGE_PUBLISHED, CHANGE_DRAFT, strict=True)],
)
def test_reorder_endpoint(world, state, role, published_status, draft_status):
    course = world.courses[state]
    second = Module.objects.create(course=course, title="Second", position=2)
    first = world.modules[state]
    response = world.client(role).post(
        f"/api/v1/courses/{course.pk}/reorder/",
        {"modules": [str(second.pk), str(first.pk)]},
        format="json",
    )
    expected = published_status if state == "published" else draft_status
    assert response.status_code == expected, response.content
    order = list(
        Module.objects.filter(course=course).order_by("position").values_list("pk", flat=True)
    )
    if expected == 200:
        assert order == [second.pk, first.pk]
        assert [m["id"] for m in response.json()["modules"]] == [str(second.pk), str(first.pk)]
    else:
        assert response["Content-Type"] == "application/problem+json"
        assert order == [first.pk, second.pk]
