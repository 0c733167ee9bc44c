"""Backends for the progress store contract suite, and a summary of which ones ran.

Every test in this directory takes the `repo` fixture and so runs once per backend:

- `sql`: `SqlProgressRepository` on the test database (SQLite by default, PostgreSQL when
  DATABASE_URL points at one);
- `mongomock`: `MongoProgressRepository` on mongomock, an in-process fake of MongoDB (always),
  each operation made atomic like on a server (see `_OneOperationAtATime`);
- `mongo`: `MongoProgressRepository` on a real server, when MONGO_URL is set (skipped with the
  reason otherwise). Each test gets its own database, dropped afterwards.

Tests that need real threads take `threaded_repo` instead: the SQL backend then needs committed
data and a database that waits on locks (PostgreSQL); on SQLite it is skipped with the reason
(tests/progress/test_races.py runs the SQL races on a SQLite file in a child process).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import mongomock
import pytest
from django.conf import settings
from django.db import connection
from pymongo import MongoClient

from progress.repository import MongoProgressRepository, SqlProgressRepository

BACKENDS = ("sql", "mongomock", "mongo")
NO_MONGO = (
    "no MongoDB server: set MONGO_URL=mongodb://127.0.0.1:27017 (docker compose starts one) "
    "to run the contract suite against a real server"
)
_ran: Counter = Counter()
_skipped: dict[str, str] = {}


class _OneOperationAtATime:
    """mongomock's `update_one` matches and then writes in two steps, so two threads can both
    match the same `version`; a MongoDB server applies each single-document operation
    atomically. This wrapper restores that guarantee (each call holds a lock) and pauses
    briefly after each call, so threads do run between one writer's read and its write."""

    def __init__(self, collection) -> None:
        self._collection = collection
        self._lock = threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute

        def locked(*args, **kwargs):
            with self._lock:
                result = attribute(*args, **kwargs)
            time.sleep(0.0005)  # let another thread run between two operations
            return result

        return locked


def _mongomock_repo():
    collection = mongomock.MongoClient(tz_aware=True)["eduflow_contract"]["lesson_progress"]
    return MongoProgressRepository(_OneOperationAtATime(collection)), None


def _mongo_repo():
    if not settings.MONGO_URL:
        _skipped["mongo"] = NO_MONGO
        pytest.skip(NO_MONGO)
    client = MongoClient(settings.MONGO_URL, tz_aware=True, serverSelectionTimeoutMS=3000)
    name = f"eduflow_contract_{uuid.uuid4().hex[:12]}"
    return MongoProgressRepository(client[name]["lesson_progress"]), (client, name)


def _build(request, backend: str, *, threaded: bool):
    cleanup = None
    if backend == "sql":
        if threaded and connection.vendor != "postgresql":
            reason = (
                "threads on the SQL store need PostgreSQL (the in-memory SQLite test "
                "database fails on lock contention): set DATABASE_URL; the SQLite file "
                "variant runs in tests/progress/test_races.py"
            )
            _skipped["sql (threads)"] = reason
            pytest.skip(reason)
        label = f"sql ({connection.vendor})"
        repo = SqlProgressRepository()
    elif backend == "mongomock":
        label = "mongomock"
        repo, cleanup = _mongomock_repo()
    else:
        repo, cleanup = _mongo_repo()
        label = "mongo (server)"
    _ran[label] += 1
    return repo, cleanup


def _drop(cleanup) -> None:
    if cleanup is not None:
        client, name = cleanup
        client.drop_database(name)
        client.close()


# The database fixtures are named here, not requested lazily, so pytest-django sets up the test
# database (it decides from the collected tests' fixture names). MongoDB runs get it too.
@pytest.fixture(params=BACKENDS)
def repo(request, db):
    store, cleanup = _build(request, request.param, threaded=False)
    yield store
    _drop(cleanup)


@pytest.fixture(params=BACKENDS)
def threaded_repo(request, transactional_db):
    store, cleanup = _build(request, request.param, threaded=True)
    yield store
    _drop(cleanup)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _ran and not _skipped:
        return
    terminalreporter.section("progress store contract suite")
    for label, count in sorted(_ran.items()):
        terminalreporter.write_line(f"ran against {label}: {count} tests")
    for label, reason in sorted(_skipped.items()):
        terminalreporter.write_line(f"skipped {label}: {reason}")
