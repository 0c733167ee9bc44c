"""Two refreshes racing with one refresh token: at most one wins.

Real parts: PostgreSQL row locks (`select_for_update`) with two threads, each on its own
database connection, through the full HTTP stack. On SQLite the test is skipped: its in-memory
test database cannot hold two independent transactions from two threads.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services
from accounts.tokens import RefreshToken
from tests.factories import UserFactory

REFRESH = "/api/v1/auth/refresh/"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_with_one_token_let_only_one_through(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite cannot run the two transactions")
    user = UserFactory()
    raw = str(RefreshToken.for_user(user))

    # Widen the race: the winner holds its transaction open a moment after blacklisting.
    original = RefreshToken.for_user

    def slow_for_user(target):
        time.sleep(0.3)
        return original(target)

    monkeypatch.setattr(services.RefreshToken, "for_user", staticmethod(slow_for_user))

    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt():
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=5)
            response = APIClient().post(REFRESH, {"refresh": raw}, format="json")
            statuses.append(response.status_code)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert sorted(statuses) == [200, 401]
    # One rotation: the original token plus exactly one new one.
    assert OutstandingToken.objects.filter(user=user).count() == 2
