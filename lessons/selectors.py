"""Read helpers for modules and lessons: visibility follows the course, bodies follow access."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import F, QuerySet

from courses.models import Course
from eduflow.core.permissions import is_admin
from enrollments.selectors import course_ids_with_access

from .models import Lesson, Module


def _visible_course_ids(user) -> QuerySet:
    return Course.objects.visible_to(user).values("pk")


def module_list(*, user) -> QuerySet[Module]:
    """Modules of the courses the user can see (drafts only for their owner and admins)."""
    return Module.objects.filter(course__in=_visible_course_ids(user))


def lesson_list(*, user) -> QuerySet[Lesson]:
    """Lessons of the courses the user can see, with the course owner's id annotated.

    `course_instructor_id` lets `LessonAccess` decide per row without loading the course.
    """
    return Lesson.objects.filter(course__in=_visible_course_ids(user)).annotate(
        course_instructor_id=F("course__instructor_id")
    )


def lesson_get(*, pk) -> Lesson:
    return Lesson.objects.annotate(course_instructor_id=F("course__instructor_id")).get(pk=pk)


@dataclass
class LessonAccess:
    """Whether one user may read lesson bodies, decided for many lessons with one query.

    Bodies are open to admins, the course's instructor, learners holding a seat in the course
    (see `enrollments.selectors.course_ids_with_access`), and for preview lessons to everyone.
    """

    user: Any
    _admin: bool = field(init=False)

    def __post_init__(self) -> None:
        self._admin = is_admin(self.user)

    @cached_property
    def _seat_course_ids(self) -> set:
        return course_ids_with_access(user=self.user)

    def can_read_body(self, lesson: Lesson) -> bool:
        if lesson.is_preview or self._admin:
            return True
        if not getattr(self.user, "is_authenticated", False):
            return False
        instructor_id = getattr(lesson, "course_instructor_id", None)
        if instructor_id is None:
            instructor_id = lesson.course.instructor_id
        if instructor_id == self.user.pk:
            return True
        return lesson.course_id in self._seat_course_ids


def course_outline(*, course: Course) -> dict[str, list[dict[str, Any]]]:
    """The course's structure in order: modules with their lessons, then lessons in no module."""
    modules = list(Module.objects.filter(course=course).order_by("position", "id"))
    lessons = Lesson.objects.filter(course=course).order_by("position", "id")
    by_module: dict[Any, list[dict[str, Any]]] = {module.pk: [] for module in modules}
    root: list[dict[str, Any]] = []
    for lesson in lessons.values("id", "title", "position", "module_id"):
        item = {"id": lesson["id"], "title": lesson["title"], "position": lesson["position"]}
        (root if lesson["module_id"] is None else by_module[lesson["module_id"]]).append(item)
    return {
        "modules": [
            {
                "id": module.pk,
                "title": module.title,
                "position": module.position,
                "lessons": by_module[module.pk],
            }
            for module in modules
        ],
        "lessons": root,
    }


def lesson_asset_access(*, user, asset) -> bool | None:
    """May `user` read the media file `asset` because of a lesson using it?

    The media app's access check for downloads (registered in LessonsConfig.ready()): True when
    the user may read the body of a lesson using the asset, False when they can see such a
    lesson but not its body, None when no lesson using it is visible to them.
    """
    lessons = list(lesson_list(user=user).filter(asset_id=asset.pk))
    if not lessons:
        return None
    access = LessonAccess(user=user)
    return any(access.can_read_body(lesson) for lesson in lessons)
