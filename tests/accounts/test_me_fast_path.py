"""The cheap path behind every authenticated request and `GET /auth/me/`.

`accounts.authentication` loads the user with a SELECT compiled once per connection, and the me
endpoint builds its body directly instead of through `UserSerializer`. These tests pin that
both give exactly what the ORM and the serializer give, and that the authentication semantics
hold. Real parts: the Django/DRF stack through APIClient, the test database (SQLite or
PostgreSQL, whichever DATABASE_URL names), real JWTs from the project's token classes, a real
second thread with its own database connection.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.utils.serializer_helpers import ReturnDict

from accounts.authentication import _user_lookup
from accounts.models import Role, User
from accounts.serializers import UserSerializer, user_representation
from accounts.tokens import AccessToken
from tests.conftest import client_for
from tests.core.assertions import assert_problem
from tests.factories import UserFactory

ME = "/api/v1/auth/me/"


def field_values(user: User) -> dict:
    return {field.attname: getattr(user, field.attname) for field in User._meta.concrete_fields}


@pytest.fixture
def detailed_user(db) -> User:
    """A user whose every column holds a value (microseconds included), so a wrong column
    order or a missing converter shows."""
    user = UserFactory(full_name="Zoë Ünicode", role=Role.INSTRUCTOR, is_staff=True)
    User.objects.filter(pk=user.pk).update(
        tokens_valid_after=datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        last_login=datetime(2021, 1, 2, 3, 4, 5, 654321, tzinfo=UTC),
        created_at=datetime(2019, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    user.refresh_from_db()
    return user


# --- the compiled user lookup ------------------------------------------------------------------


def test_lookup_returns_the_instance_the_orm_returns(detailed_user):
    loaded = _user_lookup.get(detailed_user.pk)
    expected = User.objects.get(pk=detailed_user.pk)
    assert type(loaded) is User
    assert field_values(loaded) == field_values(expected)
    for attname, value in field_values(loaded).items():
        assert type(value) is type(getattr(expected, attname)), attname
    assert isinstance(loaded.pk, uuid.UUID)
    assert (loaded._state.adding, loaded._state.db) == (False, expected._state.db)
    assert loaded.check_password  # a full model instance, password hash included
    assert loaded.password == expected.password


def test_lookup_takes_the_id_as_text_too(detailed_user):
    assert _user_lookup.get(str(detailed_user.pk)).pk == detailed_user.pk


def test_lookup_of_an_unknown_or_missing_id_is_none(db):
    assert _user_lookup.get(uuid.uuid4()) is None
    assert _user_lookup.get(None) is None


def test_lookup_of_a_malformed_id_fails_like_the_orm(db):
    with pytest.raises(ValidationError):
        User.objects.get(pk="not-a-uuid")
    with pytest.raises(ValidationError):
        _user_lookup.get("not-a-uuid")


def test_lookup_sees_a_change_made_through_queryset_update(student):
    assert _user_lookup.get(student.pk).full_name == student.full_name
    User.objects.filter(pk=student.pk).update(full_name="Renamed")
    assert _user_lookup.get(student.pk).full_name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_lookup_in_another_thread_uses_that_threads_connection():
    """A second thread opens its own connection; the plan compiled for the first must not be
    reused there (its converters belong to the first connection)."""
    user = UserFactory()
    assert _user_lookup.get(user.pk).pk == user.pk
    seen = {}

    def load():
        thread_connection = connections["default"]
        try:
            seen["user"] = _user_lookup.get(user.pk)
            seen["plan_connection"] = _user_lookup._local.plans["default"][0]
            seen["connection"] = thread_connection
        finally:
            thread_connection.close()

    thread = threading.Thread(target=load)
    thread.start()
    thread.join(timeout=30)
    assert seen["user"].pk == user.pk
    assert seen["plan_connection"] is seen["connection"]
    assert seen["connection"] is not connections["default"]


# --- authentication semantics over HTTP ----------------------------------------------------------


def test_me_runs_one_query(student, django_assert_num_queries):
    client = client_for(student)
    with django_assert_num_queries(1) as captured:
        assert client.get(ME).status_code == 200
    assert User._meta.db_table in captured.captured_queries[0]["sql"]


def test_deactivation_through_queryset_update_takes_effect_on_the_next_request(student):
    client = client_for(student)
    assert client.get(ME).status_code == 200
    User.objects.filter(pk=student.pk).update(is_active=False)
    assert_problem(client.get(ME), 401, "user_inactive")


def test_deleted_user_is_401_user_not_found(student):
    client = client_for(student)
    User.objects.filter(pk=student.pk).delete()
    assert_problem(client.get(ME), 401, "user_not_found")


def test_token_issued_before_the_cutoff_is_refused(student):
    client = client_for(student)
    User.objects.filter(pk=student.pk).update(tokens_valid_after=timezone.now())
    assert_problem(client.get(ME), 401, "token_revoked")


def bearer(token: AccessToken) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_without_a_user_claim_is_401(db):
    assert_problem(bearer(AccessToken()).get(ME), 401, "token_not_valid")


def test_token_with_a_malformed_user_claim_is_a_problem_not_a_500(db):
    token = AccessToken()
    token["user_id"] = "not-a-uuid"
    assert_problem(bearer(token).get(ME), 400, "validation_error")


# --- the me body ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
def test_representation_equals_the_serializer(detailed_user, zone):
    """Same keys in the same order, same values, in UTC and in other current time zones."""
    with timezone.override(zone):
        built = user_representation(detailed_user)
        expected = UserSerializer(detailed_user).data
    assert list(built.items()) == list(expected.items())
    assert isinstance(built, ReturnDict)
    assert built.serializer.instance is detailed_user


def test_representation_equals_the_serializer_for_a_plain_new_user(student):
    assert list(user_representation(student).items()) == list(UserSerializer(student).data.items())


def test_me_body_equals_the_serializer_of_the_stored_user(detailed_user):
    response = client_for(detailed_user).get(ME)
    assert response.status_code == 200
    stored = User.objects.get(pk=detailed_user.pk)
    assert response.json() == dict(UserSerializer(stored).data)
    assert response.json()["created_at"] == "2019-12-31T23:59:59.999999Z"


def test_me_patch_body_equals_the_serializer_of_the_stored_user(student):
    response = client_for(student).patch(ME, {"full_name": "New Name"}, format="json")
    assert response.status_code == 200
    stored = User.objects.get(pk=student.pk)
    assert response.json() == dict(UserSerializer(stored).data)
    assert response.json()["full_name"] == "New Name"


def test_me_updated_at_moves_on_after_a_change(student):
    """Guards against a stale body: the second read shows the new `updated_at`."""
    client = client_for(student)
    before = client.get(ME).json()["updated_at"]
    User.objects.filter(pk=student.pk).update(updated_at=timezone.now() + timedelta(seconds=5))
    assert client.get(ME).json()["updated_at"] != before
