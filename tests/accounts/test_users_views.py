"""Admin-only user management under /api/v1/users/.

Real parts: the DRF stack through APIClient with real JWTs, django-filter and search backends,
the accounts services and simplejwt's blacklist tables in the test database.
"""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, InstructorFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users/"


def detail(user) -> str:
    return f"{USERS}{user.pk}/"


def login(user) -> dict:
    response = APIClient().post(
        "/api/v1/auth/login/", {"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("student", 403, "permission_denied"),
        ("instructor", 403, "permission_denied"),
        ("admin_user", 200, None),
    ],
)
@pytest.mark.parametrize("method", ["list", "retrieve", "patch"])
def test_user_endpoints_permission_matrix(request, make_client, student, who, status, code, method):
    caller = None if who == "anonymous" else request.getfixturevalue(who)
    client = make_client(caller)
    if method == "list":
        response = client.get(USERS)
    elif method == "retrieve":
        response = client.get(detail(student))
    else:
        response = client.patch(detail(student), {"full_name": "Changed"}, format="json")
    if code:
        assert_problem(response, status, code)
        student.refresh_from_db()
        assert student.full_name != "Changed"
    else:
        assert response.status_code == status


def test_list_never_exposes_secrets(make_client, admin_user, student):
    response = make_client(admin_user).get(USERS)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    for item in body["results"]:
        assert "password" not in item
        assert "tokens_valid_after" not in item
    assert student.password not in response.content.decode()


def test_list_filters_by_role_and_active_and_searches(make_client, admin_user):
    ann = InstructorFactory(full_name="Ann Teacher", email="ann@school.example")
    UserFactory(full_name="Bob Learner")
    gone = UserFactory(full_name="Carl Gone", is_active=False)
    client = make_client(admin_user)

    instructors = client.get(USERS, {"role": "instructor"}).json()["results"]
    assert [u["id"] for u in instructors] == [str(ann.pk)]

    inactive = client.get(USERS, {"is_active": "false"}).json()["results"]
    assert [u["id"] for u in inactive] == [str(gone.pk)]

    found = client.get(USERS, {"search": "school.example"}).json()["results"]
    assert [u["id"] for u in found] == [str(ann.pk)]
    by_name = client.get(USERS, {"search": "learner"}).json()["results"]
    assert [u["full_name"] for u in by_name] == ["Bob Learner"]


def test_list_with_an_unknown_role_filter_is_400(make_client, admin_user):
    assert_problem(make_client(admin_user).get(USERS, {"role": "wizard"}), 400, "validation_error")


def test_list_query_count_does_not_grow_with_users(
    make_client, admin_user, django_assert_num_queries
):
    UserFactory.create_batch(15)
    client = make_client(admin_user)
    # Load the user behind the token, count, one page.
    with django_assert_num_queries(3):
        response = client.get(USERS)
    assert response.json()["count"] == 16


def test_retrieve_unknown_or_malformed_id_is_404(make_client, admin_user):
    client = make_client(admin_user)
    assert_problem(client.get(f"{USERS}{uuid.uuid4()}/"), 404, "not_found")
    assert_problem(client.get(f"{USERS}not-a-uuid/"), 404, "not_found")


def test_put_and_delete_are_not_allowed(make_client, admin_user, student):
    client = make_client(admin_user)
    assert_problem(client.put(detail(student), {}, format="json"), 405, "method_not_allowed")
    assert_problem(client.delete(detail(student)), 405, "method_not_allowed")
    assert User.objects.filter(pk=student.pk).exists()


def test_admin_changes_role_and_name(make_client, admin_user, student):
    response = make_client(admin_user).patch(
        detail(student), {"role": "instructor", "full_name": "Dr. Who"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.INSTRUCTOR
    student.refresh_from_db()
    assert (student.role, student.full_name) == (Role.INSTRUCTOR, "Dr. Who")
    assert (student.is_staff, student.is_superuser) == (False, False)


def test_admin_role_brings_admin_site_access_and_removing_it_takes_it_away(
    make_client, admin_user, student
):
    client = make_client(admin_user)
    assert client.patch(detail(student), {"role": "admin"}, format="json").status_code == 200
    student.refresh_from_db()
    assert (student.role, student.is_staff, student.is_superuser) == (Role.ADMIN, True, True)
    # The promoted user is an administrator for the API too.
    assert make_client(student).get(USERS).status_code == 200

    assert client.patch(detail(student), {"role": "student"}, format="json").status_code == 200
    student.refresh_from_db()
    assert (student.role, student.is_staff, student.is_superuser) == (Role.STUDENT, False, False)
    assert make_client(student).get(USERS).status_code == 403


@pytest.mark.parametrize(
    "payload",
    [{"role": "wizard"}, {"is_active": "maybe"}, {"full_name": "x" * 201}, {"role": None}],
)
def test_admin_patch_bad_input_is_400_and_changes_nothing(
    make_client, admin_user, student, payload
):
    before = (student.role, student.is_active, student.full_name)
    response = make_client(admin_user).patch(detail(student), payload, format="json")
    assert_problem(response, 400, "validation_error")
    student.refresh_from_db()
    assert (student.role, student.is_active, student.full_name) == before


def test_admin_patch_ignores_fields_it_does_not_manage(make_client, admin_user, student):
    email = student.email
    response = make_client(admin_user).patch(
        detail(student), {"email": "x@example.com", "is_staff": True}, format="json"
    )
    assert response.status_code == 200
    student.refresh_from_db()
    assert (student.email, student.is_staff) == (email, False)


def test_deactivation_cuts_off_existing_tokens_at_once(make_client, admin_user, student):
    tokens = login(student)
    victim = APIClient()
    victim.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert victim.get("/api/v1/auth/me/").status_code == 200

    response = make_client(admin_user).patch(detail(student), {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False

    assert victim.get("/api/v1/auth/me/").status_code == 401
    refreshed = APIClient().post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401
    relogin = APIClient().post(
        "/api/v1/auth/login/", {"email": student.email, "password": DEFAULT_PASSWORD}
    )
    assert_problem(relogin, 401, "invalid_credentials")


def test_reactivated_user_logs_in_again_but_old_tokens_stay_dead(make_client, admin_user, student):
    old = login(student)
    client = make_client(admin_user)
    client.patch(detail(student), {"is_active": False}, format="json")
    assert client.patch(detail(student), {"is_active": True}, format="json").status_code == 200

    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old['access']}")
    assert stale.get("/api/v1/auth/me/").status_code == 401
    fresh = login(student)
    again = APIClient()
    again.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert again.get("/api/v1/auth/me/").status_code == 200


@pytest.mark.parametrize("payload", [{"is_active": False}, {"role": "instructor"}])
def test_admin_cannot_lock_themselves_out(make_client, admin_user, payload):
    response = make_client(admin_user).patch(detail(admin_user), payload, format="json")
    assert_problem(response, 403, "self_lockout")
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active) == (Role.ADMIN, True)


def test_admin_may_rename_themselves(make_client, admin_user):
    response = make_client(admin_user).patch(
        detail(admin_user), {"full_name": "Root", "role": "admin"}, format="json"
    )
    assert response.status_code == 200
    admin_user.refresh_from_db()
    assert admin_user.full_name == "Root"
