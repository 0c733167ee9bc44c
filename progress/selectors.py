"""Reads of learning progress: lesson states, course progress, the dashboard, history and the
instructor analytics. Each reads the relational data it needs in a fixed number of queries and
the progress store in a fixed number of calls, whatever the number of lessons or records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar
from uuid import UUID

from django.db.models import Count, Q
from django.utils import timezone

from courses.models import Course
from eduflow.core.exceptions import Forbidden
from eduflow.core.permissions import is_admin
from enrollments.models import SEAT_HOLDING, Enrollment, EnrollmentStatus
from lessons.models import Lesson, LessonKind

from . import ledger, repository
from .repository import ProgressRecord, ProgressSummary

NOT_STARTED = "not_started"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
ACTIVE_WINDOW = timedelta(days=7)

# What the course figures and the resume pointer read of a record: `lesson_id`, `position`,
# `completed` and `updated_at`, which both shapes have.
Progress = ProgressRecord | ProgressSummary
P = TypeVar("P", ProgressRecord, ProgressSummary)


# --- Who records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressAccess:
    recording: bool  # False: a preview by the course's instructor or an admin
    enrollment_status: str | None


def progress_access(*, user, course: Course) -> ProgressAccess:
    """Learners holding a seat record; the course's instructor and admins preview; anyone else
    gets 403 `not_enrolled`. One query."""
    status = (
        Enrollment.objects.filter(user=user, course=course, status__in=SEAT_HOLDING)
        .values_list("status", flat=True)
        .first()
    )
    return progress_access_from(user=user, instructor_id=course.instructor_id, seat_status=status)


def progress_access_from(*, user, instructor_id, seat_status: str | None) -> ProgressAccess:
    """`progress_access` from facts already read: the caller's seat-holding enrollment status
    (None without a seat) and the course's instructor id. No query (the heartbeat reads both
    with its lesson)."""
    if seat_status is not None:
        return ProgressAccess(recording=True, enrollment_status=seat_status)
    if is_admin(user) or instructor_id == user.pk:
        return ProgressAccess(recording=False, enrollment_status=None)
    raise Forbidden("You are not enrolled in this course.", code="not_enrolled")


# --- Lessons as progress sees them -------------------------------------------------------------


class LessonRef(NamedTuple):
    """A lesson as progress sees it. A named tuple rather than a frozen dataclass: the dashboard
    and course progress build one per lesson of every course they show (hundreds per request),
    and a tuple is several times cheaper to build; it is just as immutable and reads the same."""

    id: UUID
    course_id: UUID
    title: str
    kind: str
    duration: float

    @classmethod
    def of(cls, lesson: Lesson) -> LessonRef:
        return cls(
            lesson.pk, lesson.course_id, lesson.title, lesson.kind, float(lesson.duration_seconds)
        )


_LESSON_FIELDS = ("id", "course_id", "title", "kind", "duration_seconds")


def course_lessons(*, course_ids: Sequence[UUID]) -> dict[UUID, list[LessonRef]]:
    """The lessons of these courses in course order (one query, read as plain tuples)."""
    lessons: dict[UUID, list[LessonRef]] = {course_id: [] for course_id in course_ids}
    if not course_ids:
        return lessons
    rows = Lesson.objects.filter(course_id__in=list(course_ids)).values_list(*_LESSON_FIELDS)
    for pk, course_id, title, kind, duration in rows:
        lessons[course_id].append(LessonRef(pk, course_id, title, kind, float(duration)))
    return lessons


def course_lesson_ids(*, course_id: UUID) -> list[UUID]:
    """Every lesson of the course: all of them are required to complete it."""
    return list(Lesson.objects.filter(course_id=course_id).values_list("id", flat=True))


@dataclass(frozen=True)
class LessonState:
    lesson: LessonRef
    status: str
    watched_seconds: float
    duration: float
    coverage: float
    position: float
    completed: bool
    completed_at: datetime | None
    started_at: datetime | None
    updated_at: datetime | None


def lesson_state(lesson: LessonRef, record: ProgressRecord | None) -> LessonState:
    if record is None:
        return LessonState(
            lesson=lesson,
            status=NOT_STARTED,
            watched_seconds=0.0,
            duration=lesson.duration,
            coverage=0.0,
            position=0.0,
            completed=False,
            completed_at=None,
            started_at=None,
            updated_at=None,
        )
    return LessonState(
        lesson=lesson,
        status=COMPLETED if record.completed else IN_PROGRESS,
        watched_seconds=record.watched_seconds,
        duration=lesson.duration,
        coverage=record.coverage,
        position=record.position,
        completed=record.completed,
        completed_at=record.completed_at,
        started_at=record.started_at,
        updated_at=record.updated_at,
    )


# --- Course progress, resume, dashboard -------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    lesson: LessonRef
    position: float


def resume_pointer(
    lessons: Sequence[LessonRef], records: dict[UUID, Progress], policy: ledger.Policy
) -> Resume | None:
    """Where to continue: the most recently active lesson at its position; the next lesson when
    that one is finished (a video position in its final seconds, a completed text or document);
    the first lesson when nothing has started; the first unfinished lesson after the last one."""
    if not lessons:
        return None
    touched = [records[lesson.id] for lesson in lessons if lesson.id in records]
    if not touched:
        return Resume(lesson=lessons[0], position=0.0)
    last = max(touched, key=lambda record: record.updated_at)
    index = next(i for i, lesson in enumerate(lessons) if lesson.id == last.lesson_id)
    lesson = lessons[index]
    if lesson.kind == LessonKind.VIDEO:
        finished = policy.is_near_end(last.position, lesson.duration)
    else:
        finished = last.completed
    if not finished:
        return Resume(lesson=lesson, position=last.position)

    def start_of(candidate: LessonRef) -> Resume:
        record = records.get(candidate.id)
        position = 0.0
        if (
            record is not None
            and candidate.kind == LessonKind.VIDEO
            and not policy.is_near_end(record.position, candidate.duration)
        ):
            position = record.position
        return Resume(lesson=candidate, position=position)

    if index + 1 < len(lessons):
        return start_of(lessons[index + 1])
    unfinished = [
        lesson for lesson in lessons if lesson.id not in records or not records[lesson.id].completed
    ]
    return start_of(unfinished[0]) if unfinished else Resume(lesson=lessons[0], position=0.0)


@dataclass(frozen=True)
class CourseProgress:
    course: Course
    user_id: UUID
    enrollment_status: str | None
    total_lessons: int
    completed_lessons: int
    percent_complete: float
    last_activity_at: datetime | None
    resume: Resume | None
    lessons: list[LessonState]


class CourseSummary(NamedTuple):
    """The figures of one course's progress, without the per-lesson states (the dashboard)."""

    total_lessons: int
    completed_lessons: int
    percent_complete: float
    last_activity_at: datetime | None
    resume: Resume | None


def _summary(
    lessons: list[LessonRef], by_lesson: dict[UUID, Progress], policy: ledger.Policy
) -> CourseSummary:
    """`by_lesson` holds only records of `lessons` (see `_by_lesson`)."""
    completed = 0
    last_activity = None
    for record in by_lesson.values():
        if record.completed:
            completed += 1
        if last_activity is None or record.updated_at > last_activity:
            last_activity = record.updated_at
    total = len(lessons)
    return CourseSummary(
        total_lessons=total,
        completed_lessons=completed,
        percent_complete=round(100.0 * completed / total, 1) if total else 0.0,
        last_activity_at=last_activity,
        resume=resume_pointer(lessons, by_lesson, policy),
    )


def _by_lesson(lessons: list[LessonRef], records: Iterable[P]) -> dict[UUID, P]:
    """The records of these lessons by lesson id; records of lessons no longer in the course
    are left out (they count for nothing)."""
    lesson_ids = {lesson.id for lesson in lessons}
    return {record.lesson_id: record for record in records if record.lesson_id in lesson_ids}


def _course_progress(
    *,
    course: Course,
    user_id: UUID,
    enrollment_status: str | None,
    lessons: list[LessonRef],
    records: Iterable[ProgressRecord],
    policy: ledger.Policy,
) -> CourseProgress:
    by_lesson = _by_lesson(lessons, records)
    summary = _summary(lessons, by_lesson, policy)
    return CourseProgress(
        course=course,
        user_id=user_id,
        enrollment_status=enrollment_status,
        total_lessons=summary.total_lessons,
        completed_lessons=summary.completed_lessons,
        percent_complete=summary.percent_complete,
        last_activity_at=summary.last_activity_at,
        resume=summary.resume,
        lessons=[lesson_state(lesson, by_lesson.get(lesson.id)) for lesson in lessons],
    )


def course_progress(
    *, course: Course, user_id: UUID, enrollment_status: str | None, policy: ledger.Policy
) -> CourseProgress:
    """One learner's progress in one course: 1 query (lessons) and 1 store read."""
    lessons = course_lessons(course_ids=[course.pk])[course.pk]
    records = repository.get_progress_repository().list_for_user(
        user_id=user_id, course_ids=[course.pk]
    )
    return _course_progress(
        course=course,
        user_id=user_id,
        enrollment_status=enrollment_status,
        lessons=lessons,
        records=records,
        policy=policy,
    )


def learner_enrollment_status(*, user_id: UUID, course: Course) -> str | None:
    return (
        Enrollment.objects.filter(user_id=user_id, course=course)
        .values_list("status", flat=True)
        .first()
    )


class DashboardCourse(NamedTuple):
    title: str
    slug: str


class DashboardEnrollment(NamedTuple):
    """The few enrollment and course columns the dashboard shows, read as one tuple per row."""

    id: UUID
    status: str
    enrolled_at: datetime
    course_id: UUID
    course: DashboardCourse


class DashboardEntry(NamedTuple):
    enrollment: DashboardEnrollment
    progress: CourseSummary


def dashboard(*, user, policy: ledger.Policy) -> list[DashboardEntry]:
    """Every enrollment holding a seat (active or completed) in a course the user can still
    open, newest first, with its progress: 2 queries and 1 store read in all.

    Built for a hot path: the rows are read as tuples (no model instances), and only the
    figures the dashboard shows are computed (no per-lesson states) from the records' summaries
    (`ProgressSummary`: the store reads five columns instead of twelve)."""
    rows = (
        Enrollment.objects.filter(
            user=user,
            status__in=SEAT_HOLDING,
            course__in=Course.objects.visible_to(user).values("pk"),
        )
        .order_by("-enrolled_at", "id")
        .values_list("id", "status", "enrolled_at", "course_id", "course__title", "course__slug")
    )
    enrollments = [
        DashboardEnrollment(pk, status, enrolled_at, course_id, DashboardCourse(title, slug))
        for pk, status, enrolled_at, course_id, title, slug in rows
    ]
    course_ids = [enrollment.course_id for enrollment in enrollments]
    lessons = course_lessons(course_ids=course_ids)
    records = repository.get_progress_repository().summaries_for_user(
        user_id=user.pk, course_ids=course_ids
    )
    by_course: dict[UUID, list[ProgressSummary]] = {course_id: [] for course_id in course_ids}
    for record in records:
        by_course.setdefault(record.course_id, []).append(record)
    entries = []
    for enrollment in enrollments:
        course_refs = lessons[enrollment.course_id]
        by_lesson = _by_lesson(course_refs, by_course[enrollment.course_id])
        entries.append(DashboardEntry(enrollment, _summary(course_refs, by_lesson, policy)))
    return entries


# --- History ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    record: ProgressRecord
    lesson_title: str | None
    lesson_kind: str | None
    course_title: str | None


class History:
    """The user's lesson activity, newest first, as a sliceable sequence for the paginator:
    `count()` and each page are one store call, plus one query for the page's titles."""

    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.store = repository.get_progress_repository()

    def count(self) -> int:
        return self.store.count_for_user(user_id=self.user_id)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item: slice) -> list[HistoryEntry]:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("History supports contiguous slices only.")
        start = item.start or 0
        stop = item.stop if item.stop is not None else start
        records = self.store.recent_for_user(
            user_id=self.user_id, offset=start, limit=max(0, stop - start)
        )
        titles = {
            row["id"]: row
            for row in Lesson.objects.filter(id__in=[r.lesson_id for r in records]).values(
                "id", "title", "kind", "course__title"
            )
        }
        return [
            HistoryEntry(
                record=record,
                lesson_title=titles.get(record.lesson_id, {}).get("title"),
                lesson_kind=titles.get(record.lesson_id, {}).get("kind"),
                course_title=titles.get(record.lesson_id, {}).get("course__title"),
            )
            for record in records
        ]


# --- Analytics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonAnalytics:
    lesson: LessonRef
    started: int
    completed: int
    median_coverage: float | None


@dataclass(frozen=True)
class CourseAnalytics:
    course: Course
    enrollments: int
    completed_enrollments: int
    completion_rate: float
    active_learners_7d: int
    lessons: list[LessonAnalytics]


def course_analytics(*, course: Course, now: datetime | None = None) -> CourseAnalytics:
    """Enrollment counts (seat-holding enrollments), learners active in the last 7 days and
    per-lesson figures, all aggregated by the database and the store: 2 queries, 2 store
    calls (plus, on MongoDB, two small reads per lesson for its median)."""
    now = now or timezone.now()
    seats = Enrollment.objects.filter(course=course, status__in=SEAT_HOLDING)
    counts = seats.aggregate(
        total=Count("id"), completed=Count("id", filter=Q(status=EnrollmentStatus.COMPLETED))
    )
    lessons = course_lessons(course_ids=[course.pk])[course.pk]
    store = repository.get_progress_repository()
    stats = store.lesson_stats(lesson_ids=[lesson.id for lesson in lessons])
    total, completed = counts["total"], counts["completed"]
    return CourseAnalytics(
        course=course,
        enrollments=total,
        completed_enrollments=completed,
        completion_rate=round(completed / total, 4) if total else 0.0,
        active_learners_7d=store.active_learners(course_id=course.pk, since=now - ACTIVE_WINDOW),
        lessons=[
            LessonAnalytics(
                lesson=lesson,
                started=stats[lesson.id].started if lesson.id in stats else 0,
                completed=stats[lesson.id].completed if lesson.id in stats else 0,
                median_coverage=stats[lesson.id].median_coverage if lesson.id in stats else None,
            )
            for lesson in lessons
        ],
    )


@dataclass(frozen=True)
class RetentionBucket:
    start: float
    end: float
    viewers: int
    share: float


@dataclass(frozen=True)
class RetentionReport:
    lesson: LessonRef
    bucket_seconds: int
    viewers: int
    buckets: list[RetentionBucket]


def lesson_retention(*, lesson: Lesson) -> RetentionReport:
    """The drop-off curve of a video: per 5-second bucket, the share of the lesson's viewers
    (learners with any watched second) whose watched intervals cover the bucket's midpoint."""
    ref = LessonRef.of(lesson)
    size = ledger.BUCKET_SECONDS
    retention = repository.get_progress_repository().retention(
        lesson_id=lesson.pk, duration=ref.duration
    )
    buckets = [
        RetentionBucket(
            start=float(index * size),
            end=float(min((index + 1) * size, ref.duration)),
            viewers=count,
            share=round(count / retention.viewers, 4) if retention.viewers else 0.0,
        )
        for index, count in enumerate(retention.buckets)
    ]
    return RetentionReport(
        lesson=ref, bucket_seconds=size, viewers=retention.viewers, buckets=buckets
    )
