"""JWT authentication that also honours per-user token revocation.

Every request loads the user, so deactivation takes effect at once; tokens issued before the
user's `tokens_valid_after` (set on password change and deactivation) are refused.

The load is the hottest query there is (every authenticated request makes it), so it runs a
SELECT compiled once per database connection instead of building a queryset per request; the
row becomes the same full `User` instance the ORM would have made (docs/decisions/0021).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from eduflow.core.context import user_id_var

from .models import User


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


class _CompiledUserLookup:
    """`User.objects.filter(pk=...).first()` with the SQL compiled once per connection.

    Building and compiling a queryset costs several times the PostgreSQL round trip of this
    primary-key SELECT. The ORM still writes the SQL and supplies the column converters (SQLite
    stores UUIDs and datetimes as text), so the result is the instance `.get()` would return.
    Plans are kept per thread and checked against the thread's connection object, because
    converters are bound to the connection that compiled them.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _plan(self, alias: str):
        connection = connections[alias]
        plans = self._local.__dict__.setdefault("plans", {})
        plan = plans.get(alias)
        if plan is None or plan[0] is not connection:
            placeholder = User._meta.pk.get_default()
            query = User._base_manager.db_manager(alias).filter(pk=placeholder).order_by().query
            compiler = query.get_compiler(alias)
            sql, params = compiler.as_sql()
            if len(params) != 1:  # pragma: no cover - the SELECT has exactly one parameter
                raise RuntimeError(f"Unexpected user lookup parameters: {params!r}")
            columns = [column for column, _sql, _alias in compiler.select]
            attnames = [column.target.attname for column in columns]
            converters = compiler.get_converters(columns)
            plan = (connection, compiler, sql, attnames, converters)
            plans[alias] = plan
        return plan

    def get(self, pk) -> User | None:
        alias = router.db_for_read(User)
        connection, compiler, sql, attnames, converters = self._plan(alias)
        # The same preparation (and ValidationError for a malformed id) as a `pk=` filter.
        value = User._meta.pk.get_db_prep_value(pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, (value,))
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters((row,), converters)))
        return User.from_db(alias, attnames, row)


_user_lookup = _CompiledUserLookup()


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        """The library's checks and messages, with the user loaded by `_user_lookup`."""
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as e:
            raise InvalidToken(_("Token contained no recognizable user identification")) from e
        user = _user_lookup.get(user_id)  # SIMPLE_JWT["USER_ID_FIELD"] is the primary key
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                _("The user's password has been changed."), code="password_changed"
            )
        if token_issued_before_cutoff(user, validated_token.get("iat")):
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        user_id_var.set(str(user.pk))
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """Documents the project's JWT authentication as the bearer scheme in the OpenAPI schema."""

    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
