"""Session login for the browsable API, next to JWT.

Real parts: Django's test Client with CSRF checks enforced, DRF's /api-auth/login/ view and
templates, SessionAuthentication and the BrowsableAPIRenderer, sessions in the test database.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api-auth/login/"
ME = "/api/v1/auth/me/"


def session_login(email: str, password: str = DEFAULT_PASSWORD, next_url: str = ME) -> Client:
    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN)
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"{LOGIN}?next={next_url}",
        {"username": email, "password": password, "csrfmiddlewaretoken": token},
    )
    client.login_response = response
    return client


def test_instructor_uses_the_browsable_api_after_session_login(instructor):
    client = session_login(instructor.email.upper())
    assert client.login_response.status_code == 302
    assert client.login_response["Location"] == ME

    response = client.get(ME, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert instructor.email in html
    assert instructor.password not in html


def test_session_login_without_next_lands_on_the_profile(instructor):
    client = Client()
    response = client.post(LOGIN, {"username": instructor.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"], HTTP_ACCEPT="application/json").json()["id"] == str(
        instructor.pk
    )


def test_wrong_session_password_does_not_log_in(instructor):
    client = session_login(instructor.email, "wrong-password")
    assert client.login_response.status_code == 200  # the form again, with an error
    assert_problem(client.get(ME, HTTP_ACCEPT="application/json"), 401, "not_authenticated")


def test_session_writes_need_the_csrf_token(instructor):
    client = session_login(instructor.email)
    refused = client.patch(ME, {"full_name": "Via Session"}, content_type="application/json")
    assert_problem(refused, 403, "permission_denied")
    instructor.refresh_from_db()
    assert instructor.full_name != "Via Session"

    accepted = client.patch(
        ME,
        {"full_name": "Via Session"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert accepted.status_code == 200
    instructor.refresh_from_db()
    assert instructor.full_name == "Via Session"
