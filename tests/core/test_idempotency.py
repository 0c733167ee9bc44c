"""`Idempotency-Key` on the API's POSTs: replay, key reuse, caller scope, storage policy, TTL.

Real parts: the whole middleware stack and the real views, services and database through
APIClient with real JWTs (sessions through Django's test Client with CSRF checks enforced), and
the configured cache: local memory, or Redis when REDIS_URL is set (locks by SET NX there).
Stubs: a service replaced by one that raises, to get a 500; `time.sleep` of the waiting loop
counted (still sleeping) where a test proves that a request waited.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Role, User
from accounts.tokens import RefreshToken
from courses.models import Course
from eduflow.core import idempotency, locks
from enrollments import services as enrollment_services
from enrollments.models import Enrollment
from tests import factories
from tests.conftest import client_for
from tests.core.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

ENROLL = "/api/v1/enrollments/"
REGISTER = "/api/v1/auth/register/"
LOGIN = "/api/v1/auth/login/"
COURSES = "/api/v1/courses/"
STRONG = "plum-orbit-harbor-7319"


def new_key() -> str:
    return str(uuid.uuid4())


def keyed(key: str, **extra) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": key, **extra}


def enroll(client, course, key: str | None = None, **extra):
    headers = keyed(key, **extra) if key is not None else extra
    return client.post(ENROLL, {"course": str(course.pk)}, format="json", **headers)


def stored_ttl(cache_key: str) -> float | None:
    """Seconds the cache still keeps `cache_key`, read from the backend's own expiry."""
    if hasattr(cache, "ttl"):  # django-redis: Redis's TTL of the key
        ttl = cache.ttl(cache_key)
        return None if ttl in (None, 0) else float(ttl)
    expires = cache._expire_info.get(cache.make_key(cache_key))  # local memory
    return None if expires is None else expires - time.time()


def assert_replay_of(replay, original) -> None:
    assert replay.status_code == original.status_code
    assert replay.content == original.content
    assert replay["Content-Type"] == original["Content-Type"]
    assert replay[idempotency.REPLAYED_HEADER] == "true"
    assert idempotency.REPLAYED_HEADER not in original
    assert replay["X-Request-ID"] != original["X-Request-ID"]


@pytest.fixture
def course(db):
    return factories.PublishedCourseFactory()


# --- replay ------------------------------------------------------------------------------------


def test_enrolling_twice_with_one_key_enrolls_once_and_replays_the_201(student, course):
    client = client_for(student)
    key = new_key()

    first = enroll(client, course, key)
    second = enroll(client, course, key)

    assert first.status_code == 201, first.content
    assert_replay_of(second, first)
    assert second.json() == first.json()
    assert Enrollment.objects.filter(user=student, course=course).count() == 1
    # Without the key the same request runs and conflicts: the 201 above was a replay.
    assert_problem(enroll(client, course), 409, "already_enrolled")


def test_replays_keep_the_relevant_headers_and_pass_through_the_outer_middleware(
    instructor,
):
    client = client_for(instructor)
    key = new_key()
    data = {"title": "Replayed course", "description": "x"}

    first = client.post(COURSES, data, format="json", **keyed(key))
    second = client.post(COURSES, data, format="json", **keyed(key))

    assert first.status_code == 201, first.content
    assert_replay_of(second, first)
    for header in ("Allow", "Vary", "Cache-Control", "X-Frame-Options"):
        if first.has_header(header):
            assert second[header] == first[header], header
    assert Course.objects.filter(title="Replayed course").count() == 1


def test_replays_are_logged_like_any_request_with_their_own_request_id(student, course, caplog):
    client = client_for(student)
    key = new_key()
    enroll(client, course, key, HTTP_X_REQUEST_ID="first-try")
    caplog.clear()
    with caplog.at_level("INFO", logger="eduflow.access"):
        replay = enroll(client, course, key, HTTP_X_REQUEST_ID="second-try")
    assert replay["X-Request-ID"] == "second-try"
    lines = [r for r in caplog.records if r.name == "eduflow.access"]
    assert [(r.status, r.path) for r in lines] == [(201, ENROLL)]


def test_a_key_protects_actions_without_a_body_too(instructor):
    """publish answers 409 when run twice; with a key the retry gets the first 200."""
    course = factories.CourseFactory(instructor=instructor)
    factories.LessonFactory(course=course, position=1)
    client = client_for(instructor)
    key = new_key()
    url = f"{COURSES}{course.pk}/publish/"

    first = client.post(url, **keyed(key))
    second = client.post(url, **keyed(key))

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "published"
    assert_replay_of(second, first)


# --- key reuse and scope -----------------------------------------------------------------------


def test_same_key_with_another_body_is_422_and_runs_nothing(student, course):
    other = factories.PublishedCourseFactory()
    client = client_for(student)
    key = new_key()
    assert enroll(client, course, key).status_code == 201

    reused = enroll(client, other, key)

    body = assert_problem(reused, 422, "idempotency_key_reused")
    assert idempotency.HEADER in body["detail"]
    assert not Enrollment.objects.filter(user=student, course=other).exists()


def test_same_key_on_another_path_is_422(instructor, course):
    client = client_for(instructor)
    key = new_key()
    created = client.post(
        COURSES, {"title": "One", "description": "x"}, format="json", **keyed(key)
    )
    assert created.status_code == 201

    elsewhere = client.post(f"{COURSES}{created.json()['id']}/archive/", **keyed(key))

    assert_problem(elsewhere, 422, "idempotency_key_reused")
    assert Course.objects.get(pk=created.json()["id"]).status == "draft"


def test_same_key_with_another_query_string_is_422(student, course):
    client = client_for(student)
    key = new_key()
    assert enroll(client, course, key).status_code == 201
    reused = client.post(
        f"{ENROLL}?source=retry", {"course": str(course.pk)}, format="json", **keyed(key)
    )
    assert_problem(reused, 422, "idempotency_key_reused")


def test_another_users_key_never_replays(course):
    alice, bob = factories.UserFactory(), factories.UserFactory()
    key = new_key()

    for_alice = enroll(client_for(alice), course, key)
    for_bob = enroll(client_for(bob), course, key)

    assert (for_alice.status_code, for_bob.status_code) == (201, 201)
    assert idempotency.REPLAYED_HEADER not in for_bob
    assert for_bob.json()["id"] != for_alice.json()["id"]
    assert Enrollment.objects.filter(course=course).count() == 2


def test_anonymous_register_is_scoped_by_client_address(api_client):
    key = new_key()
    ada = {"email": "ada@example.org", "password": STRONG, "full_name": "Ada"}

    first = api_client.post(REGISTER, ada, format="json", **keyed(key, REMOTE_ADDR="10.0.0.1"))
    again = api_client.post(REGISTER, ada, format="json", **keyed(key, REMOTE_ADDR="10.0.0.1"))
    grace = {"email": "grace@example.org", "password": STRONG}
    elsewhere = api_client.post(
        REGISTER, grace, format="json", **keyed(key, REMOTE_ADDR="10.0.0.2")
    )

    assert first.status_code == 201, first.content
    assert_replay_of(again, first)
    assert set(first.json()).isdisjoint({"access", "refresh", "password"})
    assert elsewhere.status_code == 201, elsewhere.content
    assert idempotency.REPLAYED_HEADER not in elsewhere
    assert User.objects.filter(email__in=["ada@example.org", "grace@example.org"]).count() == 2


def test_register_with_another_password_and_the_same_key_is_422(api_client):
    """The password is part of the fingerprint (stored only as a keyed HMAC)."""
    key = new_key()
    data = {"email": "ada@example.org", "password": STRONG}
    assert api_client.post(REGISTER, data, format="json", **keyed(key)).status_code == 201

    other = api_client.post(
        REGISTER, {**data, "password": STRONG + "!"}, format="json", **keyed(key)
    )

    assert_problem(other, 422, "idempotency_key_reused")
    entry = cache.get(idempotency.entry_cache_key(idempotency.address_scope("127.0.0.1"), key))
    assert entry is not None
    assert STRONG not in repr(entry)


def test_a_logged_in_caller_of_register_is_still_scoped_by_address(student):
    """Register authenticates nobody (no authenticators): the key belongs to the address."""
    key = new_key()
    data = {"email": "new@example.org", "password": STRONG}
    as_student = client_for(student).post(REGISTER, data, format="json", **keyed(key))
    anonymous = client_for(None).post(REGISTER, data, format="json", **keyed(key))
    assert as_student.status_code == 201
    assert_replay_of(anonymous, as_student)


# --- invalid keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "tab\tinside", "bell\x07", "caf\u00e9", "new\nline", "\x7f"],
    ids=["empty", "spaces", "too-long", "tab", "control", "non-ascii", "newline", "delete"],
)
def test_invalid_keys_are_400_problems(student, course, key):
    response = enroll(client_for(student), course, key)
    assert_problem(response, 400, "invalid_idempotency_key")
    assert not Enrollment.objects.filter(user=student).exists()


def test_a_255_character_key_of_printable_ascii_is_accepted(student, course):
    key = "a b" + "".join(chr(33 + i % 94) for i in range(252))  # spaces and every visible char
    assert len(key) == 255
    client = client_for(student)
    first = enroll(client, course, key)
    assert first.status_code == 201, first.content
    assert_replay_of(enroll(client, course, key), first)


def test_requests_without_the_header_are_untouched(student, course):
    client = client_for(student)
    assert enroll(client, course).status_code == 201
    assert_problem(enroll(client, course), 409, "already_enrolled")


def test_the_header_is_ignored_on_other_methods(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    client = client_for(student)
    response = client.get(f"{ENROLL}{enrollment.pk}/", **keyed(""))
    assert response.status_code == 200


# --- what is stored ----------------------------------------------------------------------------


def test_the_answer_is_kept_24_hours(student, course):
    key = new_key()
    enroll(client_for(student), course, key)
    cache_key = idempotency.entry_cache_key(idempotency.user_scope(student), key)
    ttl = stored_ttl(cache_key)
    assert ttl is not None
    assert 24 * 3600 - 60 < ttl <= 24 * 3600


def test_the_ttl_follows_the_setting(student, course, settings):
    settings.IDEMPOTENCY_TTL_SECONDS = 90
    key = new_key()
    enroll(client_for(student), course, key)
    ttl = stored_ttl(idempotency.entry_cache_key(idempotency.user_scope(student), key))
    assert ttl is not None
    assert 30 < ttl <= 90


def test_a_validation_error_is_stored_and_replayed(api_client):
    key = new_key()
    weak = {"email": "weak@example.org", "password": "123"}
    first = api_client.post(REGISTER, weak, format="json", **keyed(key))
    second = api_client.post(REGISTER, weak, format="json", **keyed(key))
    assert_problem(first, 400, "validation_error")
    assert_replay_of(second, first)


def test_a_conflict_is_not_stored_so_a_retry_sees_the_new_state(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    client = client_for(student)
    key = new_key()
    assert_problem(enroll(client, course, key), 409, "already_enrolled")

    assert client.delete(f"{ENROLL}{enrollment.pk}/").status_code == 204
    retry = enroll(client, course, key)

    assert retry.status_code == 201, retry.content
    assert idempotency.REPLAYED_HEADER not in retry


def test_a_403_is_not_stored_so_a_retry_with_new_rights_runs(student):
    client = client_for(student)
    key = new_key()
    data = {"title": "Student course", "description": "x"}
    assert client.post(COURSES, data, format="json", **keyed(key)).status_code == 403

    User.objects.filter(pk=student.pk).update(role=Role.INSTRUCTOR)
    retry = client.post(COURSES, data, format="json", **keyed(key))

    assert retry.status_code == 201, retry.content
    assert idempotency.REPLAYED_HEADER not in retry


def test_a_bad_token_is_left_to_the_view_and_nothing_is_stored(course):
    client = Client()
    key = new_key()
    data = {"course": str(course.pk)}
    for _ in range(2):
        response = client.post(
            ENROLL,
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer not-a-token",
            **keyed(key),
        )
        assert response.status_code == 401
        assert idempotency.REPLAYED_HEADER not in response


def test_a_500_is_not_stored_and_frees_the_key(student, course, monkeypatch):
    client = client_for(student)
    client.raise_request_exception = False
    key = new_key()

    def broken(**kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(enrollment_services, "enrollment_create", broken)
    assert enroll(client, course, key).status_code == 500
    monkeypatch.undo()

    retry = enroll(client, course, key)
    assert retry.status_code == 201, retry.content
    assert idempotency.REPLAYED_HEADER not in retry
    assert Enrollment.objects.filter(user=student).count() == 1


def test_excluded_routes_ignore_the_header_and_never_store_tokens(student):
    key = new_key()
    data = {"email": student.email, "password": DEFAULT_PASSWORD}
    client = Client()
    first = client.post(LOGIN, data, content_type="application/json", **keyed(key))
    second = client.post(LOGIN, data, content_type="application/json", **keyed(key))
    assert first.status_code == second.status_code == 200
    assert idempotency.REPLAYED_HEADER not in second
    assert first.json()["refresh"] != second.json()["refresh"]
    entry_key = idempotency.entry_cache_key(idempotency.address_scope("127.0.0.1"), key)
    assert cache.get(entry_key) is None
    # Invalid keys are not judged there either.
    assert client.post(LOGIN, data, content_type="application/json", **keyed("")).status_code == 200


# --- sessions ----------------------------------------------------------------------------------


def session_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/api-auth/login/")  # sets the CSRF cookie
    return client


def test_session_callers_get_replays_only_with_a_valid_csrf_token(student, course):
    client = session_client(student)
    token = client.cookies["csrftoken"].value
    key = new_key()
    data = {"course": str(course.pk)}

    def post(client, **extra):
        return client.post(ENROLL, data, content_type="application/json", **keyed(key), **extra)

    first = post(client, HTTP_X_CSRFTOKEN=token)
    forged = post(client)
    again = post(client, HTTP_X_CSRFTOKEN=token)

    assert first.status_code == 201, first.content
    assert_problem(forged, 403, "permission_denied")
    assert idempotency.REPLAYED_HEADER not in forged
    assert_replay_of(again, first)
    # The session and a JWT of the same user are the same caller (same bytes sent).
    access = RefreshToken.for_user(student).access_token
    assert_replay_of(post(Client(), HTTP_AUTHORIZATION=f"Bearer {access}"), first)


# --- concurrency within one process (any database, any cache) ------------------------------------


def test_a_key_held_by_a_running_request_answers_409_after_the_wait(student, course, settings):
    settings.IDEMPOTENCY_WAIT_SECONDS = 0.3
    key = new_key()
    name = idempotency.lock_name(idempotency.user_scope(student), key)
    token = locks.acquire(name, timeout=30)
    assert token is not None
    try:
        started = time.monotonic()
        response = enroll(client_for(student), course, key)
        waited = time.monotonic() - started
    finally:
        locks.release(name, token)

    assert_problem(response, 409, "request_in_progress")
    assert response["Retry-After"] == "1"
    assert waited >= 0.3
    assert not Enrollment.objects.filter(user=student).exists()
    # Once the holder is gone the retry runs.
    assert enroll(client_for(student), course, key).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_repeat_waits_for_the_running_request_and_replays_its_answer(monkeypatch):
    """Thread A runs the enrollment, held inside the service until B is polling; B replays."""
    student = factories.UserFactory()
    course = factories.PublishedCourseFactory()
    key = new_key()
    entered, go_on = threading.Event(), threading.Event()
    real_create = enrollment_services.enrollment_create

    def held_create(**kwargs):
        entered.set()
        assert go_on.wait(10)
        return real_create(**kwargs)

    polls: list[float] = []

    def counted_sleep(seconds):
        polls.append(seconds)
        if len(polls) == 2:
            go_on.set()  # B is waiting: let A finish
        time.sleep(seconds)

    monkeypatch.setattr(enrollment_services, "enrollment_create", held_create)
    monkeypatch.setattr(idempotency, "_sleep", counted_sleep)
    results = {}

    def run_a():
        try:
            results["a"] = enroll(client_for(student), course, key)
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=run_a)
    thread.start()
    assert entered.wait(10)
    results["b"] = enroll(client_for(student), course, key)
    go_on.set()
    thread.join(10)
    assert not thread.is_alive()

    assert results["a"].status_code == 201, results["a"].content
    assert_replay_of(results["b"], results["a"])
    assert len(polls) >= 2
    assert Enrollment.objects.filter(user=student, course=course).count() == 1
