"""The SQL progress store: one row per (learner, lesson) and its watched intervals as child rows.

These tables are the embedded default behind `progress.repository.SqlProgressRepository`; with
`MONGO_URL` set the same records live in MongoDB instead and these tables stay empty. Nothing
outside `progress.repository` reads or writes them directly (the admin only lists them).

Ids of users, courses and lessons are plain UUID columns, not foreign keys: the store must work
the same way whether it shares the relational database or not. Erasing a user or a lesson is done
by receivers (`progress.receivers`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class LessonProgress(models.Model):
    """What one learner has done in one lesson.

    `watched_seconds` is the measure of the union of the watched intervals (rows of
    `WatchedInterval`), clamped to `duration`; `coverage` is `watched_seconds / duration` (1.0 for
    a completed text or document lesson). `sessions` holds, per playback session (at most a few),
    the highest heartbeat sequence number applied, a bitmask of the recent ones below it and the
    time of its last heartbeat: bounded, whatever the history.
    """

    user_id = models.UUIDField()
    course_id = models.UUIDField()
    lesson_id = models.UUIDField()
    duration = models.FloatField(default=0)
    watched_seconds = models.FloatField(default=0)
    coverage = models.FloatField(default=0)
    position = models.FloatField(default=0)
    completed = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    sessions = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at", "id"]
        verbose_name = "lesson progress"
        verbose_name_plural = "lesson progress"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "lesson_id"], name="progress_user_lesson"),
            models.CheckConstraint(
                condition=Q(watched_seconds__gte=0) & Q(coverage__gte=0) & Q(coverage__lte=1),
                name="progress_amounts_valid",
            ),
            models.CheckConstraint(condition=Q(position__gte=0), name="progress_position_valid"),
        ]
        indexes = [
            models.Index(fields=["user_id", "-updated_at"], name="progress_user_recent_idx"),
            models.Index(fields=["course_id", "user_id"], name="progress_course_user_idx"),
            models.Index(fields=["lesson_id", "coverage"], name="progress_lesson_cov_idx"),
            models.Index(fields=["course_id", "updated_at"], name="progress_course_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.lesson_id}: {self.coverage:.0%}"


class WatchedInterval(models.Model):
    """One maximal watched stretch `[start, end)` of a lesson's media, in seconds.

    The intervals of one `LessonProgress` are disjoint and never touch (touching ones are merged).
    `lesson_id` is copied from the parent so the retention curve aggregates over one index.
    """

    progress = models.ForeignKey(LessonProgress, on_delete=models.CASCADE, related_name="intervals")
    lesson_id = models.UUIDField()
    start = models.FloatField()
    end = models.FloatField()

    class Meta:
        ordering = ["progress_id", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__gte=0) & Q(end__gt=models.F("start")),
                name="interval_bounds_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["progress", "start"], name="interval_progress_start_idx"),
            models.Index(fields=["lesson_id", "start"], name="interval_lesson_start_idx"),
            models.Index(fields=["lesson_id", "end"], name="interval_lesson_end_idx"),
        ]

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"
