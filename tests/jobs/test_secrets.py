"""No task argument carries a password, a reset token or another secret.

Every message sent to Celery goes through `Task.apply_async` (`.delay` included); the test wraps
it to record each task's name, args and kwargs, then walks through registration, enrollment, a
reset request and its confirmation. Real parts: the Django/DRF stack, the test database, Celery
in eager mode, the locmem outbox. The wrapper records and calls the real method (no mock).
"""

from __future__ import annotations

import re

import pytest
from celery.app.task import Task
from django.core import mail
from rest_framework.test import APIClient

from accounts.tokens import RefreshToken
from tests.factories import PublishedCourseFactory

pytestmark = pytest.mark.django_db

PASSWORD = "plum-orbit-harbor-7319"
NEW_PASSWORD = "quartz-lantern-meadow-5821"


@pytest.fixture
def sent_tasks(monkeypatch):
    sent: list[tuple[str, tuple, dict]] = []
    original = Task.apply_async

    def recording(self, args=None, kwargs=None, *rest, **options):
        sent.append((self.name, tuple(args or ()), dict(kwargs or {})))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", recording)
    return sent


def test_task_arguments_never_contain_secrets(sent_tasks, django_capture_on_commit_callbacks):
    client = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        registered = client.post(
            "/api/v1/auth/register/",
            {"email": "secret@example.com", "password": PASSWORD},
            format="json",
        )
    assert registered.status_code == 201
    login = client.post(
        "/api/v1/auth/login/", {"email": "secret@example.com", "password": PASSWORD}
    ).json()
    refresh_jti = str(RefreshToken(login["refresh"]).payload["jti"])
    course = PublishedCourseFactory()
    authed = APIClient()
    authed.credentials(HTTP_AUTHORIZATION=f"Bearer {login['access']}")
    with django_capture_on_commit_callbacks(execute=True):
        enrolled = authed.post("/api/v1/enrollments/", {"course": str(course.pk)}, format="json")
    assert enrolled.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post("/api/v1/auth/password/reset/", {"email": "secret@example.com"})
    assert asked.status_code == 202
    (token,) = re.findall(r"\?token=(\S+)", mail.outbox[-1].body)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(
            "/api/v1/auth/password/reset/confirm/",
            {"token": token, "new_password": NEW_PASSWORD},
        )
    assert confirmed.status_code == 204

    names = [name for name, _, _ in sent_tasks]
    assert {
        "accounts.send_welcome_email",
        "enrollments.send_enrollment_confirmation_email",
        "accounts.send_password_reset_email",
    } <= set(names)
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        token,
        token.split(".", 1)[1],
        login["access"],
        login["refresh"],
        refresh_jti,
    ]
    for name, args, kwargs in sent_tasks:
        flat = repr((args, kwargs))
        for secret in secrets:
            assert secret not in flat, (name, "carries a secret")
