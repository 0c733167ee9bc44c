"""The read-only progress admin (SQL store): real admin site, templates and database."""

from __future__ import annotations

import pytest
from django.test import Client

from progress.models import LessonProgress
from tests.progress.conftest import heartbeat_body

CHANGELIST = "/admin/progress/lessonprogress/"


@pytest.fixture
def record(classroom):
    response = classroom.client("enrolled_student").post(
        "/api/v1/progress/heartbeat/",
        heartbeat_body(classroom.video, 0, 7.0, [(0, 7)]),
        format="json",
    )
    assert response.status_code == 200
    return LessonProgress.objects.get()


@pytest.fixture
def admin_client_(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_changelist_lists_records(admin_client_, record):
    response = admin_client_.get(CHANGELIST, {"q": str(record.user_id)})
    assert response.status_code == 200
    assert str(record.lesson_id) in response.content.decode()


def test_records_are_read_only(admin_client_, record):
    assert admin_client_.get(f"{CHANGELIST}add/").status_code == 403
    detail = admin_client_.get(f"{CHANGELIST}{record.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    posted = admin_client_.post(f"{CHANGELIST}{record.pk}/change/", {"coverage": "1"})
    assert posted.status_code == 403
    assert (
        admin_client_.post(f"{CHANGELIST}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    record.refresh_from_db()
    assert record.coverage == 0.07
