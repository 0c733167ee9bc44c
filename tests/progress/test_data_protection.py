"""Deleting a user (in the Django admin) erases their progress in whichever store is active;
deleting a lesson erases its records. Tested with the SQL store and with the MongoDB store on
mongomock (a mock of the MongoDB server); everything else is real (admin site, API, database).
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from accounts.models import User
from progress.models import LessonProgress, WatchedInterval
from tests.progress.conftest import heartbeat_body


def _watch(client, lesson, seconds):
    response = client.post(
        "/api/v1/progress/heartbeat/",
        heartbeat_body(lesson, 0, seconds, [(0, seconds)]),
        format="json",
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def watched(classroom, make_client):
    """The learner and a second learner have progress in two lessons each (request the store
    fixture before this one)."""
    from tests import factories

    other = factories.UserFactory()
    factories.EnrollmentFactory(user=other, course=classroom.course)
    for user in (classroom.learner, other):
        client = make_client(user)
        _watch(client, classroom.video, 8)
        _watch(client, classroom.video2, 6)
    return other


def _delete_in_admin(admin_user, user) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    assert not User.objects.filter(pk=user.pk).exists()


def test_deleting_a_user_in_the_admin_erases_their_progress(
    store, classroom, watched, admin_user, django_capture_on_commit_callbacks
):
    learner_id = classroom.learner.pk
    assert store.count_for_user(user_id=learner_id) == 2

    with django_capture_on_commit_callbacks(execute=True):
        _delete_in_admin(admin_user, classroom.learner)

    assert store.count_for_user(user_id=learner_id) == 0
    assert store.get(user_id=learner_id, lesson_id=classroom.video.pk) is None
    assert store.count_for_user(user_id=watched.pk) == 2
    assert store.retention(lesson_id=classroom.video.pk, duration=100).viewers == 1


def test_sql_store_leaves_no_rows_behind(classroom, watched, admin_user):
    learner_id = classroom.learner.pk
    assert WatchedInterval.objects.filter(progress__user_id=learner_id).count() == 2

    _delete_in_admin(admin_user, classroom.learner)

    assert not LessonProgress.objects.filter(user_id=learner_id).exists()
    assert not WatchedInterval.objects.filter(progress__user_id=learner_id).exists()
    assert WatchedInterval.objects.filter(progress__user_id=watched.pk).count() == 2


def test_mongo_store_leaves_no_document_behind(
    mongo_store, classroom, watched, admin_user, django_capture_on_commit_callbacks
):
    learner_id = str(classroom.learner.pk)
    assert mongo_store.collection.count_documents({"user_id": learner_id}) == 2

    with django_capture_on_commit_callbacks(execute=True):
        _delete_in_admin(admin_user, classroom.learner)

    assert mongo_store.collection.count_documents({"user_id": learner_id}) == 0
    assert mongo_store.collection.count_documents({"user_id": str(watched.pk)}) == 2


def test_a_rolled_back_deletion_keeps_the_progress(
    store, classroom, watched, django_capture_on_commit_callbacks
):
    learner_id = classroom.learner.pk

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        User.objects.get(pk=learner_id).delete()
        raise RuntimeError("the deletion fails after the receiver ran")

    assert User.objects.filter(pk=learner_id).exists()
    assert store.count_for_user(user_id=learner_id) == 2


def test_deleting_a_lesson_erases_its_records(
    store, classroom, watched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = classroom.client("owner").delete(f"/api/v1/lessons/{classroom.video.pk}/")
    assert response.status_code == 204

    assert store.get(user_id=classroom.learner.pk, lesson_id=classroom.video.pk) is None
    assert store.get(user_id=watched.pk, lesson_id=classroom.video.pk) is None
    assert store.count_for_user(user_id=classroom.learner.pk) == 1
    assert store.retention(lesson_id=classroom.video.pk, duration=100).viewers == 0
