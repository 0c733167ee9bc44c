"""MongoDB store specifics on mongomock (a mock of the MongoDB server, which cannot run here):
the factory's choice, indexes, the document shape, and the compare-and-swap write.

mongomock runs operations one at a time, so real threads seldom interleave between a read and
the conditional write. These tests force the interleaving instead: a collection wrapper runs a
second writer right after the first one has read the document (or found none), and the first
writer must notice, re-read and keep both writers' ranges.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from progress import repository
from progress.ledger import Heartbeat, Policy
from progress.repository import MongoProgressRepository, ProgressBusy, SqlProgressRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPEN = Policy(rate_slack_seconds=10_000)


class Interleaving:
    """A collection proxy that runs `meddle()` right after the first `find_one` (or after
    every one, with `always`)."""

    def __init__(self, collection, meddle, *, always: bool = False):
        self._collection = collection
        self._meddle = meddle
        self._always = always
        self.reads = 0
        self.conditional_misses = 0

    def find_one(self, *args, **kwargs):
        found = self._collection.find_one(*args, **kwargs)
        self.reads += 1
        if self.reads == 1 or self._always:
            self._meddle()
        return found

    def update_one(self, *args, **kwargs):
        result = self._collection.update_one(*args, **kwargs)
        if result.matched_count == 0:
            self.conditional_misses += 1
        return result

    def __getattr__(self, name):
        return getattr(self._collection, name)


def _beat(store, user_id, lesson_id, seq, start, end, session="a", at=T0):
    return store.record_heartbeat(
        user_id=user_id,
        course_id=uuid.UUID(int=1),
        lesson_id=lesson_id,
        duration=1000.0,
        heartbeat=Heartbeat(session=session, seq=seq, position=end, ranges=((start, end),)),
        policy=OPEN,
        now=at,
    )


@pytest.fixture
def collection():
    return mongomock.MongoClient(tz_aware=True)["eduflow_test"]["lesson_progress"]


def test_a_write_between_read_and_update_is_retried_not_lost(collection):
    user_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    other_writer = MongoProgressRepository(collection)
    _beat(other_writer, user_id, lesson_id, 0, 0, 10)

    # Writer A reads the document; writer B then adds [100, 110]; A's update must not erase it.
    proxy = Interleaving(
        collection, lambda: _beat(other_writer, user_id, lesson_id, 0, 100, 110, session="b")
    )
    store = MongoProgressRepository(proxy)
    outcome = _beat(store, user_id, lesson_id, 1, 10, 20)

    assert proxy.conditional_misses == 1
    assert proxy.reads == 2  # read, lost the race, re-read
    record = store.get(user_id=user_id, lesson_id=lesson_id, with_intervals=True)
    assert record.intervals == ((0.0, 20.0), (100.0, 110.0))
    assert outcome.record.watched_seconds == record.watched_seconds == 30.0
    assert collection.find_one({"user_id": str(user_id)})["version"] == 3


def test_two_first_heartbeats_create_one_document(collection):
    user_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    other_writer = MongoProgressRepository(collection)
    # Writer A finds no document; writer B creates it; A's insert hits the unique index.
    proxy = Interleaving(
        collection, lambda: _beat(other_writer, user_id, lesson_id, 0, 50, 60, session="b")
    )
    store = MongoProgressRepository(proxy)
    _beat(store, user_id, lesson_id, 0, 0, 10)

    assert collection.count_documents({"user_id": str(user_id)}) == 1
    record = store.get(user_id=user_id, lesson_id=lesson_id, with_intervals=True)
    assert record.intervals == ((0.0, 10.0), (50.0, 60.0))


def test_a_record_that_never_settles_answers_progress_busy(collection, monkeypatch):
    user_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    store = MongoProgressRepository(collection)
    _beat(store, user_id, lesson_id, 0, 0, 10)
    monkeypatch.setattr(MongoProgressRepository, "max_attempts", 3)
    monkeypatch.setattr(repository.time, "sleep", lambda seconds: None)

    meddler = MongoProgressRepository(collection)
    seqs = iter(range(100, 200))
    proxy = Interleaving(
        collection,
        lambda: _beat(meddler, user_id, lesson_id, next(seqs), 500, 501, session="m"),
        always=True,
    )
    busy = MongoProgressRepository(proxy)

    with pytest.raises(ProgressBusy) as raised:
        _beat(busy, user_id, lesson_id, 1, 10, 20)
    assert proxy.conditional_misses == 3
    assert raised.value.status_code == 409
    assert raised.value.problem_code == "progress_busy"


def test_documents_hold_string_ids_and_bounded_fields(collection):
    store = MongoProgressRepository(collection)
    user_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    for index in range(20):
        _beat(store, user_id, lesson_id, 0, index * 2, index * 2 + 1, session=f"s{index}")

    doc = collection.find_one({"user_id": str(user_id)})
    assert doc["lesson_id"] == str(lesson_id)
    assert doc["course_id"] == str(uuid.UUID(int=1))
    assert doc["intervals"][:2] == [{"s": 0.0, "e": 1.0}, {"s": 2.0, "e": 3.0}]
    assert len(doc["sessions"]) == 8
    assert doc["started_at"].tzinfo is not None


def test_indexes(collection):
    MongoProgressRepository(collection)
    indexes = collection.index_information()
    assert indexes["user_lesson"]["key"] == [("user_id", 1), ("lesson_id", 1)]
    assert indexes["user_lesson"]["unique"] is True
    assert indexes["course_user"]["key"] == [("course_id", 1), ("user_id", 1)]
    assert indexes["user_recent"]["key"] == [("user_id", 1), ("updated_at", -1)]


def test_the_factory_follows_mongo_url(settings, monkeypatch):
    repository.get_progress_repository.cache_clear()
    settings.MONGO_URL = ""
    assert isinstance(repository.get_progress_repository(), SqlProgressRepository)

    seen = {}

    def fake_client(url, **options):
        seen.update(url=url, **options)
        return mongomock.MongoClient(tz_aware=True)

    monkeypatch.setattr(repository, "MongoClient", fake_client)
    settings.MONGO_URL = "mongodb://db.example:27017"
    settings.MONGO_DB_NAME = "lms"
    settings.MONGO_PROGRESS_COLLECTION = "progress_docs"
    repository.get_progress_repository.cache_clear()
    store = repository.get_progress_repository()

    assert isinstance(store, MongoProgressRepository)
    assert store.collection.full_name == "lms.progress_docs"
    assert seen["url"] == "mongodb://db.example:27017"
    assert seen["tz_aware"] is True
    assert repository.get_progress_repository() is store  # built once


def test_times_are_stored_to_the_millisecond(collection):
    store = MongoProgressRepository(collection)
    user_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    at = T0 + timedelta(microseconds=123_456)
    outcome = _beat(store, user_id, lesson_id, 0, 0, 1, at=at)
    stored = store.get(user_id=user_id, lesson_id=lesson_id)
    assert outcome.record.updated_at == stored.updated_at == T0 + timedelta(microseconds=123_000)
