"""Authentication and user endpoints. Views validate, call one service, serialize."""

from __future__ import annotations

from django.contrib.auth.models import update_last_login
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from eduflow.core.permissions import IsAdmin
from eduflow.core.throttling import AuthIpRateThrottle, LoginAccountRateThrottle

from . import services
from .models import User
from .serializers import (
    AcceptedSerializer,
    AdminUserUpdateSerializer,
    LoginSerializer,
    MeUpdateSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
    user_representation,
)


class CredentialsView(APIView):
    """Endpoints that take credentials in the body instead of an Authorization header.

    They run no authenticators, so DRF would turn their 401s into 403s; naming the scheme keeps
    a failed login or refresh a 401 with `WWW-Authenticate`.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthIpRateThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer}, tags=["auth"])
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(CredentialsView):
    throttle_classes = [AuthIpRateThrottle, LoginAccountRateThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(description="Wrong credentials")},
        tags=["auth"],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        update_last_login(None, serializer.user)
        return Response(serializer.validated_data)


class RefreshView(CredentialsView):
    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.token_refresh(raw_refresh=serializer.validated_data["refresh"]))


class LogoutView(CredentialsView):
    @extend_schema(request=RefreshSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.token_logout(raw_refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer}, tags=["auth"])
    def get(self, request):
        return Response(user_representation(request.user))

    @extend_schema(request=MeUpdateSerializer, responses={200: UserSerializer}, tags=["auth"])
    def patch(self, request):
        serializer = MeUpdateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(user_representation(user))


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=PasswordChangeSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_change_password(user=request.user, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


RESET_REQUEST_ACCEPTED = (
    "If an active account uses this email address, a link to reset its password is on its way."
)


class PasswordResetView(CredentialsView):
    """Ask for a reset link. Always 202 with the same body: it never tells whether an account
    exists. Throttled per client address like login and registration."""

    throttle_classes = [AuthIpRateThrottle]

    @extend_schema(
        request=PasswordResetRequestSerializer, responses={202: AcceptedSerializer}, tags=["auth"]
    )
    def post(self, request):
        serializer = PasswordResetRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response({"detail": RESET_REQUEST_ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(CredentialsView):
    """Set a new password with the token from the reset email (400 `invalid_reset_token`)."""

    throttle_classes = [AuthIpRateThrottle]

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={204: None, 400: OpenApiResponse(description="invalid_reset_token")},
        tags=["auth"],
    )
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Administrators list users, change roles and deactivate accounts."""

    queryset = User.objects.all()
    serializer_class = UserSerializer
    permission_classes = [IsAdmin]
    filterset_fields = ["role", "is_active"]
    search_fields = ["email", "username", "full_name"]
    ordering_fields = ["created_at", "email", "username"]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(request=AdminUserUpdateSerializer, responses={200: UserSerializer})
    def partial_update(self, request, *args, **kwargs):
        user = self.get_object()
        serializer = AdminUserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_admin_update(
            actor=request.user, user=user, **serializer.validated_data
        )
        return Response(UserSerializer(user).data)
