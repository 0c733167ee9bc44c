"""Token revocation by issue time (`User.tokens_valid_after`) and the precise `iat` claim.

Real parts: the project's token classes and JWT authentication against users in the test
database; plain objects stand in for users only in the pure cutoff-comparison cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken as LibraryAccessToken

from accounts.authentication import token_issued_before_cutoff
from accounts.tokens import AccessToken, RefreshToken

CUTOFF = datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)  # 12:00:00.5


def user_with_cutoff(cutoff):
    return SimpleNamespace(tokens_valid_after=cutoff)


@pytest.mark.parametrize(
    ("issued_at", "revoked"),
    [
        (CUTOFF.timestamp() - 0.2, True),  # precise, just before
        (CUTOFF.timestamp() + 0.2, False),  # precise, just after
        (int(CUTOFF.timestamp()) - 5, True),  # whole seconds, clearly before
        (int(CUTOFF.timestamp()), True),  # whole seconds, same second: cannot tell, refuse
        (int(CUTOFF.timestamp()) + 1, False),  # whole seconds, next second
        (None, True),
        ("1893499200", True),
        (True, True),
    ],
)
def test_cutoff_comparison(issued_at, revoked):
    assert token_issued_before_cutoff(user_with_cutoff(CUTOFF), issued_at) is revoked


def test_no_cutoff_means_nothing_is_revoked():
    assert token_issued_before_cutoff(user_with_cutoff(None), 0) is False


@pytest.mark.django_db
def test_issued_tokens_carry_a_fractional_iat(student):
    refresh = RefreshToken.for_user(student)
    access = refresh.access_token
    assert isinstance(access, AccessToken)
    for token in (refresh, access):
        assert isinstance(token["iat"], float)
        assert abs(token["iat"] - token.current_time.timestamp()) < 1e-3
    # The encoded token round-trips through PyJWT's validation.
    decoded = LibraryAccessToken(str(access))
    assert decoded["iat"] == access["iat"]


@pytest.mark.django_db
def test_token_issued_right_after_a_revocation_works(student):
    student.tokens_valid_after = datetime.now(tz=UTC) - timedelta(microseconds=1)
    student.save(update_fields=["tokens_valid_after"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(student).access_token}")
    assert client.get("/api/v1/auth/me/").status_code == 200
