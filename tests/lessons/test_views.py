"""Module, lesson and reorder endpoints: shapes, positions through the API, moves, validation,
filters, pagination, query counts and problem+json for bad input.

Real parts: URL routes, JWT authentication, viewsets, serializers, services, the enrollment
selectors and the database (SQLite, or PostgreSQL/Redis with DATABASE_URL and REDIS_URL).
"""

from __future__ import annotations

import pytest

from lessons.models import Lesson, Module
from tests import factories

pytestmark = pytest.mark.django_db

MODULES = "/api/v1/modules/"
LESSONS = "/api/v1/lessons/"


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def course(instructor):
    return factories.PublishedCourseFactory(instructor=instructor)


@pytest.fixture
def owner(make_client, instructor):
    return make_client(instructor)


def _order(course, module=None) -> list[str]:
    return list(
        Lesson.objects.filter(course=course, module=module)
        .order_by("position")
        .values_list("title", flat=True)
    )


# --- shapes ----------------------------------------------------------------------------------


def test_module_and_lesson_shapes(owner, course):
    module = owner.post(MODULES, {"course": str(course.pk), "title": "Basics"}, format="json")
    assert module.status_code == 201
    assert module.json() == {
        "id": module.json()["id"],
        "course": str(course.pk),
        "title": "Basics",
        "position": 1,
    }
    lesson = owner.post(
        LESSONS,
        {
            "course": str(course.pk),
            "module": module.json()["id"],
            "title": "Hello",
            "kind": "video",
            "body": "# Title\n\nText  ",
            "duration_seconds": 90,
            "is_preview": True,
        },
        format="json",
    )
    assert lesson.status_code == 201, lesson.content
    body = lesson.json()
    assert set(body) == {
        "id", "course", "module", "title", "kind", "body", "body_locked", "duration_seconds",
        "position", "is_preview", "asset", "created_at", "updated_at",
    }  # fmt: skip
    assert body["module"] == module.json()["id"]
    assert (body["kind"], body["body"], body["duration_seconds"]) == (
        "video",
        "# Title\n\nText  ",
        90,
    )
    assert (body["position"], body["is_preview"], body["body_locked"]) == (1, True, False)


# --- positions through the API ---------------------------------------------------------------


def test_create_with_position_inserts_and_patch_moves(owner, course):
    for title in ("a", "b", "c"):
        owner.post(LESSONS, {"course": str(course.pk), "title": title}, format="json")
    inserted = owner.post(
        LESSONS, {"course": str(course.pk), "title": "first", "position": 1}, format="json"
    )
    assert inserted.json()["position"] == 1
    assert _order(course) == ["first", "a", "b", "c"]
    moved = owner.patch(f"{LESSONS}{inserted.json()['id']}/", {"position": 4}, format="json")
    assert moved.json()["position"] == 4
    assert _order(course) == ["a", "b", "c", "first"]
    assert list(
        Lesson.objects.filter(course=course).order_by("position").values_list("position", flat=True)
    ) == [1, 2, 3, 4]


def test_patch_module_moves_lesson_and_closes_gap(owner, course):
    module = factories.ModuleFactory(course=course, position=1)
    ids = [
        owner.post(LESSONS, {"course": str(course.pk), "title": t}, format="json").json()["id"]
        for t in ("a", "b", "c")
    ]
    response = owner.patch(f"{LESSONS}{ids[0]}/", {"module": str(module.pk)}, format="json")
    assert response.status_code == 200
    assert (response.json()["module"], response.json()["position"]) == (str(module.pk), 1)
    assert _order(course) == ["b", "c"]
    assert _order(course, module) == ["a"]
    response = owner.patch(f"{LESSONS}{ids[0]}/", {"module": None}, format="json")
    assert (response.json()["module"], response.json()["position"]) == (None, 3)


def test_delete_closes_gap(owner, course):
    ids = [
        owner.post(MODULES, {"course": str(course.pk), "title": t}, format="json").json()["id"]
        for t in ("a", "b", "c")
    ]
    assert owner.delete(f"{MODULES}{ids[1]}/").status_code == 204
    rows = (
        Module.objects.filter(course=course).order_by("position").values_list("title", "position")
    )
    assert list(rows) == [("a", 1), ("c", 2)]


def test_move_lesson_and_module_to_another_own_course(owner, course, instructor):
    target = factories.CourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    lesson = factories.LessonFactory(course=course, module=module, position=1)
    response = owner.patch(f"{LESSONS}{lesson.pk}/", {"course": str(target.pk)}, format="json")
    assert response.status_code == 200
    assert (response.json()["course"], response.json()["module"]) == (str(target.pk), None)
    back = factories.LessonFactory(course=course, module=module, position=1)
    response = owner.patch(f"{MODULES}{module.pk}/", {"course": str(target.pk)}, format="json")
    assert response.json()["course"] == str(target.pk)
    back.refresh_from_db()
    assert back.course_id == target.pk


def test_moving_into_a_course_of_someone_else(owner, course):
    lesson = factories.LessonFactory(course=course, position=1)
    module = factories.ModuleFactory(course=course, position=1)
    visible = factories.PublishedCourseFactory()  # another instructor's
    hidden = factories.CourseFactory()  # another instructor's draft
    for path in (f"{LESSONS}{lesson.pk}/", f"{MODULES}{module.pk}/"):
        _problem(
            owner.patch(path, {"course": str(visible.pk)}, format="json"), 403, "permission_denied"
        )
        body = _problem(
            owner.patch(path, {"course": str(hidden.pk)}, format="json"), 400, "validation_error"
        )
        assert "course" in body["errors"]
    lesson.refresh_from_db()
    module.refresh_from_db()
    assert lesson.course_id == module.course_id == course.pk


def test_module_of_another_course_is_400(owner, course, instructor):
    foreign = factories.ModuleFactory(
        course=factories.CourseFactory(instructor=instructor), position=1
    )
    response = owner.post(
        LESSONS, {"course": str(course.pk), "module": str(foreign.pk), "title": "x"}, format="json"
    )
    assert "module" in _problem(response, 400, "validation_error")["errors"]
    lesson = factories.LessonFactory(course=course, position=1)
    response = owner.patch(f"{LESSONS}{lesson.pk}/", {"module": str(foreign.pk)}, format="json")
    assert "module" in _problem(response, 400, "validation_error")["errors"]
    assert Lesson.objects.get(pk=lesson.pk).module_id is None
    assert not Lesson.objects.filter(title="x").exists()


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "payload", "field"),
    [
        ("modules", {}, "course"),
        ("modules", {"title": "x"}, "course"),
        ("modules", {"title": "", "course": "{course}"}, "title"),
        ("modules", {"title": "x", "course": "{course}", "position": 0}, "position"),
        ("modules", {"title": "x", "course": "{course}", "position": -2}, "position"),
        ("modules", {"title": "x", "course": "{course}", "position": "top"}, "position"),
        ("modules", {"title": "x", "course": "not-a-uuid"}, "course"),
        ("modules", {"title": "x", "course": 5}, "course"),
        ("modules", {"title": "x", "course": None}, "course"),
        ("lessons", {"title": "x", "course": "{course}", "kind": "audio"}, "kind"),
        (
            "lessons",
            {"title": "x", "course": "{course}", "duration_seconds": -1},
            "duration_seconds",
        ),
        (
            "lessons",
            {"title": "x", "course": "{course}", "duration_seconds": 2**40},
            "duration_seconds",
        ),
        ("lessons", {"title": "x", "course": "{course}", "module": "nope"}, "module"),
        ("lessons", {"title": "x", "course": "{course}", "is_preview": "maybe"}, "is_preview"),
        ("lessons", {"title": "x" * 201, "course": "{course}"}, "title"),
        ("lessons", {"title": "x", "course": "{course}", "body": 12.5}, None),  # coerced: fine
    ],
)
def test_bad_input_is_400(owner, course, resource, payload, field):
    payload = {k: (str(course.pk) if v == "{course}" else v) for k, v in payload.items()}
    response = owner.post(f"/api/v1/{resource}/", payload, format="json")
    if field is None:
        assert response.status_code == 201
        return
    assert field in _problem(response, 400, "validation_error")["errors"]
    assert not Module.objects.exists()
    assert not Lesson.objects.exists()


def test_malformed_json_is_400(owner):
    response = owner.post(LESSONS, data='{"title": ', content_type="application/json")
    _problem(response, 400, "parse_error")


@pytest.mark.parametrize("path", [f"{LESSONS}nope/", f"{MODULES}1/", "/api/v1/courses/x/reorder/"])
def test_invalid_uuid_in_path_is_404(make_client, admin_user, path):
    client = make_client(admin_user)
    _problem(client.get(path), 404, "not_found")
    _problem(client.post(path, {}, format="json"), 404, "not_found")


@pytest.mark.parametrize("resource", ["modules", "lessons"])
def test_invalid_filter_and_page(make_client, resource, course):
    client = make_client()
    body = _problem(client.get(f"/api/v1/{resource}/", {"course": "zzz"}), 400, "validation_error")
    assert "course" in body["errors"]
    _problem(client.get(f"/api/v1/{resource}/", {"page": 9}), 404, "not_found")


# --- filters and ordering --------------------------------------------------------------------


def test_lesson_filters_and_outline_order(make_client, course):
    second = factories.ModuleFactory(course=course, position=2, title="second")
    first = factories.ModuleFactory(course=course, position=1, title="first")
    factories.LessonFactory(course=course, module=second, position=1, title="s1")
    factories.LessonFactory(course=course, module=first, position=2, title="f2")
    factories.LessonFactory(course=course, module=first, position=1, title="f1")
    factories.LessonFactory(course=course, module=None, position=1, title="root")
    factories.LessonFactory(course=factories.PublishedCourseFactory(), position=1, title="other")
    client = make_client()
    titles = [r["title"] for r in client.get(LESSONS, {"course": str(course.pk)}).json()["results"]]
    assert titles == ["root", "f1", "f2", "s1"]
    titles = [r["title"] for r in client.get(LESSONS, {"module": str(first.pk)}).json()["results"]]
    assert titles == ["f1", "f2"]
    modules = client.get(MODULES, {"course": str(course.pk)}).json()["results"]
    assert [m["title"] for m in modules] == ["first", "second"]


# --- reorder ---------------------------------------------------------------------------------


def test_reorder_lessons_returns_outline(owner, course):
    module = factories.ModuleFactory(course=course, position=1, title="M")
    m1 = factories.LessonFactory(course=course, module=module, position=1, title="m1")
    m2 = factories.LessonFactory(course=course, module=module, position=2, title="m2")
    r1 = factories.LessonFactory(course=course, position=1, title="r1")
    r2 = factories.LessonFactory(course=course, position=2, title="r2")
    path = f"/api/v1/courses/{course.pk}/reorder/"
    response = owner.post(
        path, {"module": str(module.pk), "lessons": [str(m2.pk), str(m1.pk)]}, format="json"
    )
    assert response.status_code == 200, response.content
    response = owner.post(path, {"lessons": [str(r2.pk), str(r1.pk)]}, format="json")
    assert response.json() == {
        "modules": [
            {
                "id": str(module.pk),
                "title": "M",
                "position": 1,
                "lessons": [
                    {"id": str(m2.pk), "title": "m2", "position": 1},
                    {"id": str(m1.pk), "title": "m1", "position": 2},
                ],
            }
        ],
        "lessons": [
            {"id": str(r2.pk), "title": "r2", "position": 1},
            {"id": str(r1.pk), "title": "r1", "position": 2},
        ],
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"modules": "abc"},
        {"modules": ["not-a-uuid"]},
        {"modules": []},
        {"modules": ["{m1}"]},
        {"modules": ["{m1}", "{m1}", "{m2}"]},
        {"modules": ["{m1}", "{m2}"], "lessons": []},
        {"modules": ["{m1}", "{m2}"], "module": None},
        {"lessons": ["{m1}"]},
        {"module": "{foreign}", "lessons": []},
        {"module": "00000000-0000-4000-8000-000000000000", "lessons": []},
        ["{m1}", "{m2}"],
    ],
)
def test_reorder_bad_bodies_are_400_and_change_nothing(owner, course, instructor, body):
    m1 = factories.ModuleFactory(course=course, position=1)
    m2 = factories.ModuleFactory(course=course, position=2)
    foreign = factories.ModuleFactory(
        course=factories.CourseFactory(instructor=instructor), position=1
    )
    names = {"{m1}": str(m1.pk), "{m2}": str(m2.pk), "{foreign}": str(foreign.pk)}

    def fill(value):
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return names.get(value, value)

    response = owner.post(f"/api/v1/courses/{course.pk}/reorder/", fill(body), format="json")
    _problem(response, 400, "validation_error")
    assert list(Module.objects.filter(course=course).order_by("position")) == [m1, m2]


def test_reorder_refuses_get(owner, course):
    _problem(owner.get(f"/api/v1/courses/{course.pk}/reorder/"), 405, "method_not_allowed")


# --- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 50])
def test_lesson_list_query_count_is_constant(make_client, django_assert_num_queries, count):
    learner = factories.UserFactory()
    for _ in range(count):
        course = factories.PublishedCourseFactory()
        factories.LessonFactory(course=course, position=1)
        factories.EnrollmentFactory(user=learner, course=course)
    with django_assert_num_queries(2):  # count + page
        body = make_client().get(LESSONS, {"page_size": 50}).json()
    assert len(body["results"]) == count
    assert all(row["body_locked"] for row in body["results"])
    client = make_client(learner)  # issuing the token writes a row: not part of the request
    with django_assert_num_queries(4):  # user + count + page + seats
        body = client.get(LESSONS, {"page_size": 50}).json()
    assert not any(row["body_locked"] for row in body["results"])


@pytest.mark.parametrize("count", [5, 50])
def test_module_list_query_count_is_constant(
    make_client, instructor, django_assert_num_queries, count
):
    course = factories.CourseFactory(instructor=instructor)
    for position in range(1, count + 1):
        factories.ModuleFactory(course=course, position=position)
    client = make_client(instructor)
    with django_assert_num_queries(3):  # user + count + page
        body = client.get(MODULES, {"page_size": 50}).json()
    assert len(body["results"]) == count
