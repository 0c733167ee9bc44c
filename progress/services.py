"""Every change to learning progress: heartbeats, completing lessons, completing courses.

Who may record: a learner holding a seat in the course (active or completed enrollment). The
course's instructor and admins without a seat get previews: the state the heartbeat would give,
computed from what is stored, with nothing written (`recorded: false`). Anyone else gets 403
`not_enrolled`. Lessons the caller cannot see never reach these functions (the views answer them
like unknown ids).

When a lesson completes and every lesson of the course is completed, the enrollment is completed
through `enrollments.services.enrollment_complete`, which sends `enrollment_completed` once, on
commit. The check runs under a row lock on the enrollment, so two heartbeats completing the last
two lessons at once cannot both miss the other's completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from eduflow.core.exceptions import Conflict
from enrollments.models import Enrollment, EnrollmentStatus
from enrollments.services import enrollment_complete
from lessons.models import Lesson, LessonKind

from . import ledger, repository, selectors
from .ledger import Heartbeat
from .repository import ProgressRecord


def progress_policy() -> ledger.Policy:
    """The heartbeat rules from the PROGRESS_* settings."""
    return ledger.Policy(
        completion_ratio=settings.PROGRESS_VIDEO_COMPLETION,
        max_playback_rate=settings.PROGRESS_MAX_PLAYBACK_RATE,
        rate_slack_seconds=settings.PROGRESS_RATE_SLACK_SECONDS,
        resume_min_seconds=settings.PROGRESS_RESUME_MIN_SECONDS,
        end_seconds=settings.PROGRESS_END_SECONDS,
    )


@dataclass(frozen=True)
class HeartbeatResult:
    lesson: Lesson
    record: ProgressRecord
    recorded: bool  # False for previews by the course's instructor or an admin
    applied: bool  # False when this (session, seq) was already applied
    added_seconds: float
    trimmed_seconds: float
    course_completed: bool  # the caller's enrollment in the course is completed


@dataclass(frozen=True)
class CompletionResult:
    lesson: Lesson
    record: ProgressRecord
    recorded: bool
    newly_completed: bool
    course_completed: bool


def _require_video(lesson: Lesson) -> None:
    if lesson.kind != LessonKind.VIDEO:
        raise Conflict(
            "Heartbeats are for video lessons; complete this lesson with "
            "POST /api/v1/progress/lessons/{id}/complete/.",
            code="lesson_not_video",
        )
    if lesson.duration_seconds <= 0:
        raise Conflict(
            "This video's duration is not known yet, so progress cannot be measured.",
            code="lesson_duration_unknown",
        )


def _preview_record(
    *, user: User, lesson: Lesson, heartbeat: Heartbeat, now: datetime, policy: ledger.Policy
) -> tuple[ProgressRecord, ledger.LedgerResult]:
    store = repository.get_progress_repository()
    stored = store.get(user_id=user.pk, lesson_id=lesson.pk, with_intervals=True)
    duration = float(lesson.duration_seconds)
    state = ledger.LedgerState()
    if stored is not None:
        state = ledger.LedgerState(
            intervals=stored.intervals or (),
            watched_seconds=stored.watched_seconds,
            position=stored.position,
            completed=stored.completed,
        )
    # Nothing is stored between previews, so there is no previous heartbeat to measure the
    # wall-clock allowance from: previews are not limited.
    unlimited = replace(policy, rate_slack_seconds=math.inf)
    result = ledger.apply_heartbeat(
        state, heartbeat, duration=duration, now=now.timestamp(), policy=unlimited
    )
    record = ProgressRecord(
        user_id=user.pk,
        course_id=lesson.course_id,
        lesson_id=lesson.pk,
        duration=duration,
        watched_seconds=result.watched_seconds,
        coverage=result.coverage,
        position=result.position,
        completed=result.completed,
        completed_at=(stored.completed_at if stored and stored.completed else None)
        or (now if result.completed else None),
        started_at=stored.started_at if stored else now,
        updated_at=now,
    )
    return record, result


def heartbeat_access(*, user: User, lesson: Lesson) -> selectors.ProgressAccess:
    """Who `user` is in the lesson's course, from what the heartbeat serializer read with the
    lesson (`seat_status`, `course_instructor_id`); one query when the lesson came from
    elsewhere. 403 `not_enrolled` like `selectors.progress_access`."""
    if hasattr(lesson, "seat_status") and hasattr(lesson, "course_instructor_id"):
        return selectors.progress_access_from(
            user=user, instructor_id=lesson.course_instructor_id, seat_status=lesson.seat_status
        )
    return selectors.progress_access(user=user, course=lesson.course)


def heartbeat_record(
    *, user: User, lesson: Lesson, heartbeat: Heartbeat, now: datetime | None = None
) -> HeartbeatResult:
    """Apply one player heartbeat for `user` in the video `lesson` (see the module docstring
    for who records and who previews). 409 `lesson_not_video` / `lesson_duration_unknown`."""
    now = now or timezone.now()
    access = heartbeat_access(user=user, lesson=lesson)
    _require_video(lesson)
    policy = progress_policy()
    if not access.recording:
        record, result = _preview_record(
            user=user, lesson=lesson, heartbeat=heartbeat, now=now, policy=policy
        )
        return HeartbeatResult(
            lesson=lesson,
            record=record,
            recorded=False,
            applied=result.applied,
            added_seconds=result.added_seconds,
            trimmed_seconds=result.trimmed_seconds,
            course_completed=False,
        )
    store = repository.get_progress_repository()
    with transaction.atomic():
        outcome = store.record_heartbeat(
            user_id=user.pk,
            course_id=lesson.course_id,
            lesson_id=lesson.pk,
            duration=float(lesson.duration_seconds),
            heartbeat=heartbeat,
            policy=policy,
            now=now,
        )
        course_completed = _course_complete_if_done(
            user=user, course_id=lesson.course_id, access=access, check=outcome.newly_completed
        )
    return HeartbeatResult(
        lesson=lesson,
        record=outcome.record,
        recorded=True,
        applied=outcome.applied,
        added_seconds=outcome.added_seconds,
        trimmed_seconds=outcome.trimmed_seconds,
        course_completed=course_completed,
    )


def lesson_complete(*, user: User, lesson: Lesson, now: datetime | None = None) -> CompletionResult:
    """Complete a text or document lesson for `user`. Completing again changes nothing.

    Video lessons complete by watching: 409 `lesson_is_video`.
    """
    now = now or timezone.now()
    access = selectors.progress_access(user=user, course=lesson.course)
    if lesson.kind == LessonKind.VIDEO:
        raise Conflict(
            "Video lessons complete when enough of them has been watched.", code="lesson_is_video"
        )
    store = repository.get_progress_repository()
    if not access.recording:
        stored = store.get(user_id=user.pk, lesson_id=lesson.pk)
        record = ProgressRecord(
            user_id=user.pk,
            course_id=lesson.course_id,
            lesson_id=lesson.pk,
            duration=0.0,
            watched_seconds=0.0,
            coverage=1.0,
            position=0.0,
            completed=True,
            completed_at=stored.completed_at if stored and stored.completed else now,
            started_at=stored.started_at if stored else now,
            updated_at=now,
        )
        return CompletionResult(
            lesson=lesson,
            record=record,
            recorded=False,
            newly_completed=not (stored and stored.completed),
            course_completed=False,
        )
    with transaction.atomic():
        outcome = store.mark_completed(
            user_id=user.pk, course_id=lesson.course_id, lesson_id=lesson.pk, now=now
        )
        course_completed = _course_complete_if_done(
            user=user, course_id=lesson.course_id, access=access, check=outcome.newly_completed
        )
    return CompletionResult(
        lesson=lesson,
        record=outcome.record,
        recorded=True,
        newly_completed=outcome.newly_completed,
        course_completed=course_completed,
    )


def _course_complete_if_done(
    *, user: User, course_id, access: selectors.ProgressAccess, check: bool
) -> bool:
    """Complete the enrollment when every lesson of the course is completed; answer whether
    the enrollment is completed. Only counts (`check`) when a lesson has just completed."""
    if not check:
        return access.enrollment_status == EnrollmentStatus.COMPLETED
    # Serialize completion checks of this enrollment: the second of two concurrent heartbeats
    # waits here and then counts the first one's committed completion.
    enrollment = (
        Enrollment.objects.select_for_update().filter(user=user, course_id=course_id).first()
    )
    if enrollment is None or enrollment.status == EnrollmentStatus.CANCELLED:
        return False
    if enrollment.status == EnrollmentStatus.COMPLETED:
        return True
    lesson_ids = selectors.course_lesson_ids(course_id=course_id)
    store = repository.get_progress_repository()
    if not lesson_ids or store.count_completed(user_id=user.pk, lesson_ids=lesson_ids) < len(
        lesson_ids
    ):
        return False
    enrollment_complete(enrollment=enrollment)
    return True


def progress_erase_user(*, user_id) -> int:
    """Delete everything the progress store holds about a user (account deletion)."""
    return repository.get_progress_repository().erase_user(user_id=user_id)


def progress_erase_lesson(*, lesson_id) -> int:
    """Delete the progress records of a deleted lesson."""
    return repository.get_progress_repository().erase_lesson(lesson_id=lesson_id)
