"""JWT authentication that also honours per-user token revocation.

Every request loads the user, so deactivation takes effect at once; tokens issued before the
user's `tokens_valid_after` (set on password change and deactivation) are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from eduflow.core.context import user_id_var


def token_issued_before_cutoff(user, issued_at: int | float | None) -> bool:
    """Whether a token issued at `issued_at` (epoch seconds) predates the user's cutoff.

    Tokens made here carry a fractional `iat` (see accounts.tokens), so the comparison is exact.
    A whole-second `iat` is the issue time rounded down: a token from the cutoff's own second
    cannot be told apart from an earlier one and is refused.
    """
    cutoff = getattr(user, "tokens_valid_after", None)
    if cutoff is None:
        return False
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        return True
    return datetime.fromtimestamp(issued_at, tz=UTC) <= cutoff


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_issued_before_cutoff(user, validated_token.get("iat")):
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        user_id_var.set(str(user.pk))
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """Documents the project's JWT authentication as the bearer scheme in the OpenAPI schema."""

    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
