"""JWT authentication that also honours per-user token revocation.

Every request loads the user, so deactivation takes effect at once; tokens issued before the
user's `tokens_valid_after` (set on password change and deactivation) are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from eduflow.core.context import user_id_var


def token_issued_before_cutoff(user, issued_at: int | float | None) -> bool:
    cutoff = getattr(user, "tokens_valid_after", None)
    if cutoff is None:
        return False
    if issued_at is None:
        return True
    return datetime.fromtimestamp(int(issued_at) + 1, tz=UTC) <= cutoff


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_issued_before_cutoff(user, validated_token.get("iat")):
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        user_id_var.set(str(user.pk))
        return user
