"""Junk in every writable field of every course, category, module, lesson and reorder endpoint
answers a client error in problem+json (or is accepted), never a 500.

Real parts: URL routes, JWT authentication, parsers, serializers, services, the exception
handler and the database (SQLite, or PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db

JUNK = [
    None, True, 0, -1, 2**63, 1.5, "", " ", "\x00", "x" * 5000, [], {}, ["a"], {"a": 1},
    "00000000-0000-4000-8000-000000000000", "NaN", "1e999", "-0", "null", "💥",
]  # fmt: skip

QUERIES = [
    "page=x", "page=99999999999999999999", "page_size=-5", "course=%00", "search=%00",
    "ordering=%00", "module=1", "category=%00", "language=" + "x" * 50, "price=%00",
]  # fmt: skip


@pytest.fixture
def endpoints(instructor):
    course = factories.CourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    lesson = factories.LessonFactory(course=course, module=module, position=1)
    category = factories.CategoryFactory()
    course_fields = ["title", "slug", "subtitle", "description", "category", "difficulty",
                     "language", "price", "currency", "capacity", "instructor"]  # fmt: skip
    lesson_fields = ["course", "module", "title", "kind", "body", "duration_seconds",
                     "position", "is_preview"]  # fmt: skip
    return {
        ("post", "/api/v1/courses/"): course_fields,
        ("patch", f"/api/v1/courses/{course.pk}/"): course_fields,
        ("post", "/api/v1/modules/"): ["course", "title", "position"],
        ("patch", f"/api/v1/modules/{module.pk}/"): ["course", "title", "position"],
        ("post", "/api/v1/lessons/"): lesson_fields,
        ("patch", f"/api/v1/lessons/{lesson.pk}/"): lesson_fields,
        ("post", "/api/v1/categories/"): ["name", "slug"],
        ("patch", f"/api/v1/categories/{category.pk}/"): ["name", "slug"],
        ("post", f"/api/v1/courses/{course.pk}/reorder/"): ["modules", "module", "lessons"],
    }, course


def test_junk_field_values_never_cause_server_errors(make_client, admin_user, endpoints):
    table, course = endpoints
    client = make_client(admin_user)
    base = {"title": "T", "course": str(course.pk), "name": "N"}
    failures = []
    for (method, path), fields in table.items():
        for field in fields:
            for value in JUNK:
                response = getattr(client, method)(path, {**base, field: value}, format="json")
                problem = response.get("Content-Type") == "application/problem+json"
                if response.status_code >= 500 or (response.status_code >= 400 and not problem):
                    failures.append((method, path, field, repr(value)[:30], response.status_code))
    assert failures == []


@pytest.mark.parametrize("path", ["/api/v1/courses/", "/api/v1/modules/", "/api/v1/lessons/"])
def test_junk_query_strings_never_cause_server_errors(make_client, path):
    client = make_client()
    for query in QUERIES:
        response = client.get(path, QUERY_STRING=query)
        assert response.status_code < 500, query
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json", query
