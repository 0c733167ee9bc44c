"""JWT classes whose `iat` keeps sub-second precision.

Revocation compares a token's issue time with `User.tokens_valid_after`. With whole-second `iat`
values a token issued a moment before a password change and one issued a moment after it (in the
same second) look the same; a fractional `iat` (allowed by RFC 7519 NumericDate) tells them apart.
"""

from __future__ import annotations

from datetime import datetime

from rest_framework_simplejwt import tokens


class _PreciseIssuedAtMixin:
    def set_iat(self, claim: str = "iat", at_time: datetime | None = None) -> None:
        moment = at_time or self.current_time
        self.payload[claim] = round(moment.timestamp(), 6)


class AccessToken(_PreciseIssuedAtMixin, tokens.AccessToken):
    pass


class RefreshToken(_PreciseIssuedAtMixin, tokens.RefreshToken):
    access_token_class = AccessToken
