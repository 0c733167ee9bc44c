"""Concurrent heartbeats through the whole HTTP stack (JWT, view, service, SQL store), with real
threads and committed data: no lost update, one record per (user, lesson), and a course that
completes exactly once.

The PostgreSQL variants run in-process and skip on SQLite; the SQLite variants run the same
scenarios (tests/progress/race_scenarios.py) in a child process against a fresh SQLite file
with the production settings, because the in-memory test database fails on lock contention.
The MongoDB store's concurrency is covered by tests/contracts/ and test_mongo_repository.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.progress import race_scenarios

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-lock races need PostgreSQL: set DATABASE_URL=postgres://... to run them",
)

WRITERS, BEATS = 8, 4
EXPECTED_INTERVALS = [[index * 100.0, index * 100.0 + BEATS * 10.0] for index in range(WRITERS)]


def check_same_lesson(outcome):
    assert outcome["results"] == [[200] * BEATS] * WRITERS
    assert outcome["records"] == 1
    assert outcome["intervals"] == EXPECTED_INTERVALS
    assert outcome["watched"] == WRITERS * BEATS * 10.0


def check_last_lessons(outcome):
    assert outcome["results"] == [200] * len(outcome["results"])
    assert set(outcome["statuses"]) == {"completed"}
    assert outcome["signals"] == outcome["enrollments"]  # once each


def check_same_last_lesson(outcome):
    assert outcome["results"] == [200] * len(outcome["results"])
    assert outcome["status"] == "completed"
    assert outcome["signals"] == [outcome["enrollment"]]


@pytest.fixture
def generous(settings):
    settings.PROGRESS_RATE_SLACK_SECONDS = 10_000


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sessions_lose_no_heartbeat(generous):
    check_same_lesson(race_scenarios.same_lesson(WRITERS, BEATS))


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_last_two_lessons_at_once_complete_the_course_once(generous):
    check_last_lessons(race_scenarios.last_lessons())


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_same_final_heartbeat_at_once_completes_the_course_once(generous):
    check_same_last_lesson(race_scenarios.same_last_lesson())


def run_on_sqlite_file(scenario: str, data_dir) -> dict:
    env = {
        **os.environ,
        "EDUFLOW_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [sys.executable, "-m", "tests.progress.race_scenarios", scenario],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (outcome["vendor"], outcome["journal_mode"]) == ("sqlite", "wal")
    return outcome


def test_concurrent_sessions_lose_no_heartbeat_on_sqlite_file(tmp_path):
    check_same_lesson(run_on_sqlite_file("same-lesson", tmp_path))


def test_last_two_lessons_at_once_complete_the_course_once_on_sqlite_file(tmp_path):
    check_last_lessons(run_on_sqlite_file("last-lessons", tmp_path))


def test_same_final_heartbeat_at_once_completes_the_course_once_on_sqlite_file(tmp_path):
    check_same_last_lesson(run_on_sqlite_file("same-last-lesson", tmp_path))
