"""The progress store behind one interface: SQL tables (default) or MongoDB (`MONGO_URL`).

`ProgressRepository` takes ids (UUIDs) and returns small frozen dataclasses; the services never
see a model or a document. Both implementations keep the same guarantees, checked by the shared
contract suite in `tests/contracts/`:

- one record per (user, lesson): a unique constraint (SQL) or unique index (MongoDB);
- no lost update under concurrent heartbeats: the SQL store merges under a row lock
  (`select_for_update`; IMMEDIATE transactions on SQLite), the MongoDB store with a
  compare-and-swap on a `version` field, retried when another writer got there first;
- a heartbeat costs the same whatever the size of the collection or the learner's history:
  it reads and writes one record (SQL: plus only the stored intervals its ranges touch);
- analytics are computed in the store (SQL aggregates and window functions, MongoDB
  aggregation), never by loading every record.

`get_progress_repository()` builds the configured store once per process; tests call
`get_progress_repository.cache_clear()` after changing settings.
"""

from __future__ import annotations

import abc
import functools
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Aggregate, Count, F, FloatField, Q, Subquery, Window
from django.db.models.functions import Ceil, RowNumber
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from eduflow.core.exceptions import Conflict

from . import ledger
from .ledger import Heartbeat, Interval, LedgerState, Policy
from .models import LessonProgress, WatchedInterval

# --- What the store returns -------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressRecord:
    """One learner's progress in one lesson. `intervals` is None unless asked for."""

    user_id: UUID
    course_id: UUID
    lesson_id: UUID
    duration: float
    watched_seconds: float
    coverage: float
    position: float
    completed: bool
    completed_at: datetime | None
    started_at: datetime
    updated_at: datetime
    intervals: tuple[Interval, ...] | None = None


class ProgressSummary(NamedTuple):
    """The part of a `ProgressRecord` the dashboard reads: which lesson, where the learner
    stopped, whether it is completed and when it last changed."""

    course_id: UUID
    lesson_id: UUID
    position: float
    completed: bool
    updated_at: datetime


@dataclass(frozen=True)
class HeartbeatOutcome:
    record: ProgressRecord
    applied: bool  # False: a replayed (session, seq); nothing changed
    newly_completed: bool
    added_seconds: float
    trimmed_seconds: float  # claimed new seconds beyond the session's wall-clock allowance


@dataclass(frozen=True)
class CompletionOutcome:
    record: ProgressRecord
    newly_completed: bool


@dataclass(frozen=True)
class LessonStats:
    lesson_id: UUID
    started: int
    completed: int
    median_coverage: float | None


@dataclass(frozen=True)
class Retention:
    viewers: int  # learners with any watched second of the lesson
    buckets: tuple[int, ...]  # learners who watched each BUCKET_SECONDS bucket, in order


@dataclass(frozen=True)
class SeedProgress:
    """A ready-made record for `bulk_insert` (load generation only)."""

    user_id: UUID
    course_id: UUID
    lesson_id: UUID
    intervals: list[tuple[float, float]]
    duration: float
    position: float
    completed: bool
    updated_at: datetime


class ProgressBusy(Conflict):
    default_code = "progress_busy"
    default_detail = "Too many simultaneous updates of this progress record; retry."


# --- The interface ----------------------------------------------------------------------------


class ProgressRepository(abc.ABC):
    """Where learning progress is kept."""

    #: True when writes join the Django database transaction (and roll back with it).
    atomic_with_database: bool = False
    #: A short name for logs and the contract suite.
    name: str = ""

    @abc.abstractmethod
    def record_heartbeat(
        self,
        *,
        user_id: UUID,
        course_id: UUID,
        lesson_id: UUID,
        duration: float,
        heartbeat: Heartbeat,
        policy: Policy,
        now: datetime,
    ) -> HeartbeatOutcome:
        """Merge one heartbeat into the (user, lesson) record, creating it if needed."""

    @abc.abstractmethod
    def mark_completed(
        self, *, user_id: UUID, course_id: UUID, lesson_id: UUID, now: datetime
    ) -> CompletionOutcome:
        """Complete a lesson that has no media to watch. Completing again changes nothing."""

    @abc.abstractmethod
    def get(
        self, *, user_id: UUID, lesson_id: UUID, with_intervals: bool = False
    ) -> ProgressRecord | None: ...

    @abc.abstractmethod
    def list_for_user(self, *, user_id: UUID, course_ids: Sequence[UUID]) -> list[ProgressRecord]:
        """Every record of the user in these courses, without intervals: one store read."""

    def summaries_for_user(
        self, *, user_id: UUID, course_ids: Sequence[UUID]
    ) -> list[ProgressSummary]:
        """`list_for_user` cut down to `ProgressSummary`: one store read. Stores that can read
        fewer columns override it (SQL: each timestamp column costs a parse per row)."""
        return [
            ProgressSummary(
                record.course_id,
                record.lesson_id,
                record.position,
                record.completed,
                record.updated_at,
            )
            for record in self.list_for_user(user_id=user_id, course_ids=course_ids)
        ]

    @abc.abstractmethod
    def count_completed(self, *, user_id: UUID, lesson_ids: Sequence[UUID]) -> int: ...

    @abc.abstractmethod
    def recent_for_user(self, *, user_id: UUID, offset: int, limit: int) -> list[ProgressRecord]:
        """The user's records, most recently updated first."""

    @abc.abstractmethod
    def count_for_user(self, *, user_id: UUID) -> int: ...

    @abc.abstractmethod
    def erase_user(self, *, user_id: UUID) -> int:
        """Delete everything stored about the user; returns the number of records deleted."""

    @abc.abstractmethod
    def erase_lesson(self, *, lesson_id: UUID) -> int: ...

    @abc.abstractmethod
    def active_learners(self, *, course_id: UUID, since: datetime) -> int:
        """Distinct learners with progress in the course updated at or after `since`."""

    @abc.abstractmethod
    def lesson_stats(self, *, lesson_ids: Sequence[UUID]) -> dict[UUID, LessonStats]:
        """Per lesson with any record: learners started, completed, median coverage."""

    @abc.abstractmethod
    def retention(self, *, lesson_id: UUID, duration: float) -> Retention:
        """Per `ledger.BUCKET_SECONDS` bucket of the media, the learners who watched it."""

    @abc.abstractmethod
    def bulk_insert(self, records: Iterable[SeedProgress]) -> int:
        """Insert many new records at once (load generation); returns how many."""


def _seed_values(seed: SeedProgress) -> tuple[list[Interval], float, float]:
    intervals = ledger.normalise(seed.intervals, seed.duration)
    watched = ledger.measure(intervals)
    return intervals, watched, ledger.coverage_of(watched, seed.duration)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- SQL --------------------------------------------------------------------------------------


class _Median(Aggregate):
    """PostgreSQL's exact median."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _one_or_none(queryset):
    """The row the unique (user, lesson) pair names, or None (no ORDER BY, unlike first())."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None


_RECORD_FIELDS = (
    "user_id",
    "course_id",
    "lesson_id",
    "duration",
    "watched_seconds",
    "coverage",
    "position",
    "completed",
    "completed_at",
    "started_at",
    "updated_at",
)


class SqlProgressRepository(ProgressRepository):
    """Progress in this app's tables (`LessonProgress` and its `WatchedInterval` rows)."""

    atomic_with_database = True
    name = "sql"
    batch_size = 1000

    @staticmethod
    def _record(row: LessonProgress, intervals: Sequence[Interval] | None = None) -> ProgressRecord:
        return ProgressRecord(
            **{name: getattr(row, name) for name in _RECORD_FIELDS},
            intervals=tuple(intervals) if intervals is not None else None,
        )

    @staticmethod
    def _locked_row(
        *, user_id: UUID, course_id: UUID, lesson_id: UUID, duration: float, now: datetime
    ) -> LessonProgress:
        """The (user, lesson) row under a row lock, created first if missing. Concurrent
        creators meet at the unique constraint: the loser's insert does nothing."""
        rows = LessonProgress.objects.select_for_update()
        row = _one_or_none(rows.filter(user_id=user_id, lesson_id=lesson_id))
        if row is None:
            LessonProgress.objects.bulk_create(
                [
                    LessonProgress(
                        user_id=user_id,
                        course_id=course_id,
                        lesson_id=lesson_id,
                        duration=duration,
                        started_at=now,
                        updated_at=now,
                    )
                ],
                ignore_conflicts=True,
            )
            row = rows.get(user_id=user_id, lesson_id=lesson_id)
        return row

    def record_heartbeat(
        self,
        *,
        user_id: UUID,
        course_id: UUID,
        lesson_id: UUID,
        duration: float,
        heartbeat: Heartbeat,
        policy: Policy,
        now: datetime,
    ) -> HeartbeatOutcome:
        ranges = ledger.normalise(heartbeat.ranges, duration)
        with transaction.atomic(savepoint=False):
            row = self._locked_row(
                user_id=user_id,
                course_id=course_id,
                lesson_id=lesson_id,
                duration=duration,
                now=now,
            )
            neighbours = self._touching_intervals(row, ranges)
            state = LedgerState(
                intervals=tuple((start, end) for _, start, end in neighbours),
                watched_seconds=row.watched_seconds,
                position=row.position,
                completed=row.completed,
                sessions=ledger.sessions_from(row.sessions),
            )
            result = ledger.apply_heartbeat(
                state, heartbeat, duration=duration, now=now.timestamp(), policy=policy
            )
            if result.applied:
                if result.changed_intervals:
                    self._replace_intervals(row, neighbours, result.intervals)
                row.duration = duration
                row.watched_seconds = result.watched_seconds
                row.coverage = result.coverage
                row.position = result.position
                row.sessions = ledger.sessions_as_list(result.sessions)
                row.updated_at = now
                if result.newly_completed:
                    row.completed = True
                    row.completed_at = now
                row.save(
                    update_fields=[
                        "duration",
                        "watched_seconds",
                        "coverage",
                        "position",
                        "sessions",
                        "updated_at",
                        "completed",
                        "completed_at",
                    ]
                )
        return HeartbeatOutcome(
            record=self._record(row),
            applied=result.applied,
            newly_completed=result.newly_completed,
            added_seconds=result.added_seconds,
            trimmed_seconds=result.trimmed_seconds,
        )

    @staticmethod
    def _touching_intervals(
        row: LessonProgress, ranges: Sequence[Interval]
    ) -> list[tuple[int, float, float]]:
        """The stored intervals that overlap or touch one of `ranges`, found with index seeks
        only, however many intervals the record holds: those starting inside a range, plus
        for each range the one interval starting before it (stored intervals are disjoint, so
        no other can reach into it)."""
        if not ranges:
            return []
        mine = WatchedInterval.objects.filter(progress=row)
        touching = Q()
        for start, end in ranges:
            before = mine.filter(start__lt=start).order_by("-start").values("pk")[:1]
            touching |= Q(progress=row, start__gte=start, start__lte=end)
            touching |= Q(pk=Subquery(before), end__gte=start)
        return list(
            WatchedInterval.objects.filter(touching)
            .order_by("start")
            .values_list("id", "start", "end")
        )

    @staticmethod
    def _replace_intervals(
        row: LessonProgress,
        neighbours: list[tuple[int, float, float]],
        merged: Sequence[Interval],
    ) -> None:
        old = {(start, end): pk for pk, start, end in neighbours}
        new = set(merged)
        gone = [pk for interval, pk in old.items() if interval not in new]
        added = [interval for interval in merged if interval not in old]
        if len(gone) == 1 and len(added) == 1:
            # The common case: one stretch grew.
            WatchedInterval.objects.filter(pk=gone[0]).update(start=added[0][0], end=added[0][1])
            return
        if gone:
            WatchedInterval.objects.filter(pk__in=gone).delete()
        if added:
            WatchedInterval.objects.bulk_create(
                WatchedInterval(progress=row, lesson_id=row.lesson_id, start=start, end=end)
                for start, end in added
            )

    def mark_completed(
        self, *, user_id: UUID, course_id: UUID, lesson_id: UUID, now: datetime
    ) -> CompletionOutcome:
        with transaction.atomic(savepoint=False):
            row = self._locked_row(
                user_id=user_id, course_id=course_id, lesson_id=lesson_id, duration=0, now=now
            )
            if row.completed:
                return CompletionOutcome(record=self._record(row), newly_completed=False)
            row.completed = True
            row.completed_at = now
            row.coverage = 1.0
            row.updated_at = now
            row.save(update_fields=["completed", "completed_at", "coverage", "updated_at"])
        return CompletionOutcome(record=self._record(row), newly_completed=True)

    def get(
        self, *, user_id: UUID, lesson_id: UUID, with_intervals: bool = False
    ) -> ProgressRecord | None:
        row = _one_or_none(LessonProgress.objects.filter(user_id=user_id, lesson_id=lesson_id))
        if row is None:
            return None
        intervals = None
        if with_intervals:
            intervals = list(
                WatchedInterval.objects.filter(progress=row)
                .order_by("start")
                .values_list("start", "end")
            )
        return self._record(row, intervals)

    def _rows(self):
        return LessonProgress.objects.only(*_RECORD_FIELDS)

    def list_for_user(self, *, user_id: UUID, course_ids: Sequence[UUID]) -> list[ProgressRecord]:
        """Read as plain tuples in `ProgressRecord`'s field order, unsorted (callers key the
        records by lesson): no model instance per row, no sort. The dashboard reads every
        record of the learner's courses on each request."""
        if not course_ids:
            return []
        rows = (
            LessonProgress.objects.filter(user_id=user_id, course_id__in=list(course_ids))
            .order_by()
            .values_list(*_RECORD_FIELDS)
        )
        return [ProgressRecord(*row) for row in rows]

    def summaries_for_user(
        self, *, user_id: UUID, course_ids: Sequence[UUID]
    ) -> list[ProgressSummary]:
        if not course_ids:
            return []
        rows = (
            LessonProgress.objects.filter(user_id=user_id, course_id__in=list(course_ids))
            .order_by()
            .values_list(*ProgressSummary._fields)
        )
        return [ProgressSummary(*row) for row in rows]

    def count_completed(self, *, user_id: UUID, lesson_ids: Sequence[UUID]) -> int:
        return LessonProgress.objects.filter(
            user_id=user_id, lesson_id__in=list(lesson_ids), completed=True
        ).count()

    def recent_for_user(self, *, user_id: UUID, offset: int, limit: int) -> list[ProgressRecord]:
        rows = self._rows().filter(user_id=user_id).order_by("-updated_at", "id")
        return [self._record(row) for row in rows[offset : offset + limit]]

    def count_for_user(self, *, user_id: UUID) -> int:
        return LessonProgress.objects.filter(user_id=user_id).count()

    def erase_user(self, *, user_id: UUID) -> int:
        with transaction.atomic(savepoint=False):
            WatchedInterval.objects.filter(progress__user_id=user_id).delete()
            deleted, _ = LessonProgress.objects.filter(user_id=user_id).delete()
        return deleted

    def erase_lesson(self, *, lesson_id: UUID) -> int:
        with transaction.atomic(savepoint=False):
            WatchedInterval.objects.filter(lesson_id=lesson_id).delete()
            deleted, _ = LessonProgress.objects.filter(lesson_id=lesson_id).delete()
        return deleted

    def active_learners(self, *, course_id: UUID, since: datetime) -> int:
        return (
            LessonProgress.objects.filter(course_id=course_id, updated_at__gte=since)
            .values("user_id")
            .distinct()
            .count()
        )

    def lesson_stats(self, *, lesson_ids: Sequence[UUID]) -> dict[UUID, LessonStats]:
        if not lesson_ids:
            return {}
        rows = LessonProgress.objects.filter(lesson_id__in=list(lesson_ids))
        on_postgres = connection.vendor == "postgresql"
        counts = (
            rows.order_by()
            .values("lesson_id")
            .annotate(
                started=Count("id"),
                done=Count("id", filter=Q(completed=True)),
                **({"median": _Median("coverage")} if on_postgres else {}),
            )
        )
        stats = {
            row["lesson_id"]: LessonStats(
                lesson_id=row["lesson_id"],
                started=row["started"],
                completed=row["done"],
                median_coverage=row.get("median"),
            )
            for row in counts
        }
        if not on_postgres:
            for lesson_id, median in self._medians_by_window(rows).items():
                stats[lesson_id] = LessonStats(
                    lesson_id=lesson_id,
                    started=stats[lesson_id].started,
                    completed=stats[lesson_id].completed,
                    median_coverage=median,
                )
        return stats

    @staticmethod
    def _medians_by_window(rows) -> dict[UUID, float]:
        """Medians without PERCENTILE_CONT (SQLite): the database ranks each lesson's records by
        coverage and returns only the one or two middle rows per lesson."""
        middle = (
            rows.order_by()
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("lesson_id")], order_by=[F("coverage").asc()]
                ),
                total=Window(Count("id"), partition_by=[F("lesson_id")]),
            )
            .filter(rank__gte=(F("total") + 1) / 2, rank__lte=(F("total") + 2) / 2)
            .values_list("lesson_id", "coverage")
        )
        values: dict[UUID, list[float]] = {}
        for lesson_id, coverage in middle:
            values.setdefault(lesson_id, []).append(coverage)
        return {lesson_id: sum(items) / len(items) for lesson_id, items in values.items()}

    def retention(self, *, lesson_id: UUID, duration: float) -> Retention:
        size = ledger.BUCKET_SECONDS
        intervals = WatchedInterval.objects.filter(lesson_id=lesson_id).order_by()
        viewers = LessonProgress.objects.filter(lesson_id=lesson_id, watched_seconds__gt=0).count()
        if ledger.bucket_count(duration) == 0:
            return Retention(viewers=viewers, buckets=())

        def edges(field: str) -> dict[int, int]:
            bucket = Ceil((F(field) - size / 2) / size)
            grouped = intervals.annotate(bucket=bucket).values("bucket").annotate(n=Count("id"))
            return {int(row["bucket"]): row["n"] for row in grouped}

        midpoint = ledger.last_bucket_midpoint(duration)
        last = intervals.filter(start__lte=midpoint, end__gt=midpoint).count()
        buckets = ledger.retention_from_edges(
            duration=duration,
            first_buckets=edges("start"),
            end_buckets=edges("end"),
            last_bucket_viewers=last,
        )
        return Retention(viewers=viewers, buckets=tuple(buckets))

    def bulk_insert(self, records: Iterable[SeedProgress]) -> int:
        inserted = 0
        for batch in _batches(records, self.batch_size):
            rows, interval_lists = [], []
            for seed in batch:
                intervals, watched, coverage = _seed_values(seed)
                rows.append(
                    LessonProgress(
                        user_id=seed.user_id,
                        course_id=seed.course_id,
                        lesson_id=seed.lesson_id,
                        duration=seed.duration,
                        watched_seconds=watched,
                        coverage=1.0 if seed.completed and seed.duration <= 0 else coverage,
                        position=min(max(seed.position, 0.0), max(seed.duration, 0.0)),
                        completed=seed.completed,
                        completed_at=seed.updated_at if seed.completed else None,
                        started_at=seed.updated_at,
                        updated_at=seed.updated_at,
                    )
                )
                interval_lists.append(intervals)
            with transaction.atomic(savepoint=False):
                created = LessonProgress.objects.bulk_create(rows)
                children = [
                    WatchedInterval(progress=row, lesson_id=row.lesson_id, start=start, end=end)
                    for row, intervals in zip(created, interval_lists, strict=True)
                    for start, end in intervals
                ]
                WatchedInterval.objects.bulk_create(children, batch_size=self.batch_size * 10)
            inserted += len(created)
        return inserted


# --- MongoDB ----------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _to_millis(value: datetime) -> datetime:
    """BSON dates hold milliseconds; store what reads back identically."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class MongoProgressRepository(ProgressRepository):
    """Progress as one document per (user, lesson) in a MongoDB collection.

    Ids are stored as canonical UUID strings. Intervals are `[{"s": start, "e": end}, ...]`.
    Every write is one single-document operation: an insert (the unique index settles a race
    between two creators) or an update conditioned on the `version` read, retried on a miss.
    """

    atomic_with_database = False
    name = "mongo"
    max_attempts = 25
    batch_size = 1000

    def __init__(self, collection) -> None:
        self.collection = collection
        self.ensure_indexes()

    @classmethod
    def from_settings(cls) -> MongoProgressRepository:
        client = MongoClient(settings.MONGO_URL, tz_aware=True, serverSelectionTimeoutMS=5000)
        return cls(client[settings.MONGO_DB_NAME][settings.MONGO_PROGRESS_COLLECTION])

    def ensure_indexes(self) -> None:
        self.collection.create_index(
            [("user_id", ASCENDING), ("lesson_id", ASCENDING)], unique=True, name="user_lesson"
        )
        self.collection.create_index(
            [("course_id", ASCENDING), ("user_id", ASCENDING)], name="course_user"
        )
        self.collection.create_index(
            [("user_id", ASCENDING), ("updated_at", DESCENDING)], name="user_recent"
        )
        self.collection.create_index(
            [("lesson_id", ASCENDING), ("coverage", ASCENDING)], name="lesson_coverage"
        )
        self.collection.create_index(
            [("course_id", ASCENDING), ("updated_at", DESCENDING)], name="course_recent"
        )

    _SUMMARY = {"intervals": 0, "sessions": 0}

    @staticmethod
    def _record(doc: dict, *, with_intervals: bool = False) -> ProgressRecord:
        intervals = None
        if with_intervals:
            intervals = tuple((item["s"], item["e"]) for item in doc.get("intervals", ()))
        return ProgressRecord(
            user_id=UUID(doc["user_id"]),
            course_id=UUID(doc["course_id"]),
            lesson_id=UUID(doc["lesson_id"]),
            duration=doc["duration"],
            watched_seconds=doc["watched_seconds"],
            coverage=doc["coverage"],
            position=doc["position"],
            completed=doc["completed"],
            completed_at=_aware(doc.get("completed_at")),
            started_at=_aware(doc["started_at"]),
            updated_at=_aware(doc["updated_at"]),
            intervals=intervals,
        )

    @staticmethod
    def _new_document(*, user_id, course_id, lesson_id, duration, now) -> dict:
        return {
            "user_id": str(user_id),
            "course_id": str(course_id),
            "lesson_id": str(lesson_id),
            "duration": float(duration),
            "watched_seconds": 0.0,
            "coverage": 0.0,
            "position": 0.0,
            "completed": False,
            "completed_at": None,
            "started_at": now,
            "updated_at": now,
            "intervals": [],
            "sessions": [],
            "version": 0,
        }

    def _mutate(self, *, key: dict, create: dict, change) -> tuple[dict, object]:
        """Read the document (or a fresh one), let `change(doc)` return `(new_fields, result)`
        (`new_fields` None: nothing to write), and write it only if nobody wrote in between."""
        for attempt in range(self.max_attempts):
            doc = self.collection.find_one(key)
            exists = doc is not None
            if not exists:
                doc = dict(create)
            fields, result = change(doc)
            if fields is None:
                return doc, result
            if not exists:
                try:
                    self.collection.insert_one({**doc, **fields, "version": 1})
                except DuplicateKeyError:
                    continue  # another writer created it first: merge into theirs
                return {**doc, **fields}, result
            written = self.collection.update_one(
                {"_id": doc["_id"], "version": doc["version"]},
                {"$set": {**fields, "version": doc["version"] + 1}},
            )
            if written.matched_count == 1:
                return {**doc, **fields}, result
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # jitter before retrying
        raise ProgressBusy()

    def record_heartbeat(
        self,
        *,
        user_id: UUID,
        course_id: UUID,
        lesson_id: UUID,
        duration: float,
        heartbeat: Heartbeat,
        policy: Policy,
        now: datetime,
    ) -> HeartbeatOutcome:
        now = _to_millis(now)

        def change(doc: dict):
            state = LedgerState(
                intervals=tuple((item["s"], item["e"]) for item in doc["intervals"]),
                watched_seconds=doc["watched_seconds"],
                position=doc["position"],
                completed=doc["completed"],
                sessions=ledger.sessions_from(doc["sessions"]),
            )
            result = ledger.apply_heartbeat(
                state, heartbeat, duration=duration, now=now.timestamp(), policy=policy
            )
            if not result.applied:
                return None, result
            fields = {
                "duration": float(duration),
                "watched_seconds": result.watched_seconds,
                "coverage": result.coverage,
                "position": result.position,
                "sessions": ledger.sessions_as_list(result.sessions),
                "updated_at": now,
            }
            if result.changed_intervals:
                fields["intervals"] = [{"s": start, "e": end} for start, end in result.intervals]
            if result.newly_completed:
                fields["completed"] = True
                fields["completed_at"] = now
            return fields, result

        doc, result = self._mutate(
            key={"user_id": str(user_id), "lesson_id": str(lesson_id)},
            create=self._new_document(
                user_id=user_id,
                course_id=course_id,
                lesson_id=lesson_id,
                duration=duration,
                now=now,
            ),
            change=change,
        )
        return HeartbeatOutcome(
            record=self._record(doc),
            applied=result.applied,
            newly_completed=result.newly_completed,
            added_seconds=result.added_seconds,
            trimmed_seconds=result.trimmed_seconds,
        )

    def mark_completed(
        self, *, user_id: UUID, course_id: UUID, lesson_id: UUID, now: datetime
    ) -> CompletionOutcome:
        now = _to_millis(now)

        def change(doc: dict):
            if doc["completed"]:
                return None, False
            fields = {"completed": True, "completed_at": now, "coverage": 1.0, "updated_at": now}
            return fields, True

        doc, newly = self._mutate(
            key={"user_id": str(user_id), "lesson_id": str(lesson_id)},
            create=self._new_document(
                user_id=user_id, course_id=course_id, lesson_id=lesson_id, duration=0, now=now
            ),
            change=change,
        )
        return CompletionOutcome(record=self._record(doc), newly_completed=bool(newly))

    def get(
        self, *, user_id: UUID, lesson_id: UUID, with_intervals: bool = False
    ) -> ProgressRecord | None:
        projection = {"sessions": 0} if with_intervals else self._SUMMARY
        doc = self.collection.find_one(
            {"user_id": str(user_id), "lesson_id": str(lesson_id)}, projection
        )
        return None if doc is None else self._record(doc, with_intervals=with_intervals)

    def list_for_user(self, *, user_id: UUID, course_ids: Sequence[UUID]) -> list[ProgressRecord]:
        if not course_ids:
            return []
        docs = self.collection.find(
            {"user_id": str(user_id), "course_id": {"$in": [str(pk) for pk in course_ids]}},
            self._SUMMARY,
        )
        return [self._record(doc) for doc in docs]

    def count_completed(self, *, user_id: UUID, lesson_ids: Sequence[UUID]) -> int:
        return self.collection.count_documents(
            {
                "user_id": str(user_id),
                "lesson_id": {"$in": [str(pk) for pk in lesson_ids]},
                "completed": True,
            }
        )

    def recent_for_user(self, *, user_id: UUID, offset: int, limit: int) -> list[ProgressRecord]:
        if limit <= 0:
            return []
        docs = (
            self.collection.find({"user_id": str(user_id)}, self._SUMMARY)
            .sort([("updated_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [self._record(doc) for doc in docs]

    def count_for_user(self, *, user_id: UUID) -> int:
        return self.collection.count_documents({"user_id": str(user_id)})

    def erase_user(self, *, user_id: UUID) -> int:
        return self.collection.delete_many({"user_id": str(user_id)}).deleted_count

    def erase_lesson(self, *, lesson_id: UUID) -> int:
        return self.collection.delete_many({"lesson_id": str(lesson_id)}).deleted_count

    def active_learners(self, *, course_id: UUID, since: datetime) -> int:
        rows = list(
            self.collection.aggregate(
                [
                    {"$match": {"course_id": str(course_id), "updated_at": {"$gte": since}}},
                    {"$group": {"_id": "$user_id"}},
                    {"$count": "learners"},
                ]
            )
        )
        return rows[0]["learners"] if rows else 0

    def lesson_stats(self, *, lesson_ids: Sequence[UUID]) -> dict[UUID, LessonStats]:
        if not lesson_ids:
            return {}
        grouped = self.collection.aggregate(
            [
                {"$match": {"lesson_id": {"$in": [str(pk) for pk in lesson_ids]}}},
                {
                    "$group": {
                        "_id": "$lesson_id",
                        "started": {"$sum": 1},
                        "completed": {"$sum": {"$cond": ["$completed", 1, 0]}},
                    }
                },
            ]
        )
        stats = {}
        for row in grouped:
            lesson_id = UUID(row["_id"])
            stats[lesson_id] = LessonStats(
                lesson_id=lesson_id,
                started=row["started"],
                completed=row["completed"],
                median_coverage=self._median(row["_id"], row["started"]),
            )
        return stats

    def _median(self, lesson_id: str, count: int) -> float | None:
        """The middle one or two coverages, read in index order (lesson_id, coverage)."""
        if count == 0:
            return None
        middle = (
            self.collection.find({"lesson_id": lesson_id}, {"coverage": 1, "_id": 0})
            .sort([("coverage", ASCENDING)])
            .skip((count - 1) // 2)
            .limit(2 - count % 2)
        )
        values = [doc["coverage"] for doc in middle]
        return sum(values) / len(values) if values else None

    def retention(self, *, lesson_id: UUID, duration: float) -> Retention:
        size = ledger.BUCKET_SECONDS
        match = {"lesson_id": str(lesson_id)}
        viewers = self.collection.count_documents({**match, "watched_seconds": {"$gt": 0}})
        if ledger.bucket_count(duration) == 0:
            return Retention(viewers=viewers, buckets=())

        def edges(field: str) -> dict[int, int]:
            rows = self.collection.aggregate(
                [
                    {"$match": match},
                    {"$unwind": "$intervals"},
                    {
                        "$group": {
                            "_id": {
                                "$ceil": {
                                    "$divide": [
                                        {"$subtract": [f"$intervals.{field}", size / 2]},
                                        size,
                                    ]
                                }
                            },
                            "n": {"$sum": 1},
                        }
                    },
                ]
            )
            return {int(row["_id"]): row["n"] for row in rows}

        midpoint = ledger.last_bucket_midpoint(duration)
        covering = {"s": {"$lte": midpoint}, "e": {"$gt": midpoint}}
        last = self.collection.count_documents({**match, "intervals": {"$elemMatch": covering}})
        buckets = ledger.retention_from_edges(
            duration=duration,
            first_buckets=edges("s"),
            end_buckets=edges("e"),
            last_bucket_viewers=last,
        )
        return Retention(viewers=viewers, buckets=tuple(buckets))

    def bulk_insert(self, records: Iterable[SeedProgress]) -> int:
        inserted = 0
        for batch in _batches(records, self.batch_size):
            docs = []
            for seed in batch:
                intervals, watched, coverage = _seed_values(seed)
                updated_at = _to_millis(seed.updated_at)
                docs.append(
                    {
                        "user_id": str(seed.user_id),
                        "course_id": str(seed.course_id),
                        "lesson_id": str(seed.lesson_id),
                        "duration": float(seed.duration),
                        "watched_seconds": watched,
                        "coverage": 1.0 if seed.completed and seed.duration <= 0 else coverage,
                        "position": min(max(seed.position, 0.0), max(seed.duration, 0.0)),
                        "completed": seed.completed,
                        "completed_at": updated_at if seed.completed else None,
                        "started_at": updated_at,
                        "updated_at": updated_at,
                        "intervals": [{"s": start, "e": end} for start, end in intervals],
                        "sessions": [],
                        "version": 1,
                    }
                )
            result = self.collection.insert_many(docs, ordered=False)
            inserted += len(result.inserted_ids)
        return inserted


@functools.lru_cache(maxsize=1)
def get_progress_repository() -> ProgressRepository:
    """The configured store: MongoDB when `MONGO_URL` is set, the SQL tables otherwise."""
    if settings.MONGO_URL:
        return MongoProgressRepository.from_settings()
    return SqlProgressRepository()
