"""The one user model: email login, a single role field."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    INSTRUCTOR = "instructor", "Instructor"
    STUDENT = "student", "Student"


_USERNAME_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _unique_username(self, base: str) -> str:
        base = _USERNAME_UNSAFE.sub("", base.lower())[:40] or "user"
        candidate = base
        suffix = 1
        while self.filter(username__iexact=candidate).exists():
            suffix += 1
            candidate = f"{base}{suffix}"
        return candidate

    def username_from_email(self, email: str) -> str:
        """A unique username derived from the email's local part."""
        return self._unique_username(email.split("@", 1)[0])

    def get_by_natural_key(self, username: str) -> User:
        """Session and admin logins match the email whatever its case, like the API login."""
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        email = self.normalize_email(email).lower()
        fields.setdefault("role", Role.STUDENT)
        if not fields.get("username"):
            fields["username"] = self.username_from_email(email)
        user = self.model(email=email, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True, role=Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person using EduFlow. Logs in with email (or username); `role` decides what they may do."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    username = models.CharField(max_length=60, unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STUDENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into the Django admin site.")
    # Tokens issued before this moment are refused (password change, deactivation).
    tokens_valid_after = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["-created_at", "id"], name="user_created_idx"),
            models.Index(fields=["role"], name="user_role_idx"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    def get_full_name(self) -> str:
        return self.full_name or self.username

    def get_short_name(self) -> str:
        return self.username


class PasswordResetToken(models.Model):
    """One password-reset request. The token sent by email is `<id>.<signature>`, where the
    signature is an HMAC of the id under SECRET_KEY: nothing secret is stored here or passed to
    the task that sends it, and the same link is rebuilt if the task runs twice. A token works
    once (`used_at`) and until `expires_at` (PASSWORD_RESET_TIMEOUT)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_resets")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["-created_at", "id"], name="pwreset_created_idx"),
            models.Index(fields=["expires_at"], name="pwreset_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"password reset for {self.user_id}"
