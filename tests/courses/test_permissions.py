"""Permission matrix of the category and course endpoints, for every role and course state.

Real parts: the URL routes, JWT authentication, the viewsets, services and the database
(SQLite, or PostgreSQL with DATABASE_URL). Hidden courses answer 404, forbidden changes to
visible ones 403, anonymous writes 401.
"""

from __future__ import annotations

import pytest

from courses.models import Category, Course, CourseStatus
from tests import factories
from tests.courses.world import ROLES, matrix

pytestmark = pytest.mark.django_db


def _body(kind: str, world, state: str) -> dict:
    if kind == "create":
        return {"title": "New course"}
    if kind in ("patch", "put"):
        return {"title": "Renamed course"}
    return {}


# (action, method, path suffix, expected statuses for the published course, for the draft)
COURSE_CASES = [
    (
        "retrieve",
        "get",
        "",
        matrix(200, 200, 200, 200, 200, 200),
        matrix(404, 404, 404, 404, 200, 200),
    ),
    (
        "patch",
        "patch",
        "",
        matrix(401, 403, 403, 403, 200, 200),
        matrix(401, 404, 404, 404, 200, 200),
    ),
    ("put", "put", "", matrix(401, 403, 403, 403, 200, 200), matrix(401, 404, 404, 404, 200, 200)),
    # The published course has an enrolled learner, so deleting it is refused even to its owner.
    (
        "delete",
        "delete",
        "",
        matrix(401, 403, 403, 403, 409, 409),
        matrix(401, 404, 404, 404, 204, 204),
    ),
    (
        "publish",
        "post",
        "publish/",
        matrix(401, 403, 403, 403, 200, 200),
        matrix(401, 404, 404, 404, 200, 200),
    ),
    (
        "archive",
        "post",
        "archive/",
        matrix(401, 403, 403, 403, 200, 200),
        matrix(401, 404, 404, 404, 200, 200),
    ),
]


def _course_params():
    for action, method, suffix, published, draft in COURSE_CASES:
        for state, table in (("published", published), ("draft", draft)):
            for role, expected in table:
                yield pytest.param(
                    action, method, suffix, state, role, expected, id=f"{action}-{state}-{role}"
                )


@pytest.mark.parametrize(
    ("action", "method", "suffix", "state", "role", "expected"), list(_course_params())
)
def test_course_object_endpoints(world, action, method, suffix, state, role, expected):
    course = world.courses[state]
    before = Course.objects.filter(pk=course.pk).values().first()
    response = getattr(world.client(role), method)(
        f"/api/v1/courses/{course.pk}/{suffix}", _body(action, world, state), format="json"
    )
    assert response.status_code == expected, response.content
    after = Course.objects.filter(pk=course.pk).values().first()
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert after == before  # refused requests change nothing
    elif action == "delete":
        assert after is None
    elif action in ("patch", "put"):
        assert after["title"] == "Renamed course"
    elif action == "publish":
        assert after["status"] == CourseStatus.PUBLISHED
        assert response.json()["status"] == "published"
    elif action == "archive":
        assert after["status"] == CourseStatus.ARCHIVED
    elif action == "retrieve":
        assert response.json()["id"] == str(course.pk)


@pytest.mark.parametrize(("role", "expected"), matrix(401, 403, 403, 201, 201, 201))
def test_course_create(world, role, expected):
    response = world.client(role).post("/api/v1/courses/", {"title": "Brand new"}, format="json")
    assert response.status_code == expected, response.content
    created = Course.objects.filter(title="Brand new")
    if expected == 201:
        course = created.get()
        assert course.status == CourseStatus.DRAFT
        assert course.instructor == world.users[role]
        assert response.json()["instructor"]["id"] == str(world.users[role].pk)
    else:
        assert not created.exists()


@pytest.mark.parametrize("role", ROLES)
def test_course_list_shows_drafts_only_to_owner_and_admin(world, role):
    response = world.client(role).get("/api/v1/courses/")
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["results"]}
    assert str(world.courses["published"].pk) in ids
    assert (str(world.courses["draft"].pk) in ids) == (role in ("owner", "admin"))


@pytest.mark.parametrize("role", ROLES)
def test_search_never_reveals_drafts(world, role):
    draft = world.courses["draft"]
    response = world.client(role).get("/api/v1/courses/", {"search": draft.title})
    ids = {item["id"] for item in response.json()["results"]}
    assert (str(draft.pk) in ids) == (role in ("owner", "admin"))


def test_archived_course_is_hidden_like_a_draft(world, make_client, student, other_instructor):
    course = world.courses["published"]
    course.status = CourseStatus.ARCHIVED
    course.save()
    assert make_client(student).get(f"/api/v1/courses/{course.pk}/").status_code == 404
    assert make_client(other_instructor).get(f"/api/v1/courses/{course.pk}/").status_code == 404
    assert world.client("owner").get(f"/api/v1/courses/{course.pk}/").status_code == 200


# --- categories ------------------------------------------------------------------------------

CATEGORY_CASES = [
    ("list", "get", "", matrix(200, 200, 200, 200, 200, 200)),
    ("retrieve", "get", "{id}/", matrix(200, 200, 200, 200, 200, 200)),
    ("create", "post", "", matrix(401, 403, 403, 403, 403, 201)),
    ("patch", "patch", "{id}/", matrix(401, 403, 403, 403, 403, 200)),
    ("put", "put", "{id}/", matrix(401, 403, 403, 403, 403, 200)),
    ("delete", "delete", "{id}/", matrix(401, 403, 403, 403, 403, 204)),
]


@pytest.mark.parametrize(
    ("action", "method", "suffix", "role", "expected"),
    [
        pytest.param(a, m, s, role, exp, id=f"{a}-{role}")
        for a, m, s, table in CATEGORY_CASES
        for role, exp in table
    ],
)
def test_category_endpoints(world, action, method, suffix, role, expected):
    category = factories.CategoryFactory(name="Unused", slug="unused")
    body = {"name": "Cooking"} if action in ("create", "patch", "put") else {}
    response = getattr(world.client(role), method)(
        f"/api/v1/categories/{suffix.format(id=category.pk)}", body, format="json"
    )
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        category.refresh_from_db()
        assert category.name == "Unused"
        assert not Category.objects.filter(name="Cooking").exists()
    elif action == "delete":
        assert not Category.objects.filter(pk=category.pk).exists()
    elif action == "create":
        assert Category.objects.filter(name="Cooking", slug="cooking").exists()
    elif action in ("patch", "put"):
        category.refresh_from_db()
        assert (category.name, category.slug) == ("Cooking", "unused")
