"""Shared fixtures: API clients per role and a clean cache for every test.

With REDIS_URL set the cache (and so throttles) is the real Redis server, flushed between tests.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tokens import RefreshToken
from tests import factories


@pytest.fixture(autouse=True)
def _clean_cache():
    _forget_cache_outages()
    cache.clear()
    yield
    cache.clear()
    _forget_cache_outages()


def _forget_cache_outages() -> None:
    """A test that simulated a cache outage leaves its process resting from the cache for a few
    seconds (throttles, idempotency, catalog cache): the next test starts with a healthy cache."""
    from courses import catalog_cache
    from eduflow.core import idempotency, throttling

    throttling.outage.reset()
    idempotency.outage.reset()
    catalog_cache.outage.reset()
    catalog_cache._bump_pending = False


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings, request):
    """Argon2 is the real hasher; most tests use a fast one. Mark a test `argon2` to keep it."""
    if "argon2" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(user=None) -> APIClient:
    """An API client authenticated with a real JWT access token for `user` (or anonymous)."""
    client = APIClient()
    if user is not None:
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def student(db):
    return factories.UserFactory()


@pytest.fixture
def instructor(db):
    return factories.InstructorFactory()


@pytest.fixture
def other_instructor(db):
    return factories.InstructorFactory()


@pytest.fixture
def admin_user(db):
    return factories.AdminFactory()


@pytest.fixture
def make_client():
    return client_for
