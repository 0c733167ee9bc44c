"""X-Request-ID on every response, and one JSON access-log line per request.

Real parts: the project's middleware stack through Django's test client and APIClient with a
real JWT, the `eduflow.access` logger with a handler built from the project's JsonFormatter and
RequestContextFilter (what production logging uses), writing into a StringIO.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import Client

from eduflow.core.logging import JsonFormatter, RequestContextFilter

pytestmark = pytest.mark.django_db

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log():
    """Lines written by `eduflow.access` and `eduflow.core.views`, as parsed JSON objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    loggers = [logging.getLogger("eduflow.access"), logging.getLogger("eduflow.core.views")]
    for logger in loggers:
        logger.addHandler(handler)

    def lines() -> list[dict]:
        raw = stream.getvalue().splitlines()
        return [json.loads(line) for line in raw if line.strip()]

    yield lines
    for logger in loggers:
        logger.removeHandler(handler)


# --- X-Request-ID ------------------------------------------------------------------------------


def test_request_id_is_generated_when_absent():
    client = Client()
    first = client.get("/health/live/")["X-Request-ID"]
    second = client.get("/health/live/")["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first)
    assert GENERATED_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("value", ["abc-123", "req.42:part_7", "A" * 128])
def test_valid_request_id_is_echoed(value):
    assert Client().get("/health/live/", HTTP_X_REQUEST_ID=value)["X-Request-ID"] == value


@pytest.mark.parametrize(
    "value", ["has space", "semi;colon", "line\nbreak", "trailing\n", "A" * 129, "é", "<script>"]
)
def test_invalid_request_id_is_replaced(value):
    returned = Client().get("/health/live/", HTTP_X_REQUEST_ID=value)["X-Request-ID"]
    assert returned != value
    assert GENERATED_ID.fullmatch(returned)


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/health/live/", 200),
        ("get", "/health/ready/", 200),
        ("get", "/api/v1/auth/me/", 401),
        ("get", "/api/v1/nowhere/", 404),
        ("post", "/api/v1/auth/login/", 400),
        ("get", "/admin/login/", 200),
        ("get", "/not-api/", 404),
    ],
)
def test_every_response_carries_the_request_id(method, url, status):
    response = getattr(Client(), method)(url, HTTP_X_REQUEST_ID="trace-me")
    assert response.status_code == status
    assert response["X-Request-ID"] == "trace-me"


def test_problem_instance_names_the_request_id():
    body = Client().get("/api/v1/nowhere/", HTTP_X_REQUEST_ID="trace-404").json()
    assert body["instance"] == "/api/v1/nowhere/#request-trace-404"


# --- JSON logs ---------------------------------------------------------------------------------


def test_access_log_is_one_json_object_per_request(json_log):
    response = Client().get("/health/live/", HTTP_X_REQUEST_ID="log-1")
    [line] = [entry for entry in json_log() if entry["logger"] == "eduflow.access"]
    expected_keys = {"time", "level", "logger", "message", "request_id", "user_id"}
    assert expected_keys | {"method", "path", "status", "duration_ms"} <= set(line)
    assert line["request_id"] == response["X-Request-ID"] == "log-1"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health/live/", 200)
    assert line["level"] == "INFO"
    assert line["user_id"] is None
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])


def test_access_log_names_the_jwt_user(json_log, make_client, student):
    response = make_client(student).get("/api/v1/auth/me/")
    assert response.status_code == 200
    [line] = [entry for entry in json_log() if entry["logger"] == "eduflow.access"]
    assert line["user_id"] == str(student.pk)
    assert line["request_id"] == response["X-Request-ID"]
    assert line["status"] == 200


def test_access_log_records_failures_without_a_user(json_log, api_client):
    api_client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION="Bearer nonsense")
    [line] = json_log()
    assert (line["status"], line["user_id"]) == (401, None)


def test_user_id_does_not_leak_into_the_next_request(json_log, make_client, student):
    make_client(student).get("/api/v1/auth/me/")
    Client().get("/health/live/")
    first, second = json_log()
    assert first["user_id"] == str(student.pk)
    assert second["user_id"] is None
    assert first["request_id"] != second["request_id"]


def test_application_logs_inside_a_request_carry_its_request_id(json_log, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    Client().get("/health/ready/", HTTP_X_REQUEST_ID="ready-trace")
    view_lines = [entry for entry in json_log() if entry["logger"] == "eduflow.core.views"]
    assert view_lines
    assert all(entry["request_id"] == "ready-trace" for entry in view_lines)
    assert view_lines[0]["level"] == "ERROR"
    assert "exc_info" in view_lines[0]


def test_access_log_level_follows_the_status(json_log, settings):
    Client().get("/health/ready/")
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    Client().get("/health/ready/")
    healthy, failing = [entry for entry in json_log() if entry["logger"] == "eduflow.access"]
    assert (healthy["status"], healthy["level"]) == (200, "INFO")
    assert (failing["status"], failing["level"]) == (503, "ERROR")
