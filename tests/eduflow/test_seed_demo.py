"""`manage.py seed_demo`: what it loads, that a second run creates nothing, that it is refused
with debug off. Runs on the configured database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Role, User
from courses.models import Category, Course, CourseStatus
from enrollments.models import Enrollment
from lessons.models import Lesson, Module

pytestmark = pytest.mark.django_db


def _seed(settings, *args: str) -> str:
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--no-progress", "--password", "demo-pass-93xk", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "categories": Category.objects.count(),
        "courses": Course.objects.count(),
        "modules": Module.objects.count(),
        "lessons": Lesson.objects.count(),
        "enrollments": Enrollment.objects.count(),
    }


def test_seed_demo_loads_the_demo_catalog(settings):
    output = _seed(settings)

    assert User.objects.filter(role=Role.ADMIN).count() == 1
    assert User.objects.filter(role=Role.INSTRUCTOR).count() == 2
    assert User.objects.filter(role=Role.STUDENT).count() == 5
    assert Category.objects.count() == 4
    assert Course.objects.filter(status=CourseStatus.PUBLISHED).count() >= 12
    assert Course.objects.filter(status=CourseStatus.DRAFT).exists()
    for course in Course.objects.all():
        assert course.modules.exists() and course.lessons.exists(), course.slug
    assert Enrollment.objects.count() >= 5
    admin = User.objects.get(role=Role.ADMIN)
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("demo-pass-93xk")
    assert "admin@eduflow.local" in output and "demo-pass-93xk" in output


def test_seed_demo_is_idempotent(settings):
    _seed(settings)
    first = _counts()

    output = _seed(settings)

    assert _counts() == first
    assert "already loaded" in output


def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("seed_demo", "--no-progress", stdout=StringIO())
    assert User.objects.count() == 0


def test_seed_demo_demo_users_can_log_in(settings, client):
    _seed(settings)
    response = client.post(
        "/api/v1/auth/login/",
        {"email": "student1@eduflow.local", "password": "demo-pass-93xk"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
