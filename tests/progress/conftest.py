"""Fixtures for the progress tests: a small course, clients per role, and the store.

`store` runs a test once with the SQL store (the test database) and once with the MongoDB store
on mongomock, switched through the real factory (`MONGO_URL` set, the client class replaced by
mongomock's). Tests that take no `store` use the default SQL store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mongomock
import pytest

from lessons.models import LessonKind
from progress import repository
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_repository():
    repository.get_progress_repository.cache_clear()
    yield
    repository.get_progress_repository.cache_clear()


def use_mongomock(settings, monkeypatch) -> repository.ProgressRepository:
    client = mongomock.MongoClient(tz_aware=True)
    monkeypatch.setattr(repository, "MongoClient", lambda url, **options: client)
    settings.MONGO_URL = "mongodb://mongo.invalid:27017"
    settings.MONGO_DB_NAME = "eduflow_test"
    settings.MONGO_PROGRESS_COLLECTION = "lesson_progress"
    repository.get_progress_repository.cache_clear()
    store = repository.get_progress_repository()
    assert isinstance(store, repository.MongoProgressRepository)
    return store


@pytest.fixture(params=["sql", "mongomock"])
def store(request, settings, monkeypatch, db) -> repository.ProgressRepository:
    if request.param == "mongomock":
        return use_mongomock(settings, monkeypatch)
    store = repository.get_progress_repository()
    assert isinstance(store, repository.SqlProgressRepository)
    return store


@pytest.fixture
def mongo_store(settings, monkeypatch, db) -> repository.MongoProgressRepository:
    return use_mongomock(settings, monkeypatch)


ROLES = ("anonymous", "student", "enrolled_student", "other_instructor", "owner", "admin")


def matrix(*statuses: Any) -> list[tuple[str, Any]]:
    assert len(statuses) == len(ROLES)
    return list(zip(ROLES, statuses, strict=True))


@dataclass
class Classroom:
    """A published course (two videos in a module, then a text lesson), its owner, an enrolled
    learner and the other roles; plus a draft course of the same owner with one video."""

    users: dict[str, Any]
    course: Any
    video: Any
    video2: Any
    text: Any
    draft: Any
    draft_video: Any
    make_client: Any
    lessons: list = field(default_factory=list)

    def client(self, role: str):
        return self.make_client(self.users[role])

    @property
    def learner(self):
        return self.users["enrolled_student"]


@pytest.fixture
def classroom(db, student, instructor, other_instructor, admin_user, make_client) -> Classroom:
    course = factories.PublishedCourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    video = factories.LessonFactory(
        course=course,
        module=module,
        position=1,
        kind=LessonKind.VIDEO,
        duration_seconds=100,
        title="Intro video",
    )
    video2 = factories.LessonFactory(
        course=course,
        module=module,
        position=2,
        kind=LessonKind.VIDEO,
        duration_seconds=60,
        title="Second video",
    )
    text = factories.LessonFactory(
        course=course, module=None, position=1, kind=LessonKind.TEXT, title="Reading"
    )
    draft = factories.CourseFactory(instructor=instructor)
    draft_video = factories.LessonFactory(
        course=draft, position=1, kind=LessonKind.VIDEO, duration_seconds=100
    )
    learner = factories.UserFactory()
    factories.EnrollmentFactory(user=learner, course=course)
    room = Classroom(
        users={
            "anonymous": None,
            "student": student,
            "enrolled_student": learner,
            "other_instructor": other_instructor,
            "owner": instructor,
            "admin": admin_user,
        },
        course=course,
        video=video,
        video2=video2,
        text=text,
        draft=draft,
        draft_video=draft_video,
        make_client=make_client,
    )
    # Course order: lessons outside modules first, then module by module.
    room.lessons = [text, video, video2]
    return room


def heartbeat_body(lesson, seq=0, position=0.0, ranges=(), session="player-1") -> dict:
    return {
        "lesson": str(lesson.pk),
        "session": session,
        "seq": seq,
        "position": position,
        "ranges": [list(pair) for pair in ranges],
    }
