"""Every change to users and their credentials."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from eduflow.core.exceptions import Forbidden, ProblemError

from .models import Role, User
from .tokens import RefreshToken


def _validate_new_password(password: str, *, user: User, field: str) -> None:
    """Run the configured password validators, reporting failures on the request's field."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


@transaction.atomic
def user_register(*, email: str, password: str, full_name: str = "", username: str = "") -> User:
    """Create a student account. Registration never grants more than the student role."""
    candidate = User(email=email.lower(), username=username, full_name=full_name)
    _validate_new_password(password, user=candidate, field="password")
    return User.objects.create_user(
        email=email, password=password, full_name=full_name, username=username, role=Role.STUDENT
    )


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    role: str = Role.STUDENT,
    full_name: str = "",
    username: str = "",
) -> User:
    """Create an account with any role (the admin's add form). Admins get admin-site access."""
    candidate = User(email=email.lower(), username=username, full_name=full_name)
    _validate_new_password(password, user=candidate, field="password")
    is_admin = role == Role.ADMIN
    return User.objects.create_user(
        email=email,
        password=password,
        full_name=full_name,
        username=username,
        role=role,
        is_staff=is_admin,
        is_superuser=is_admin,
    )


@transaction.atomic
def user_update_profile(
    *, user: User, full_name: str | None = None, username: str | None = None
) -> User:
    """Change what a user may change about themselves: name and username."""
    changed: list[str] = []
    if full_name is not None:
        user.full_name = full_name
        changed.append("full_name")
    if username is not None:
        user.username = username
        changed.append("username")
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
    return user


def _revoke_tokens(user: User) -> None:
    """Blacklist every outstanding refresh token and refuse older access tokens."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    user.tokens_valid_after = timezone.now()
    user.save(update_fields=["tokens_valid_after", "updated_at"])


@transaction.atomic
def user_change_password(*, user: User, old_password: str, new_password: str) -> User:
    if not user.check_password(old_password):
        raise ProblemError("The current password is not correct.", code="wrong_password")
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    _revoke_tokens(user)
    return user


@transaction.atomic
def user_admin_update(
    *,
    actor: User,
    user: User,
    role: str | None = None,
    is_active: bool | None = None,
    full_name: str | None = None,
) -> User:
    """Admin changes to an account: role, activation, name.

    Administrators cannot deactivate or demote themselves, so the last one cannot lock everybody
    out by accident.
    """
    if actor.pk == user.pk and (is_active is False or (role is not None and role != Role.ADMIN)):
        raise Forbidden(
            "Administrators cannot deactivate or demote their own account.", code="self_lockout"
        )
    fields: list[str] = []
    if role is not None and role != user.role:
        user.role = role
        # The admin site follows the role; there is no second switch that could disagree.
        user.is_staff = role == Role.ADMIN
        user.is_superuser = role == Role.ADMIN
        fields += ["role", "is_staff", "is_superuser"]
    if full_name is not None:
        user.full_name = full_name
        fields.append("full_name")
    deactivated = False
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        fields.append("is_active")
        deactivated = not is_active
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    if deactivated:
        _revoke_tokens(user)
    return user


def _load_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed(
            "The refresh token is invalid, expired or already used.", code="token_not_valid"
        ) from exc


@transaction.atomic
def token_refresh(*, raw_refresh: str) -> dict[str, str]:
    """Rotate a refresh token: the presented one is blacklisted, a new pair is returned.

    The outstanding-token row is locked, so two concurrent refreshes with one token cannot both
    succeed.
    """
    token = _load_refresh(raw_refresh)
    jti = token.payload.get("jti")
    # OutstandingToken's default ordering joins the (nullable) user; PostgreSQL cannot lock the
    # nullable side of an outer join, so lock this row only and order by its key.
    outstanding = (
        OutstandingToken.objects.select_for_update(of=("self",))
        .filter(jti=jti)
        .order_by("pk")
        .first()
    )
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise AuthenticationFailed(
            "The refresh token is invalid, expired or already used.", code="token_not_valid"
        )
    user = User.objects.filter(pk=token.payload.get("user_id")).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed(
            "No active account found for this token.", code="no_active_account"
        )
    BlacklistedToken.objects.create(token=outstanding)
    fresh = RefreshToken.for_user(user)
    return {"access": str(fresh.access_token), "refresh": str(fresh)}


@transaction.atomic
def token_logout(*, raw_refresh: str) -> None:
    """Blacklist a refresh token so it can never be used again."""
    token = _load_refresh(raw_refresh)
    token.blacklist()
