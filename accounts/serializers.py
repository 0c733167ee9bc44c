"""Explicit user shapes: nothing secret or internal is ever serialized."""

from __future__ import annotations

from django.contrib.auth import authenticate
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnDict
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from eduflow.core.rendering import drf_datetime

from .models import Role, User
from .tokens import RefreshToken

USER_READ_FIELDS = (
    "id",
    "email",
    "username",
    "full_name",
    "role",
    "is_active",
    "created_at",
    "updated_at",
)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = USER_READ_FIELDS
        read_only_fields = USER_READ_FIELDS


def user_representation(user: User) -> ReturnDict:
    """`UserSerializer(user).data`, built directly for `GET /auth/me/`, which every client calls
    all the time: a ModelSerializer builds its field objects from the model per instance, many
    times the cost of these lines. Tests pin the equality of the two; `UserSerializer` stays
    the documented shape. The (unevaluated, cheap) serializer rides along as `.data` does, for
    renderers that look at it (the browsable API).
    """
    payload = {
        "id": str(user.pk),
        "email": user.email,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": drf_datetime(user.created_at),
        "updated_at": drf_datetime(user.updated_at),
    }
    return ReturnDict(payload, serializer=UserSerializer(user))


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    username = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{3,60}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Use 3-60 letters, digits, dots, dashes or underscores."},
    )

    def validate_email(self, value: str) -> str:
        value = value.lower()
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("An account with this email already exists.")
        return value

    def validate_username(self, value: str) -> str:
        if value and User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.")
        return value


class MeUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    username = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{3,60}$",
        required=False,
        error_messages={"invalid": "Use 3-60 letters, digits, dots, dashes or underscores."},
    )

    def validate_username(self, value: str) -> str:
        user = self.context["request"].user
        if User.objects.filter(username__iexact=value).exclude(pk=user.pk).exists():
            raise serializers.ValidationError("This username is taken.")
        return value


class AdminUserUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False, max_length=128)
    new_password = serializers.CharField(trim_whitespace=False, max_length=128)


class LoginSerializer(serializers.Serializer):
    """`{"email", "password"}` or `{"username", "password"}` → a new token pair."""

    email = serializers.CharField(required=False, max_length=254)
    username = serializers.CharField(required=False, max_length=60)
    password = serializers.CharField(trim_whitespace=False, max_length=128, write_only=True)

    def validate(self, attrs):
        email = attrs.get("email")
        username = attrs.get("username")
        if not email and not username:
            raise serializers.ValidationError({"email": ["Give an email or a username."]})
        if not email:
            email = (
                User.objects.filter(username__iexact=username)
                .values_list("email", flat=True)
                .first()
                or f"{username}@unknown.invalid"
            )
        user = authenticate(
            self.context.get("request"), email=email.lower(), password=attrs["password"]
        )
        if user is None:
            raise AuthenticationFailed(
                "No active account matches these credentials.", code="invalid_credentials"
            )
        refresh = RefreshToken.for_user(user)
        self.user = user
        return {"access": str(refresh.access_token), "refresh": str(refresh)}


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, trim_whitespace=True)
    new_password = serializers.CharField(trim_whitespace=False, max_length=128, write_only=True)


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
