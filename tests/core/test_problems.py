"""Every error class answers RFC 9457 problem+json with a stable code and the request id.

Real parts: the full middleware stack and URL map through Django's test client and DRF's
APIClient, DRF's parsers and exception handling, the project's handler400/404/500 and JWT
authentication. A tiny URL map in this module adds one view that fails on purpose.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import include, path

from tests.core.assertions import assert_problem

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
ME = "/api/v1/auth/me/"
USERS = "/api/v1/users/"


def _boom(request):
    raise RuntimeError("deliberate failure")


# Used by the `urls` marker below: the project's URLs plus one view that raises.
urlpatterns = [
    path("api/v1/boom/", _boom),
    path("", include("eduflow.urls")),
]
handler500 = "eduflow.core.views.handler500"


def test_validation_error_has_an_errors_map(api_client):
    body = assert_problem(
        api_client.post("/api/v1/auth/register/", {}, format="json"), 400, "validation_error"
    )
    assert set(body["errors"]) == {"email", "password"}
    assert all(isinstance(m, list) and m for m in body["errors"].values())
    assert body["detail"].startswith(("email:", "password:"))


def test_nested_validation_errors_are_flattened(api_client):
    response = api_client.post(LOGIN, {"email": {"a": 1}, "password": "x"}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert "email" in body["errors"]


def test_malformed_json_is_parse_error(api_client):
    response = api_client.post(LOGIN, data='{"email": ', content_type="application/json")
    assert_problem(response, 400, "parse_error")


def test_json_body_that_is_not_an_object_is_a_validation_error(api_client):
    response = api_client.post(LOGIN, data="[1, 2]", content_type="application/json")
    assert_problem(response, 400, "validation_error")


def test_missing_credentials_is_401_not_authenticated(api_client):
    response = api_client.get(ME)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer ", "Bearer two parts"]
)
def test_bad_token_is_401(api_client, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    body = assert_problem(response, 401, response.json().get("code"))
    assert body["code"] in {"token_not_valid", "bad_authorization_header", "authentication_failed"}
    assert "ErrorDetail" not in body["detail"]


def test_garbage_token_says_token_not_valid_in_plain_words(api_client):
    body = assert_problem(
        api_client.get(ME, HTTP_AUTHORIZATION="Bearer not-a-jwt"), 401, "token_not_valid"
    )
    assert body["detail"] == "Given token not valid for any token type"


def test_forbidden_is_403_permission_denied(make_client, student):
    assert_problem(make_client(student).get(USERS), 403, "permission_denied")


def test_drf_not_found_is_404(make_client, admin_user):
    assert_problem(make_client(admin_user).get(f"{USERS}{uuid.uuid4()}/"), 404, "not_found")


def test_invalid_uuid_is_404(make_client, admin_user):
    assert_problem(make_client(admin_user).get(f"{USERS}12345/"), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options", "head"])
def test_unknown_api_path_is_404_for_any_method(method):
    response = getattr(Client(), method)("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    if method != "head":
        assert_problem(response, 404, "not_found")


def test_unknown_health_path_is_problem_json():
    assert_problem(Client().get("/health/nope/"), 404, "not_found")


def test_non_api_404_stays_html():
    response = Client().get("/definitely-not-here/")
    assert response.status_code == 404
    assert not response.headers["Content-Type"].startswith("application/problem+json")


def test_method_not_allowed_is_405(make_client, student):
    response = make_client(student).put(ME, {}, format="json")
    assert_problem(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post(LOGIN, data="email=a", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_disallowed_host_is_400_problem():
    response = Client().get(ME, HTTP_HOST="evil.example")
    assert_problem(response, 400, "bad_request")


@pytest.mark.urls(__name__)
def test_unexpected_error_is_500_problem_with_request_id():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom/", HTTP_X_REQUEST_ID="trace-500")
    body = assert_problem(response, 500, "server_error")
    assert "trace-500" in body["instance"]
    assert "deliberate failure" not in response.content.decode()


def test_throttled_is_429_with_retry_after(api_client, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "auth_ip": "1/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    payload = {"email": "nobody@example.com", "password": "x"}
    api_client.post(LOGIN, payload, format="json")
    response = api_client.post(LOGIN, payload, format="json")
    body = assert_problem(response, 429, "throttled")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert body["retry_after"] == retry_after
