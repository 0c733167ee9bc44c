"""Registration, login, token refresh/logout, profile and password change over HTTP.

Real parts: the full Django/DRF stack through APIClient, the project's JWT authentication and
simplejwt's token blacklist tables in the test database (SQLite or PostgreSQL), the configured
password validators; Argon2 itself in the `argon2`-marked test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import Role, User
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
LOGIN = "/api/v1/auth/login/"
REFRESH = "/api/v1/auth/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"
PASSWORD_CHANGE = "/api/v1/auth/password/change/"

USER_FIELDS = {
    "id",
    "email",
    "username",
    "full_name",
    "role",
    "is_active",
    "created_at",
    "updated_at",
}
STRONG = "plum-orbit-harbor-7319"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def login(email: str, password: str = DEFAULT_PASSWORD) -> dict:
    response = APIClient().post(LOGIN, {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- register ----------------------------------------------------------------------------------


def test_register_returns_the_user_without_secrets(api_client):
    response = api_client.post(
        REGISTER,
        {"email": "Ada@Example.com", "password": STRONG, "full_name": "Ada Lovelace"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == Role.STUDENT
    assert body["is_active"] is True
    user = User.objects.get(pk=body["id"])
    assert user.check_password(STRONG)
    assert user.password not in response.content.decode()


def test_register_never_grants_more_than_student(api_client):
    response = api_client.post(
        REGISTER,
        {
            "email": "mallory@example.com",
            "password": STRONG,
            "role": "admin",
            "is_staff": True,
            "is_superuser": True,
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["role"] == Role.STUDENT
    user = User.objects.get(email="mallory@example.com")
    assert (user.role, user.is_staff, user.is_superuser) == (Role.STUDENT, False, False)


def test_register_derives_a_unique_username_from_the_email(api_client):
    first = api_client.post(REGISTER, {"email": "sam@one.example", "password": STRONG})
    second = api_client.post(REGISTER, {"email": "Sam@two.example", "password": STRONG})
    assert first.status_code == second.status_code == 201
    assert first.json()["username"] == "sam"
    assert second.json()["username"] not in {"", "sam"}
    assert second.json()["username"].startswith("sam")


def test_register_keeps_a_chosen_username(api_client):
    response = api_client.post(
        REGISTER, {"email": "kim@example.com", "password": STRONG, "username": "kim.dev"}
    )
    assert response.status_code == 201
    assert response.json()["username"] == "kim.dev"


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "kimberly@example"])
def test_register_weak_password_is_a_validation_error_on_password(api_client, password):
    response = api_client.post(
        REGISTER, {"email": "kimberly@example.com", "password": password}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["password"]
    assert not User.objects.filter(email="kimberly@example.com").exists()


def test_register_duplicate_email_in_any_case_is_rejected(api_client, student):
    response = api_client.post(
        REGISTER, {"email": student.email.upper(), "password": STRONG}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert "email" in body["errors"]
    assert User.objects.filter(email__iexact=student.email).count() == 1


def test_register_taken_username_in_any_case_is_rejected(api_client, student):
    response = api_client.post(
        REGISTER,
        {"email": "new@example.com", "password": STRONG, "username": student.username.upper()},
        format="json",
    )
    body = assert_problem(response, 400, "validation_error")
    assert "username" in body["errors"]
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": "not-an-email", "password": STRONG},
        {"email": "a@example.com", "password": STRONG, "username": "a b"},
        {"email": ["a@example.com"], "password": STRONG},
        {"email": "a@example.com", "password": "x" * 200},
    ],
)
def test_register_bad_input_is_400_and_creates_nothing(api_client, payload):
    response = api_client.post(REGISTER, payload, format="json")
    assert_problem(response, 400, "validation_error")
    assert User.objects.count() == 0


@pytest.mark.argon2
def test_registered_password_is_hashed_with_argon2(api_client):
    response = api_client.post(REGISTER, {"email": "argon@example.com", "password": STRONG})
    assert response.status_code == 201
    user = User.objects.get(email="argon@example.com")
    assert user.password.startswith("argon2")
    assert user.check_password(STRONG)


# --- login -------------------------------------------------------------------------------------


def test_login_with_email_returns_a_working_token_pair(student):
    tokens = login(student.email)
    assert set(tokens) == {"access", "refresh"}
    response = bearer(tokens["access"]).get(ME)
    assert response.status_code == 200
    assert response.json()["id"] == str(student.pk)


def test_login_with_username_or_differently_cased_email(api_client, student):
    by_username = api_client.post(
        LOGIN, {"username": student.username.upper(), "password": DEFAULT_PASSWORD}
    )
    by_email = api_client.post(
        LOGIN, {"email": student.email.upper(), "password": DEFAULT_PASSWORD}
    )
    assert by_username.status_code == 200, by_username.content
    assert by_email.status_code == 200, by_email.content
    assert AccessToken(by_username.json()["access"])["user_id"] == str(student.pk)


def test_login_records_last_login(student):
    assert student.last_login is None
    login(student.email)
    student.refresh_from_db()
    assert student.last_login is not None


@pytest.mark.parametrize(
    "make_payload",
    [
        lambda user: {"email": "nobody@example.com", "password": DEFAULT_PASSWORD},
        lambda user: {"username": "nobody-here", "password": DEFAULT_PASSWORD},
        lambda user: {"email": user.email, "password": "wrong-password"},
        lambda user: {"username": user.username, "password": "wrong-password"},
    ],
    ids=["unknown-email", "unknown-username", "wrong-password", "wrong-password-username"],
)
def test_login_wrong_credentials_is_401_invalid_credentials(api_client, student, make_payload):
    response = api_client.post(LOGIN, make_payload(student), format="json")
    assert_problem(response, 401, "invalid_credentials")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert OutstandingToken.objects.count() == 0


def test_login_inactive_user_is_401_invalid_credentials(api_client):
    user = UserFactory(is_active=False)
    response = api_client.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})
    assert_problem(response, 401, "invalid_credentials")


def test_login_without_email_or_username_is_a_validation_error(api_client):
    response = api_client.post(LOGIN, {"password": DEFAULT_PASSWORD}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert "email" in body["errors"]


def test_tokens_lifetimes_follow_settings(student):
    tokens = login(student.email)
    access = AccessToken(tokens["access"])
    refresh = RefreshToken(tokens["refresh"])
    access_lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    refresh_lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    assert access_lifetime == timedelta(minutes=15)
    assert refresh_lifetime == timedelta(days=7)
    assert abs(access["exp"] - access["iat"] - access_lifetime.total_seconds()) <= 1
    assert abs(refresh["exp"] - refresh["iat"] - refresh_lifetime.total_seconds()) <= 1


# --- refresh and logout ------------------------------------------------------------------------


def test_refresh_rotates_and_blacklists_the_old_token(api_client, student):
    tokens = login(student.email)
    response = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"}
    old_jti = RefreshToken(tokens["refresh"], verify=False)["jti"]
    new_jti = RefreshToken(fresh["refresh"], verify=False)["jti"]
    assert new_jti != old_jti
    assert BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    assert not BlacklistedToken.objects.filter(token__jti=new_jti).exists()
    assert bearer(fresh["access"]).get(ME).status_code == 200

    reused = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_problem(reused, 401, "token_not_valid")
    assert api_client.post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "access"])
def test_refresh_with_something_else_than_a_refresh_token_is_401(api_client, student, kind):
    value = "not.a.token" if kind == "garbage" else login(student.email)["access"]
    response = api_client.post(REFRESH, {"refresh": value}, format="json")
    assert_problem(response, 401, "token_not_valid")


def test_refresh_without_token_is_a_validation_error(api_client):
    body = assert_problem(api_client.post(REFRESH, {}, format="json"), 400, "validation_error")
    assert "refresh" in body["errors"]


def test_logout_blacklists_the_refresh_token(api_client, student):
    tokens = login(student.email)
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(
        token__jti=RefreshToken(tokens["refresh"], verify=False)["jti"]
    ).exists()
    after = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_problem(after, 401, "token_not_valid")


def test_logout_with_invalid_token_is_401(api_client):
    assert_problem(
        api_client.post(LOGOUT, {"refresh": "nope"}, format="json"), 401, "token_not_valid"
    )


# --- me ----------------------------------------------------------------------------------------


def test_me_returns_the_caller(make_client, instructor):
    response = make_client(instructor).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["role"]) == (str(instructor.pk), Role.INSTRUCTOR)


def test_me_anonymous_is_401(api_client):
    assert_problem(api_client.get(ME), 401, "not_authenticated")


def test_me_patch_changes_name_and_username_only(make_client, student):
    original_email = student.email
    response = make_client(student).patch(
        ME,
        {
            "full_name": "New Name",
            "username": "new.name",
            "role": "admin",
            "email": "other@example.com",
            "is_staff": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "New Name"
    student.refresh_from_db()
    assert (student.full_name, student.username) == ("New Name", "new.name")
    assert (student.role, student.email, student.is_staff) == (Role.STUDENT, original_email, False)


def test_me_patch_taken_username_is_400(make_client, student, instructor):
    response = make_client(student).patch(
        ME, {"username": instructor.username.upper()}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert "username" in body["errors"]
    student.refresh_from_db()
    assert student.username != instructor.username.upper()


def test_me_patch_keeping_own_username_is_fine(make_client, student):
    response = make_client(student).patch(ME, {"username": student.username}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("username", ["ab", "with space", "x" * 61, ""])
def test_me_patch_invalid_username_is_400(make_client, student, username):
    before = student.username
    response = make_client(student).patch(ME, {"username": username}, format="json")
    assert_problem(response, 400, "validation_error")
    student.refresh_from_db()
    assert student.username == before


# --- password change ---------------------------------------------------------------------------


def test_password_change_wrong_old_password_is_400(student):
    tokens = login(student.email)
    response = bearer(tokens["access"]).post(
        PASSWORD_CHANGE, {"old_password": "not-it", "new_password": STRONG}, format="json"
    )
    assert_problem(response, 400, "wrong_password")
    student.refresh_from_db()
    assert student.check_password(DEFAULT_PASSWORD)
    assert student.tokens_valid_after is None


def test_password_change_weak_new_password_is_400_on_new_password(student):
    tokens = login(student.email)
    response = bearer(tokens["access"]).post(
        PASSWORD_CHANGE, {"old_password": DEFAULT_PASSWORD, "new_password": "123"}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["new_password"]
    student.refresh_from_db()
    assert student.check_password(DEFAULT_PASSWORD)


def test_password_change_revokes_earlier_tokens_and_new_login_works(student):
    first = login(student.email)
    second = login(student.email)
    response = bearer(first["access"]).post(
        PASSWORD_CHANGE,
        {"old_password": DEFAULT_PASSWORD, "new_password": STRONG},
        format="json",
    )
    assert response.status_code == 204, response.content

    # Every token issued before the change is dead, even within the same second.
    for tokens in (first, second):
        assert_problem(bearer(tokens["access"]).get(ME), 401, "token_revoked")
        refreshed = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
        assert_problem(refreshed, 401, "token_not_valid")

    failed = APIClient().post(LOGIN, {"email": student.email, "password": DEFAULT_PASSWORD})
    assert_problem(failed, 401, "invalid_credentials")
    fresh = login(student.email, STRONG)
    assert bearer(fresh["access"]).get(ME).status_code == 200
    assert APIClient().post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200


def test_password_change_requires_authentication(api_client):
    response = api_client.post(
        PASSWORD_CHANGE, {"old_password": "a", "new_password": "b"}, format="json"
    )
    assert_problem(response, 401, "not_authenticated")
