"""Rate limits: anonymous, authenticated, per client address on login/register, per account.

Real parts: DRF's throttling with the project's throttle classes over the configured cache
(local memory, or Redis when REDIS_URL is set) through APIClient. Rates are lowered per test by
patching `SimpleRateThrottle.THROTTLE_RATES`, which DRF binds once at import time.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from eduflow.core.throttling import client_ip
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
REGISTER = "/api/v1/auth/register/"
REFRESH = "/api/v1/auth/refresh/"
ME = "/api/v1/auth/me/"


@pytest.fixture
def rates(monkeypatch):
    """Set some rates for this test; the others keep their configured values."""

    def apply(**overrides: str) -> None:
        merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", merged)

    return apply


def post(url: str, data: dict, *, addr: str = "127.0.0.1", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(url, data, format="json", **extra)


def failed_login(email: str = "someone@example.com", **kwargs):
    return post(LOGIN, {"email": email, "password": "wrong"}, **kwargs)


def test_configured_default_rates():
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "anon": "100/min",
        "user": "1000/min",
        "auth_ip": "20/min",
        "login_account": "10/min",
        "certificate_verify": "30/min",
    }
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == SimpleRateThrottle.THROTTLE_RATES


def test_anonymous_requests_are_limited_per_address(rates):
    rates(anon="3/min")
    for _ in range(3):
        assert post(REFRESH, {"refresh": "x"}).status_code == 401
    limited = post(REFRESH, {"refresh": "x"})
    assert_problem(limited, 429, "throttled")
    assert int(limited.headers["Retry-After"]) > 0
    # Another address has its own allowance.
    assert post(REFRESH, {"refresh": "x"}, addr="10.1.1.1").status_code == 401


def test_authenticated_requests_are_limited_per_user(rates, make_client, student, instructor):
    rates(user="3/min")
    client = make_client(student)
    for _ in range(3):
        assert client.get(ME).status_code == 200
    assert_problem(client.get(ME), 429, "throttled")
    # Same address, other user: not affected.
    assert make_client(instructor).get(ME).status_code == 200


def test_login_and_register_share_a_per_address_limit(rates):
    rates(auth_ip="3/min")
    assert failed_login().status_code == 401
    assert failed_login(email="other@example.com").status_code == 401
    assert post(REGISTER, {}).status_code == 400
    assert_problem(failed_login(email="third@example.com"), 429, "throttled")
    assert_problem(post(REGISTER, {}), 429, "throttled")
    assert failed_login(addr="10.2.2.2").status_code == 401


def test_forged_forwarded_for_does_not_reset_the_address_limit(rates, settings):
    settings.TRUSTED_PROXIES = []
    rates(auth_ip="2/min")
    assert failed_login(forwarded="1.1.1.1").status_code == 401
    assert failed_login(forwarded="2.2.2.2").status_code == 401
    assert_problem(failed_login(forwarded="3.3.3.3"), 429, "throttled")


def test_forwarded_for_from_a_trusted_proxy_names_the_client(rates, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    rates(auth_ip="2/min")
    for _ in range(2):
        assert failed_login(forwarded="203.0.113.7").status_code == 401
    assert_problem(failed_login(forwarded="203.0.113.7"), 429, "throttled")
    # A different client behind the same proxy has its own allowance.
    assert failed_login(forwarded="198.51.100.9").status_code == 401
    # A client cannot hide behind a forged left-most entry: the proxy appends the real one.
    assert_problem(failed_login(forwarded="9.9.9.9, 203.0.113.7"), 429, "throttled")


def test_login_attempts_are_limited_per_account_from_any_address(rates, student):
    rates(login_account="2/min", auth_ip="100/min")
    assert failed_login(student.email, addr="10.0.0.1").status_code == 401
    assert failed_login(student.email.upper(), addr="10.0.0.2").status_code == 401
    limited = failed_login(f"  {student.email} ", addr="10.0.0.3")
    assert_problem(limited, 429, "throttled")
    # Even the right password waits: the account is what is limited.
    right = post(LOGIN, {"email": student.email, "password": DEFAULT_PASSWORD}, addr="10.0.0.4")
    assert_problem(right, 429, "throttled")
    # Another account is unaffected.
    assert failed_login("another@example.com", addr="10.0.0.5").status_code == 401


def test_account_limit_covers_username_logins_too(rates, student):
    rates(login_account="1/min", auth_ip="100/min")
    username_attempt = post(LOGIN, {"username": student.username, "password": "x"}, addr="10.0.0.1")
    assert username_attempt.status_code == 401
    again = post(LOGIN, {"username": student.username, "password": "x"}, addr="10.0.0.2")
    assert_problem(again, 429, "throttled")


class _Request:
    def __init__(self, remote_addr: str, forwarded: str | None = None):
        self.META = {"REMOTE_ADDR": remote_addr}
        if forwarded is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "10.0.0.1", "1.2.3.4", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4, 10.0.0.7", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.1", "5.5.5.5, 1.2.3.4", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.1", "not-an-ip", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", None, "10.0.0.1"),
        (["10.0.0.0/8"], "192.0.2.1", "1.2.3.4", "192.0.2.1"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_ip(settings, trusted, peer, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    assert client_ip(_Request(peer, forwarded)) == expected
