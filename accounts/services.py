"""Every change to users and their credentials."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from eduflow.core.exceptions import Forbidden, ProblemError

from .models import PasswordResetToken, Role, User
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
    from . import tasks

    candidate = User(email=email.lower(), username=username, full_name=full_name)
    _validate_new_password(password, user=candidate, field="password")
    user = User.objects.create_user(
        email=email, password=password, full_name=full_name, username=username, role=Role.STUDENT
    )
    transaction.on_commit(
        functools.partial(tasks.send_welcome_email.delay, str(user.pk)), robust=True
    )
    return user


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
    _spend_reset_tokens(user)
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


# --- password reset ---------------------------------------------------------------------------
_RESET_SALT = "accounts.password_reset"


def _reset_signature(reset_id: str) -> str:
    return salted_hmac(_RESET_SALT, reset_id, algorithm="sha256").hexdigest()


def password_reset_token(reset: PasswordResetToken) -> str:
    """The token mailed for `reset`: `<id>.<HMAC of the id under SECRET_KEY>`.

    Derived, not stored: the database holds nothing that opens an account, and the sending
    task (which gets only the id) rebuilds the same link when it runs twice.
    """
    return f"{reset.pk}.{_reset_signature(str(reset.pk))}"


def password_reset_link(reset: PasswordResetToken) -> str:
    return f"{settings.PASSWORD_RESET_URL}?token={password_reset_token(reset)}"


def _spend_reset_tokens(user: User) -> None:
    PasswordResetToken.objects.filter(user=user, used_at__isnull=True).update(
        used_at=timezone.now()
    )


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Start a reset for the active account with this email, if there is one.

    The caller answers the same whatever happens here; the email goes out from a task after
    commit, with only the reset's id in the task's arguments.
    """
    from . import tasks

    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return
    now = timezone.now()
    reset = PasswordResetToken.objects.create(
        user=user,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
    )
    transaction.on_commit(
        functools.partial(tasks.send_password_reset_email.delay, str(reset.pk)), robust=True
    )


def _invalid_reset_token() -> ProblemError:
    return ProblemError(
        "This password-reset link is invalid, expired or already used.",
        code="invalid_reset_token",
    )


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a mailed token. The token (and every other open reset of the
    account) is spent, all refresh tokens are revoked and earlier access tokens refused.

    400 `invalid_reset_token` for a malformed, forged, expired or used token; the password
    validators report on `new_password` (the token stays usable then).
    """
    reset_id, _, signature = token.strip().partition(".")
    try:
        reset_id = str(uuid.UUID(reset_id))
    except ValueError:
        raise _invalid_reset_token() from None
    if not constant_time_compare(signature, _reset_signature(reset_id)):
        raise _invalid_reset_token()
    reset = PasswordResetToken.objects.select_for_update().filter(pk=reset_id).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= timezone.now():
        raise _invalid_reset_token()
    user = User.objects.select_for_update().filter(pk=reset.user_id, is_active=True).first()
    if user is None:
        raise _invalid_reset_token()
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    _spend_reset_tokens(user)
    _revoke_tokens(user)
    return user


def password_reset_tokens_purge(*, now=None) -> int:
    """Delete reset tokens that expired or were used more than a day ago; how many."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = PasswordResetToken.objects.filter(
        models.Q(expires_at__lt=cutoff) | models.Q(used_at__lt=cutoff)
    ).delete()
    return deleted
