"""Liveness and readiness checks.

Real parts: the health views through the full middleware stack, the configured database and
cache (local memory, or Redis when REDIS_URL is set), and a real django-redis client pointed at
a closed loopback port for the failing-cache case. The failing database is simulated by making
the connection's cursor raise.
"""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.utils import OperationalError
from django.test import Client

from tests.core.assertions import assert_problem

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}


def test_live_is_200():
    response = Client().get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_is_200_with_checks():
    response = Client().get("/health/ready/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_ready_names_the_cache_when_it_is_down(settings):
    settings.CACHES = DEAD_REDIS
    response = Client().get("/health/ready/")
    body = assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "ok", "cache": "fail"}
    assert "cache" in body["detail"]
    assert "database" not in body["detail"]


def _broken_cursor(*args, **kwargs):
    raise OperationalError("could not connect to server")


def test_ready_names_the_database_when_it_is_down(monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", _broken_cursor)
        response = Client().get("/health/ready/")
    body = assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "fail", "cache": "ok"}
    assert "database" in body["detail"]
    assert "could not connect" not in response.content.decode()


def test_ready_names_both_when_both_are_down(settings, monkeypatch):
    settings.CACHES = DEAD_REDIS
    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", _broken_cursor)
        response = Client().get("/health/ready/")
    body = assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "fail", "cache": "fail"}


def test_health_is_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/health/live/").status_code == 200
    assert Client().get("/api/v1/auth/me/").status_code == 301
