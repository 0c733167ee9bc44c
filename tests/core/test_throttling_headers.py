"""Rate limits as clients see them: RateLimit-* headers on every response of a throttled view,
the most restrictive throttle reported, 429s with Retry-After, windows that end, and counters
that stay counters (one integer, one round trip) whatever the rate.

Real parts: the project's throttles, middleware and exception handler through APIClient, over
the configured cache: local memory, or the real Redis server when REDIS_URL is set (then the
counters run as the Lua script on that server). No stubs; the round-trip test only listens to
the commands redis-py sends. Rates are lowered per test by patching
`SimpleRateThrottle.THROTTLE_RATES`, which DRF binds once at import time.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from eduflow.core.throttling import RateLimitState, count_request, most_restrictive
from tests import factories
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

COURSES = "/api/v1/courses/"
LOGIN = "/api/v1/auth/login/"
REGISTER = "/api/v1/auth/register/"
ME = "/api/v1/auth/me/"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
on_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs the Redis cache: set REDIS_URL (CI does)"
)


@pytest.fixture
def rates(monkeypatch):
    """Set some rates for this test; the others keep their configured values."""

    def apply(**overrides: str) -> None:
        merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", merged)

    return apply


def budget(response) -> tuple[int, int, int]:
    """(limit, remaining, reset) from the response's RateLimit header fields."""
    return tuple(int(response.headers[name]) for name in HEADERS[:3])


def failed_login(email: str = "someone@example.com", addr: str = "127.0.0.1"):
    payload = {"email": email, "password": "wrong"}
    return APIClient().post(LOGIN, payload, format="json", REMOTE_ADDR=addr)


def test_each_success_reports_the_budget_left_and_the_429_says_when_to_retry(rates):
    rates(anon="5/min")
    client = APIClient()
    for left in (4, 3, 2, 1, 0):
        response = client.get(COURSES)
        assert response.status_code == 200
        limit, remaining, reset = budget(response)
        assert (limit, remaining) == (5, left)
        assert 1 <= reset <= 60
        assert response.headers["RateLimit-Policy"] == "5;w=60"

    limited = client.get(COURSES)
    body = assert_problem(limited, 429, "throttled")
    limit, remaining, reset = budget(limited)
    assert (limit, remaining) == (5, 0)
    retry_after = int(limited.headers["Retry-After"])
    # One window: the budget comes back when it ends, which is also when to retry.
    assert 1 <= retry_after <= 60
    assert reset == retry_after == body["retry_after"]


def test_reset_is_seconds_until_the_window_ends_not_a_timestamp(rates):
    rates(anon="5/hour")
    first = APIClient().get(COURSES)
    assert first.headers["RateLimit-Policy"] == "5;w=3600"
    assert 3590 <= int(first.headers["RateLimit-Reset"]) <= 3600


def test_a_window_frees_the_budget_when_it_ends(rates):
    """Real time: a one-second window, waited out."""
    rates(anon="2/s")
    client = APIClient()
    assert client.get(COURSES).status_code == 200
    assert client.get(COURSES).status_code == 200
    limited = client.get(COURSES)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == limited.headers["RateLimit-Reset"] == "1"
    time.sleep(1.1)
    again = client.get(COURSES)
    assert again.status_code == 200
    assert budget(again)[:2] == (2, 1)


@pytest.mark.parametrize(
    ("rate", "limit", "policy"),
    [
        ("1000000/min", 1_000_000, "1000000;w=60"),
        ("100/min", 100, "100;w=60"),
        ("20/min", 20, "20;w=60"),
        ("5/hour", 5, "5;w=3600"),
        ("3/day", 3, "3;w=86400"),
        ("10/s", 10, "10;w=1"),
    ],
)
def test_rates_in_every_unit(rates, rate, limit, policy):
    rates(anon=rate)
    response = APIClient().get(COURSES)
    assert response.status_code == 200
    assert budget(response)[:2] == (limit, limit - 1)
    assert response.headers["RateLimit-Policy"] == policy


def test_the_counter_is_one_integer_with_an_expiry_not_a_log(rates):
    """The benchmark's rate (a million a minute) must not grow anything per request."""
    rates(anon="1000000/min")
    client = APIClient()
    for _ in range(30):
        assert client.get(COURSES).status_code == 200
    assert cache.get("throttle:anon:127.0.0.1") == 30
    assert budget(client.get(COURSES))[1] == 1_000_000 - 31


def test_signed_in_callers_see_their_user_budget(rates, make_client, student):
    rates(anon="2/min", user="4/min")
    client = make_client(student)
    for left in (3, 2, 1, 0):
        response = client.get(ME)
        assert response.status_code == 200
        assert budget(response)[:2] == (4, left)
    assert_problem(client.get(ME), 429, "throttled")
    # Their requests did not spend the anonymous budget of the address.
    assert budget(APIClient().get(COURSES))[:2] == (2, 1)


def test_anonymous_requests_count_against_the_anonymous_rate_only(rates):
    """THROTTLE_USER is per signed-in user: anonymous requests are not also counted per
    address against it (DRF's UserRateThrottle would)."""
    rates(anon="5/min", user="2/min")
    client = APIClient()
    for left in (4, 3, 2, 1):
        response = client.get(COURSES)
        assert response.status_code == 200
        assert budget(response)[:2] == (5, left)


def test_the_most_restrictive_of_several_throttles_is_reported(rates, student):
    # The address allows fewer attempts than the account: the address is reported.
    rates(auth_ip="3/min", login_account="6/min")
    for left in (2, 1, 0):
        response = failed_login(student.email)
        assert response.status_code == 401
        assert budget(response)[:2] == (3, left)
    limited = failed_login(student.email)
    assert_problem(limited, 429, "throttled")
    assert budget(limited)[:2] == (3, 0)

    # From another address the account is the tighter one: every attempt above counted
    # against it (the refused one too: DRF asks every throttle), this is its fifth of six.
    response = failed_login(student.email, addr="10.9.9.9")
    assert response.status_code == 401
    assert budget(response)[:2] == (6, 1)


def test_a_refusal_is_reported_over_an_allowance_with_nothing_left(rates, student):
    rates(auth_ip="2/min", login_account="3/min")
    assert budget(failed_login(student.email))[:2] == (2, 1)
    assert budget(failed_login("other@example.com"))[:2] == (2, 0)
    # The address refuses; the account (its second attempt of three) would still allow one.
    limited = failed_login(student.email)
    assert_problem(limited, 429, "throttled")
    assert budget(limited)[:2] == (2, 0)
    assert limited.headers["Retry-After"] == limited.headers["RateLimit-Reset"]


def test_other_error_answers_of_throttled_views_carry_the_budget(rates):
    rates(anon="10/min", auth_ip="10/min")
    missing = APIClient().get(f"{COURSES}{uuid.uuid4()}/")
    assert missing.status_code == 404
    assert budget(missing)[:2] == (10, 9)
    invalid = APIClient().post(REGISTER, {}, format="json")
    assert_problem(invalid, 400, "validation_error")
    assert budget(invalid)[:2] == (10, 9)


def test_a_successful_login_carries_the_budget(rates, student):
    rates(auth_ip="10/min", login_account="5/min")
    payload = {"email": student.email, "password": DEFAULT_PASSWORD}
    response = APIClient().post(LOGIN, payload, format="json")
    assert response.status_code == 200
    assert budget(response)[:2] == (5, 4)


def test_answers_of_views_without_throttles_carry_no_budget(rates, make_client, student):
    rates(anon="5/min")
    for response in (
        APIClient().get("/health/live/"),
        APIClient().get("/api/v1/no-such-endpoint/"),
        # Authentication is refused before any throttle counts the request.
        APIClient().get(ME),
    ):
        assert not any(name in response.headers for name in HEADERS), response.headers


def test_certificate_verification_reports_its_own_budget(settings):
    from enrollments.views import CertificateVerifyThrottle

    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "certificate_verify": "4/min"}
    original = CertificateVerifyThrottle.THROTTLE_RATES
    CertificateVerifyThrottle.THROTTLE_RATES = rates
    try:
        response = APIClient().get("/api/v1/certificates/verify/unknown-code/")
        assert response.status_code == 404
        assert budget(response)[:2] == (4, 3)
        assert response.headers["RateLimit-Policy"] == "4;w=60"
    finally:
        CertificateVerifyThrottle.THROTTLE_RATES = original


def test_enrolling_spends_the_user_budget(rates, make_client, student):
    rates(user="3/min")
    course = factories.PublishedCourseFactory()
    response = make_client(student).post(
        "/api/v1/enrollments/", {"course": str(course.id)}, format="json"
    )
    assert response.status_code == 201
    assert budget(response)[:2] == (3, 2)


def test_concurrent_requests_never_share_a_count():
    """Threads counting in one window each get their own number: no lost or doubled counts
    (INCR in the Lua script on Redis, add/incr on the local-memory cache)."""
    key = f"throttle:test:{uuid.uuid4().hex}"
    counts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        mine = [count_request(cache, key, 60, time.time()).count for _ in range(25)]
        with lock:
            counts.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 201))


def test_most_restrictive_prefers_fewest_left_then_a_refusal_then_the_longest_wait():
    roomy = RateLimitState(limit=100, period=60, count=10, ends_in=50)
    tight = RateLimitState(limit=5, period=60, count=4, ends_in=20)
    assert most_restrictive([roomy, tight]) is tight
    spent = RateLimitState(limit=5, period=60, count=5, ends_in=50)
    refused = RateLimitState(limit=3, period=60, count=4, ends_in=10)
    assert most_restrictive([spent, refused]) is refused
    short = RateLimitState(limit=3, period=60, count=4, ends_in=5)
    long = RateLimitState(limit=9, period=3600, count=10, ends_in=3000)
    assert most_restrictive([short, long]) is long
    assert long.reset == 3000 and long.remaining == 0 and not long.allowed


# --- Redis only -----------------------------------------------------------------------------------
@on_redis
@pytest.mark.parametrize(
    ("signed_in", "method", "path"),
    [(False, "get", COURSES), (False, "post", "/api/v1/auth/refresh/"), (True, "get", ME)],
)
def test_one_redis_round_trip_per_request(
    rates, monkeypatch, make_client, student, signed_in, method, path
):
    """Listens to every command redis-py sends, alone or in a pipeline (the commands still
    reach the real server). An anonymous catalog read sends its count in the same pipeline as
    its cache reads: still one throttle command, and one round trip in all."""
    rates(anon="100/min", user="100/min")
    client = make_client(student) if signed_in else APIClient()

    def call():
        return client.post(path, {}, format="json") if method == "post" else client.get(path)

    call()  # the first use of the script on this server may load it (EVAL)

    sent: list[tuple] = []
    real_execute = redis.Redis.execute_command

    def listening(self, *args, **options):
        sent.append(args)
        return real_execute(self, *args, **options)

    round_trips: list[str] = []
    real_pipeline_execute = redis.client.Pipeline.execute

    def listening_pipeline(self, *args, **options):
        round_trips.append("pipeline")
        sent.extend(command_args for command_args, _ in self.command_stack)
        return real_pipeline_execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", listening)
    monkeypatch.setattr(redis.client.Pipeline, "execute", listening_pipeline)
    response = call()
    assert "RateLimit-Limit" in response.headers
    throttle_commands = [args for args in sent if any(b"throttle:" in _bytes(a) for a in args)]
    assert len(throttle_commands) == 1, throttle_commands
    assert throttle_commands[0][0] == "EVALSHA"
    if path == COURSES:  # a catalog hit: version, entry and count in one pipeline, nothing else
        assert round_trips == ["pipeline"]
        assert len(sent) == 2, sent


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@on_redis
def test_a_counter_left_without_expiry_gets_one(rates):
    rates(anon="5/min")
    client = cache.client.get_client(write=True)
    key = cache.make_key("throttle:anon:127.0.0.1")
    client.set(key, 2)  # no expiry: would block the address forever once past the limit
    response = APIClient().get(COURSES)
    assert budget(response)[:2] == (5, 2)
    assert 0 < client.pttl(key) <= 60_000


@on_redis
def test_the_window_is_timed_by_redis(rates):
    rates(anon="5/min")
    APIClient().get(COURSES)
    client = cache.client.get_client(write=True)
    key = cache.make_key("throttle:anon:127.0.0.1")
    assert client.get(key) == b"1"
    assert 59_000 < client.pttl(key) <= 60_000
