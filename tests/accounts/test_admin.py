"""The Django admin for users: changelist, role changes, deactivation and the add form.

Real parts: Django's test Client logged in as a superuser against the real admin site, its
forms and templates, the accounts services and simplejwt's blacklist tables.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import Role, User
from accounts.tokens import RefreshToken
from tests.factories import InstructorFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"
ADD = "/admin/accounts/user/add/"
STRONG = "plum-orbit-harbor-7319"


def change_url(user) -> str:
    return f"/admin/accounts/user/{user.pk}/change/"


@pytest.fixture
def admin_client_(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def change_form(user, **overrides) -> dict:
    data = {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": "on" if user.is_active else "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def test_changelist_lists_users_with_their_columns(admin_client_, student, instructor):
    response = admin_client_.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for user in (student, instructor):
        assert user.email in html
        assert user.username in html
    for column in ("column-email", "column-username", "column-role", "column-created_at"):
        assert column in html


def test_changelist_search_and_role_filter(admin_client_, student):
    teacher = InstructorFactory(email="teacher@school.example")
    found = admin_client_.get(CHANGELIST, {"q": "school.example"}).content.decode()
    assert teacher.email in found
    assert student.email not in found
    filtered = admin_client_.get(CHANGELIST, {"role__exact": "student"}).content.decode()
    assert student.email in filtered
    assert teacher.email not in filtered


def test_non_staff_cannot_open_the_admin(student):
    client = Client()
    client.force_login(student)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_change_page_never_shows_the_password_hash(admin_client_, student):
    response = admin_client_.get(change_url(student))
    assert response.status_code == 200
    html = response.content.decode()
    assert student.password not in html
    assert 'name="password"' not in html
    assert 'name="is_staff"' not in html
    assert 'name="email"' not in html


def test_admin_changes_a_role_through_the_service(admin_client_, student):
    response = admin_client_.post(change_url(student), change_form(student, role="instructor"))
    assert response.status_code == 302, response.content.decode()[:2000]
    student.refresh_from_db()
    assert student.role == Role.INSTRUCTOR
    assert (student.is_staff, student.is_superuser) == (False, False)

    admin_client_.post(change_url(student), change_form(student, role="admin"))
    student.refresh_from_db()
    assert (student.role, student.is_staff, student.is_superuser) == (Role.ADMIN, True, True)


def test_admin_deactivation_revokes_tokens(admin_client_, student):
    refresh = RefreshToken.for_user(student)
    response = admin_client_.post(change_url(student), change_form(student, is_active=""))
    assert response.status_code == 302
    student.refresh_from_db()
    assert student.is_active is False
    assert student.tokens_valid_after is not None
    assert BlacklistedToken.objects.filter(token__jti=refresh["jti"]).exists()


def test_admin_changes_username_and_name(admin_client_, student):
    response = admin_client_.post(
        change_url(student), change_form(student, username="renamed", full_name="Re Named")
    )
    assert response.status_code == 302
    student.refresh_from_db()
    assert (student.username, student.full_name) == ("renamed", "Re Named")


def test_admin_change_rejects_a_taken_username(admin_client_, student, instructor):
    response = admin_client_.post(
        change_url(student), change_form(student, username=instructor.username.upper())
    )
    assert response.status_code == 200
    assert "This username is taken." in response.content.decode()
    student.refresh_from_db()
    assert student.username != instructor.username.upper()


@pytest.mark.parametrize("overrides", [{"role": "student"}, {"is_active": ""}])
def test_admin_cannot_demote_or_deactivate_themselves(admin_client_, admin_user, overrides):
    response = admin_client_.post(change_url(admin_user), change_form(admin_user, **overrides))
    assert response.status_code == 200
    assert "cannot deactivate or demote their own account" in response.content.decode()
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active) == (Role.ADMIN, True)


def test_add_form_creates_a_user_with_a_password(admin_client_):
    assert admin_client_.get(ADD).status_code == 200
    response = admin_client_.post(
        ADD,
        {
            "email": "New.Teacher@Example.com",
            "username": "",
            "full_name": "New Teacher",
            "role": "instructor",
            "password1": STRONG,
            "password2": STRONG,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(email="new.teacher@example.com")
    assert user.check_password(STRONG)
    assert (user.role, user.username, user.is_staff) == (Role.INSTRUCTOR, "new.teacher", False)
    # The admin's history points at the created row.
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert entry.object_id == str(user.pk)


def test_add_form_creating_an_admin_grants_admin_site_access(admin_client_):
    admin_client_.post(
        ADD,
        {
            "email": "boss@example.com",
            "username": "boss",
            "role": "admin",
            "password1": STRONG,
            "password2": STRONG,
        },
    )
    user = User.objects.get(email="boss@example.com")
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password1": "123", "password2": "123"}, "too short"),
        ({"password2": "something-else-entirely"}, "match"),
        ({"email": "TAKEN@example.com"}, "already exists"),
    ],
)
def test_add_form_rejects_bad_input(admin_client_, overrides, message):
    UserFactory(email="taken@example.com")
    data = {
        "email": "fresh@example.com",
        "role": "student",
        "password1": STRONG,
        "password2": STRONG,
        **overrides,
    }
    response = admin_client_.post(ADD, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="fresh@example.com").exists()
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
