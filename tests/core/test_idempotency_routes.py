"""Every POST route of the API honours `Idempotency-Key`, or is excluded with a reason.

Real parts: the project's URL configuration walked pattern by pattern, each POST route called
through the whole middleware stack (anonymously: the key is judged before anything else), and
drf-spectacular generating the OpenAPI schema. A new POST route is protected by default; this
test fails if one falls outside both lists, or if an exclusion names a route that is gone.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from eduflow.core import idempotency
from tests.core.assertions import assert_problem

pytestmark = pytest.mark.django_db

SAMPLE = str(uuid.UUID(int=0x1234))


def _sample_value(converter_name: str) -> str:
    return {"path": "sample/file.txt", "str": "sample", "slug": "sample", "int": "1"}.get(
        converter_name, SAMPLE
    )


def _sample_url(pattern: URLPattern) -> str:
    """A concrete path of a named route: every parameter a UUID (or a name where it must be)."""
    converters = getattr(pattern.pattern, "converters", {})
    kwargs = {
        name: _sample_value(converters[name].__class__.__name__.removesuffix("Converter").lower())
        if name in converters
        else ("json" if name == "format" else SAMPLE)  # routers add `.json` suffix routes
        for name in pattern.pattern.regex.groupindex
    }
    return reverse(pattern.name, kwargs=kwargs)


def post_routes() -> list[tuple[str, object]]:
    """(sample URL, callback) of every route under /api/ whose view accepts POST."""
    found: list[tuple[str, object]] = []

    def walk(patterns) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns)
            elif isinstance(entry, URLPattern) and idempotency.post_view_class(entry.callback):
                assert entry.name, f"unnamed POST route {entry.pattern}"
                url = _sample_url(entry)
                if url.startswith("/api/"):
                    found.append((url, entry.callback))

    walk(get_resolver().url_patterns)
    return found


ROUTES = post_routes()


def _id(route) -> str:
    return route[0]


def test_the_walk_finds_the_known_post_routes():
    urls = {url for url, _ in ROUTES}
    for expected in (
        "/api/v1/auth/register/",
        "/api/v1/auth/login/",
        "/api/v1/enrollments/",
        f"/api/v1/courses/{SAMPLE}/publish/",
        f"/api/v1/courses/{SAMPLE}/archive/",
        f"/api/v1/certificates/{SAMPLE}/revoke/",
        "/api/v1/media/",
        "/api/v1/progress/heartbeat/",
        f"/api/v1/progress/lessons/{SAMPLE}/complete/",
        "/api/v1/categories/",
        "/api/v1/modules/",
        "/api/v1/lessons/",
    ):
        assert expected in urls, expected
    assert len(ROUTES) >= 20


@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_every_post_route_is_protected_or_excluded_with_a_reason(route):
    url, callback = route
    assert resolve(url).func is callback
    policy = idempotency.route_policy(callback)
    assert policy in (idempotency.PROTECTED, idempotency.EXCLUDED)
    if policy == idempotency.EXCLUDED:
        cls = idempotency.post_view_class(callback)
        reason = idempotency.EXCLUDED_VIEWS[idempotency.view_class_path(cls)]
        assert len(reason) > 30


@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_protected_routes_judge_the_key_and_excluded_ones_ignore_it(route):
    url, callback = route
    response = Client().post(
        url, b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    if idempotency.route_policy(callback) == idempotency.PROTECTED:
        assert_problem(response, 400, "invalid_idempotency_key")
    else:
        assert response.status_code != 400 or response.json()["code"] != "invalid_idempotency_key"


def test_every_exclusion_names_a_post_route_that_exists():
    excluded = {
        idempotency.view_class_path(idempotency.post_view_class(callback))
        for _, callback in ROUTES
        if idempotency.route_policy(callback) == idempotency.EXCLUDED
    }
    assert excluded == set(idempotency.EXCLUDED_VIEWS)


def test_credential_answers_are_excluded():
    assert {
        "accounts.views.LoginView",
        "accounts.views.RefreshView",
        "lessons.playback.LessonPlaybackView",
    } <= set(idempotency.EXCLUDED_VIEWS)


def test_the_schema_documents_the_header_on_protected_posts_only():
    schema = Client().get("/api/schema/", {"format": "json"}).json()

    def header_names(path: str) -> set[str]:
        operation = schema["paths"][path]["post"]
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}

    assert idempotency.HEADER in header_names("/api/v1/enrollments/")
    assert idempotency.HEADER in header_names("/api/v1/auth/register/")
    assert idempotency.HEADER in header_names("/api/v1/courses/{id}/publish/")
    assert idempotency.HEADER not in header_names("/api/v1/auth/login/")
    assert idempotency.HEADER not in header_names("/api/v1/auth/refresh/")
    documented = sum(
        1
        for operations in schema["paths"].values()
        for method, operation in operations.items()
        if method == "post"
        and any(p.get("name") == idempotency.HEADER for p in operation.get("parameters", []))
    )
    protected = sum(
        1
        for url, callback in ROUTES
        if idempotency.route_policy(callback) == idempotency.PROTECTED
        and not url.endswith(".json")  # the routers' format-suffix twins are not in the schema
    )
    assert documented == protected
