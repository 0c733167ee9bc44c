"""Password reset over HTTP: request (always 202), the mailed link, confirm, expiry, single use,
revocation of every earlier token, validators, throttling.

Real parts: the full Django/DRF stack, the test database (SQLite or PostgreSQL), the project's
JWT authentication and simplejwt's blacklist, the configured password validators, Celery in eager
mode (the email task really runs after commit) and Django's locmem mail outbox. Nothing mocked.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import PasswordResetToken, User
from accounts.tokens import RefreshToken
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

RESET = "/api/v1/auth/password/reset/"
CONFIRM = "/api/v1/auth/password/reset/confirm/"
LOGIN = "/api/v1/auth/login/"
ME = "/api/v1/auth/me/"
NEW = "plum-orbit-harbor-7319"
TOKEN_IN_LINK = re.compile(r"\?token=([0-9a-f-]{36}\.[0-9a-f]{64})")


def request_reset(email: str, capture) -> object:
    with capture(execute=True):
        return APIClient().post(RESET, {"email": email}, format="json")


def mailed_token(message) -> str:
    found = TOKEN_IN_LINK.findall(message.body)
    assert len(found) == 1, message.body
    html = message.alternatives[0][0] if hasattr(message, "alternatives") else ""
    assert found[0] in html
    return found[0]


def test_request_for_an_account_mails_a_link_and_answers_202(
    django_capture_on_commit_callbacks, settings
):
    settings.PASSWORD_RESET_URL = "https://learn.example.org/reset-password"
    user = UserFactory(email="ada@example.com")
    response = request_reset("ADA@example.com", django_capture_on_commit_callbacks)
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert "Reset your EduFlow password" in message.subject
    token = mailed_token(message)
    assert f"https://learn.example.org/reset-password?token={token}" in message.body
    assert "30 minutes" in message.body
    reset = PasswordResetToken.objects.get(user=user)
    assert token.startswith(f"{reset.pk}.")
    # Nothing that opens the account is stored: the signature is not in any column.
    signature = token.split(".", 1)[1]
    stored = PasswordResetToken.objects.filter(pk=reset.pk).values().get()
    assert all(signature not in str(value) for value in stored.values())


def test_request_answers_the_same_for_unknown_inactive_and_known_accounts(
    django_capture_on_commit_callbacks,
):
    UserFactory(email="known@example.com")
    UserFactory(email="gone@example.com", is_active=False)
    answers = [
        request_reset(email, django_capture_on_commit_callbacks)
        for email in ("known@example.com", "nobody@example.com", "gone@example.com")
    ]
    assert {r.status_code for r in answers} == {202}
    assert len({r.content for r in answers}) == 1
    assert {tuple(sorted(r.headers.keys())) for r in answers} == {
        tuple(sorted(answers[0].headers.keys()))
    }
    assert [m.to for m in mail.outbox] == [["known@example.com"]]
    assert PasswordResetToken.objects.count() == 1


def test_request_with_bad_input_is_a_validation_problem(api_client):
    for body in ({}, {"email": "not-an-email"}, {"email": ["a@b.c"]}):
        response = api_client.post(RESET, body, format="json")
        body = assert_problem(response, 400, "validation_error")
        assert "email" in body["errors"]


def test_confirm_sets_the_password_and_revokes_every_earlier_token(
    django_capture_on_commit_callbacks,
):
    user = UserFactory(email="ada@example.com")
    old_refresh = RefreshToken.for_user(user)
    old_access = str(old_refresh.access_token)
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])

    response = APIClient().post(CONFIRM, {"token": token, "new_password": NEW}, format="json")
    assert response.status_code == 204, response.content

    user.refresh_from_db()
    assert user.check_password(NEW)
    assert not user.check_password(DEFAULT_PASSWORD)
    outstanding = OutstandingToken.objects.filter(user=user)
    assert outstanding.exists()
    assert BlacklistedToken.objects.filter(token__in=outstanding).count() == outstanding.count()
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    assert_problem(stale.get(ME), 401, "token_revoked")
    assert_problem(
        APIClient().post("/api/v1/auth/refresh/", {"refresh": str(old_refresh)}, format="json"),
        401,
        "token_not_valid",
    )
    login = APIClient().post(LOGIN, {"email": user.email, "password": NEW}, format="json")
    assert login.status_code == 200
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert fresh.get(ME).status_code == 200


def test_a_token_works_once(django_capture_on_commit_callbacks):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    client = APIClient()
    assert client.post(CONFIRM, {"token": token, "new_password": NEW}).status_code == 204
    again = client.post(CONFIRM, {"token": token, "new_password": "second-" + NEW})
    assert_problem(again, 400, "invalid_reset_token")
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_confirm_spends_every_other_open_reset_of_the_account(django_capture_on_commit_callbacks):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    request_reset(user.email, django_capture_on_commit_callbacks)
    first, second = (mailed_token(m) for m in mail.outbox)
    assert first != second
    assert APIClient().post(CONFIRM, {"token": second, "new_password": NEW}).status_code == 204
    assert_problem(
        APIClient().post(CONFIRM, {"token": first, "new_password": "x-" + NEW}),
        400,
        "invalid_reset_token",
    )


def test_an_expired_token_is_refused(django_capture_on_commit_callbacks, settings):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    reset = PasswordResetToken.objects.get(user=user)
    assert reset.expires_at - reset.created_at == timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    assert settings.PASSWORD_RESET_TIMEOUT == 30 * 60
    PasswordResetToken.objects.filter(pk=reset.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = APIClient().post(CONFIRM, {"token": token, "new_password": NEW})
    assert_problem(response, 400, "invalid_reset_token")
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_password_change_spends_open_resets(django_capture_on_commit_callbacks, make_client):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    changed = make_client(user).post(
        "/api/v1/auth/password/change/",
        {"old_password": DEFAULT_PASSWORD, "new_password": NEW},
        format="json",
    )
    assert changed.status_code == 204
    response = APIClient().post(CONFIRM, {"token": token, "new_password": "x-" + NEW})
    assert_problem(response, 400, "invalid_reset_token")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # forged signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: "not-a-uuid." + t.split(".")[1],
        lambda t: "",
        lambda t: "." * 3,
        lambda t: "00000000-0000-0000-0000-000000000000." + t.split(".")[1],
    ],
)
def test_malformed_or_forged_tokens_are_refused(django_capture_on_commit_callbacks, mangle):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    response = APIClient().post(
        CONFIRM, {"token": mangle(token), "new_password": NEW}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_reset_token", "validation_error"}
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_token_of_a_deactivated_account_is_refused(django_capture_on_commit_callbacks):
    user = UserFactory()
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = APIClient().post(CONFIRM, {"token": token, "new_password": NEW})
    assert_problem(response, 400, "invalid_reset_token")


def test_validators_apply_and_a_rejected_password_keeps_the_token(
    django_capture_on_commit_callbacks,
):
    user = UserFactory(email="ada.lovelace@example.com")
    request_reset(user.email, django_capture_on_commit_callbacks)
    token = mailed_token(mail.outbox[0])
    for weak in ("short", "12345678901", "password123"):
        response = APIClient().post(CONFIRM, {"token": token, "new_password": weak})
        body = assert_problem(response, 400, "validation_error")
        assert "new_password" in body["errors"]
    assert APIClient().post(CONFIRM, {"token": token, "new_password": NEW}).status_code == 204


def test_confirm_with_missing_fields_is_a_validation_problem(api_client):
    body = assert_problem(api_client.post(CONFIRM, {}, format="json"), 400, "validation_error")
    assert set(body["errors"]) == {"token", "new_password"}


def test_requests_are_throttled_per_client_address(monkeypatch, settings):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_ip": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    client = APIClient()
    responses = [client.post(RESET, {"email": f"n{i}@example.com"}) for i in range(4)]
    assert [r.status_code for r in responses[:3]] == [202, 202, 202]
    assert_problem(responses[3], 429, "throttled")
    confirm = client.post(CONFIRM, {"token": "x.y", "new_password": NEW})
    assert_problem(confirm, 429, "throttled")
    other = APIClient(REMOTE_ADDR="10.1.2.3")
    assert other.post(RESET, {"email": "n@example.com"}).status_code == 202
