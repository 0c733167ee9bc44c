"""The cache goes away: throttles fail open, say so in the log (not on every request), and never
turn a request into a 500; readiness still reports the cache.

Real parts: the django-redis backend and redis-py, pointed at a loopback port where nothing
listens (connection refused) or at a loopback socket that accepts and never answers (a hung
server: timeouts); the project's throttles, views, services and database through APIClient.
No stubs. Works on both test stages (the cache is replaced for each test either way).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import closing

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from eduflow.core import throttling
from tests import factories
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
THROTTLE_LOGGER = "eduflow.core.throttling"


def redis_cache_at(port: int, *, timeout: float = 1) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "KEY_PREFIX": "outage-test",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": timeout,
                "SOCKET_TIMEOUT": timeout,
            },
        }
    }


def closed_port() -> int:
    """A loopback port nobody listens on (the kernel's pick, released again)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _forget_outages():
    throttling.outage.reset()
    yield
    throttling.outage.reset()


@pytest.fixture
def strict_rates(monkeypatch):
    """One request per minute everywhere: with a working cache the second one would be 429."""
    rates = {scope: "1/min" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


@pytest.fixture
def cache_refusing(settings):
    settings.CACHES = redis_cache_at(closed_port())
    # Try the dead cache on every request, so each one shows it fails open by itself.
    settings.THROTTLE_CACHE_RETRY_SECONDS = 0


class HungServer:
    """Accepts connections on loopback and never answers: a cache that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def throttle_warnings(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == THROTTLE_LOGGER and record.levelno == logging.WARNING
    ]


def test_requests_pass_unthrottled_on_every_endpoint(
    cache_refusing, strict_rates, caplog, make_client, student
):
    caplog.set_level(logging.WARNING, logger=THROTTLE_LOGGER)
    course = factories.PublishedCourseFactory()
    signed_in = make_client(student)
    login = {"email": student.email, "password": DEFAULT_PASSWORD}

    for attempt in range(3):
        answers = [
            (APIClient().get("/api/v1/courses/"), 200),
            (APIClient().post("/api/v1/auth/login/", login, format="json"), 200),
            (
                APIClient().post(
                    "/api/v1/auth/login/", {**login, "password": "wrong"}, format="json"
                ),
                401,
            ),
            (signed_in.get("/api/v1/auth/me/"), 200),
            (
                signed_in.post("/api/v1/enrollments/", {"course": str(course.id)}, format="json"),
                201 if attempt == 0 else 409,
            ),
        ]
        for response, expected in answers:
            assert response.status_code == expected, (response.status_code, response.content)
            # Nothing was counted, so nothing is claimed about a budget.
            assert not any(name in response.headers for name in RATE_HEADERS)

    # Fifteen requests, each tried the cache and failed; one warning says so.
    warnings = throttle_warnings(caplog)
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    message = warnings[0].getMessage()
    assert "Rate limits are not enforced" in message
    assert "ConnectionError" in message


def test_the_warning_comes_back_once_per_interval(cache_refusing, settings, caplog):
    settings.THROTTLE_OUTAGE_LOG_SECONDS = 1
    caplog.set_level(logging.WARNING, logger=THROTTLE_LOGGER)
    client = APIClient()
    for _ in range(4):
        assert client.get("/api/v1/courses/").status_code == 200
    assert len(throttle_warnings(caplog)) == 1
    time.sleep(1.1)
    assert client.get("/api/v1/courses/").status_code == 200
    warnings = throttle_warnings(caplog)
    assert len(warnings) == 2
    # The second warning tells how many checks went unthrottled without a word in between.
    assert "3 more unthrottled checks" in warnings[1].getMessage()


def test_readiness_names_the_cache(cache_refusing):
    response = APIClient().get("/health/ready/")
    body = assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "ok", "cache": "fail"}
    assert "cache" in body["detail"]


def test_a_hung_cache_costs_one_timeout_per_retry_interval(
    settings, strict_rates, make_client, student, caplog
):
    """Without the retry interval every request would wait out the socket timeout."""
    server = HungServer()
    try:
        settings.CACHES = redis_cache_at(server.port, timeout=0.5)
        settings.THROTTLE_CACHE_RETRY_SECONDS = 60
        caplog.set_level(logging.WARNING, logger=THROTTLE_LOGGER)
        client = make_client(student)

        started = time.monotonic()
        assert client.get("/api/v1/auth/me/").status_code == 200
        first = time.monotonic() - started
        assert first >= 0.5  # it did wait for the cache

        started = time.monotonic()
        for _ in range(5):
            assert client.get("/api/v1/auth/me/").status_code == 200
        # Five more waits would be 2.5 s at least; skipping the cache they take far less.
        assert time.monotonic() - started < 1.5
        warnings = throttle_warnings(caplog)
        assert len(warnings) == 1
        assert "TimeoutError" in warnings[0].getMessage()
    finally:
        server.close()


def test_throttles_count_again_once_the_cache_is_back(settings, strict_rates, caplog):
    """After the retry interval the throttles use the cache again: limits hold once more."""
    settings.THROTTLE_CACHE_RETRY_SECONDS = 1
    default_caches = settings.CACHES
    settings.CACHES = redis_cache_at(closed_port())
    client = APIClient()
    assert client.get("/api/v1/courses/").status_code == 200
    assert client.get("/api/v1/courses/").status_code == 200

    settings.CACHES = default_caches  # the configured cache: local memory or the real Redis
    time.sleep(1.1)
    first = client.get("/api/v1/courses/")
    assert first.status_code == 200
    assert first.headers["RateLimit-Remaining"] == "0"
    assert_problem(client.get("/api/v1/courses/"), 429, "throttled")
