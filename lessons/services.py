"""Every change to modules and lessons, keeping positions 1-based and gap-free.

A module's siblings are the modules of its course; a lesson's siblings are the lessons of its
module, or the course's lessons outside any module. Every write:

- runs in one transaction with the course rows involved locked (`select_for_update`), so
  concurrent edits of one course queue up instead of computing positions from stale data;
- checks that the actor may edit every course involved (403 `permission_denied` otherwise);
- moves positions in two phases (first out of the way by `_OFFSET`, then to their final
  values), so the unique (parent, position) constraints never see two rows on one position.

Positions asked for beyond the end are clamped to the end; no position means "append".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeVar
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from courses.selectors import course_is_editable_by
from eduflow.core.exceptions import Conflict, Forbidden
from media.models import AssetKind, AssetStatus, MediaAsset
from media.services import asset_lock_for_attachment

from .models import Lesson, LessonKind, Module


class _Unset:
    """Marks a keyword argument the caller did not pass (None is a real value for `module`)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()
_Row = TypeVar("_Row", Module, Lesson)

# Rows being shifted pass through [_OFFSET, _PARKED); the row being moved waits at _PARKED.
# Both stay inside a 32-bit positive integer, the column type on every supported database.
_OFFSET: Final = 1_000_000
_PARKED: Final = 2_000_000_000
_LOCK_ATTEMPTS: Final = 3


# --- locking and positions ---------------------------------------------------------------


def _lock_courses(*, actor: User, course_ids: Iterable[Any]) -> dict[Any, Course]:
    """Lock the course rows (in id order, so two writers never wait on each other in a cycle)
    and check the actor may edit each of them."""
    courses = {
        course.pk: course
        for course in Course.objects.select_for_update()
        .filter(pk__in=set(course_ids))
        .order_by("pk")
    }
    for course in courses.values():
        if not course_is_editable_by(user=actor, course=course):
            raise Forbidden("Only the course's instructor or an administrator can change it.")
    return courses


def _lock_with_course(*, actor: User, model: type[_Row], pk: Any, also: Iterable[Any] = ()) -> _Row:
    """Lock the course that holds row `pk` (plus the courses in `also`), then the row itself."""
    for _ in range(_LOCK_ATTEMPTS):
        course_id = model.objects.filter(pk=pk).values_list("course_id", flat=True).get()
        _lock_courses(actor=actor, course_ids=[course_id, *also])
        row = model.objects.select_for_update().get(pk=pk)
        if row.course_id == course_id:
            return row
    raise Conflict(
        "The item moved while this change was made; try again.", code="concurrent_update"
    )


def _module_siblings(course_id: Any) -> models.QuerySet[Module]:
    return Module.objects.filter(course_id=course_id)


def _lesson_siblings(course_id: Any, module_id: Any) -> models.QuerySet[Lesson]:
    if module_id is None:
        return Lesson.objects.filter(course_id=course_id, module__isnull=True)
    return Lesson.objects.filter(module_id=module_id)


def _shift(siblings: models.QuerySet, *, start: int, delta: int) -> None:
    """Move the siblings at `start` and after by `delta` (+1 opens a slot, -1 closes a gap)."""
    if siblings.filter(position__gte=start, position__lt=_OFFSET).update(
        position=F("position") + _OFFSET
    ):
        siblings.filter(position__gte=_OFFSET, position__lt=_PARKED).update(
            position=F("position") - _OFFSET + delta
        )


def _open_slot(siblings: models.QuerySet, requested: int | None) -> int:
    """Make room at `requested` (clamped to 1..end; None appends) and return that position."""
    end = siblings.filter(position__lt=_OFFSET).count() + 1
    position = end if requested is None else max(1, min(requested, end))
    _shift(siblings, start=position, delta=1)
    return position


def _park(row: Module | Lesson, siblings: models.QuerySet) -> None:
    """Take `row` out of its siblings' order and close the gap it leaves."""
    old_position = row.position
    type(row).objects.filter(pk=row.pk).update(position=_PARKED)
    _shift(siblings, start=old_position + 1, delta=-1)


def _apply_order(siblings: models.QuerySet, ids: Sequence[UUID], *, field: str) -> None:
    current = set(siblings.values_list("pk", flat=True))
    if len(ids) != len(set(ids)) or set(ids) != current:
        raise ValidationError(
            {field: ["List every current item of this parent exactly once, in the new order."]}
        )
    if not ids:
        return
    siblings.update(position=F("position") + _OFFSET)
    siblings.update(
        position=Case(
            *[When(pk=pk, then=Value(index)) for index, pk in enumerate(ids, start=1)],
            output_field=models.PositiveIntegerField(),
        )
    )


# --- modules ---------------------------------------------------------------------------------


@transaction.atomic
def module_create(
    *, actor: User, course: Course, title: str, position: int | None = None
) -> Module:
    """Add a module to a course: appended, or inserted at `position`."""
    _lock_courses(actor=actor, course_ids=[course.pk])
    slot = _open_slot(_module_siblings(course.pk), position)
    return Module.objects.create(course_id=course.pk, title=title, position=slot)


@transaction.atomic
def module_update(
    *,
    actor: User,
    module: Module,
    title: str = UNSET,
    course: Course = UNSET,
    position: int = UNSET,
) -> Module:
    """Rename, reorder, or move a module (with its lessons) to another course the actor edits."""
    also = [] if course is UNSET else [course.pk]
    module = _lock_with_course(actor=actor, model=Module, pk=module.pk, also=also)
    changed: list[str] = []
    if title is not UNSET and title != module.title:
        module.title = title
        changed.append("title")
    target_course_id = module.course_id if course is UNSET else course.pk
    moves_course = target_course_id != module.course_id
    if moves_course or (position is not UNSET and position != module.position):
        _park(module, _module_siblings(module.course_id))
        module.position = _open_slot(
            _module_siblings(target_course_id), None if position is UNSET else position
        )
        changed.append("position")
        if moves_course:
            module.course_id = target_course_id
            changed.append("course")
            Lesson.objects.filter(module_id=module.pk).update(course_id=target_course_id)
    if changed:
        module.save(update_fields=[*changed, "updated_at"])
    return module


@transaction.atomic
def module_delete(*, actor: User, module: Module) -> None:
    """Delete a module and the lessons in it; later modules move up."""
    module = _lock_with_course(actor=actor, model=Module, pk=module.pk)
    course_id, position = module.course_id, module.position
    module.delete()
    _shift(_module_siblings(course_id), start=position + 1, delta=-1)


@transaction.atomic
def course_reorder_modules(*, actor: User, course: Course, module_ids: Sequence[UUID]) -> None:
    """Put the course's modules in the given order (the list must name each exactly once)."""
    _lock_courses(actor=actor, course_ids=[course.pk])
    _apply_order(_module_siblings(course.pk), module_ids, field="modules")


# --- lessons ---------------------------------------------------------------------------------

# The kind of asset each lesson kind takes; text lessons take none.
_ASSET_KIND_FOR_LESSON: Final = {
    LessonKind.VIDEO: AssetKind.VIDEO,
    LessonKind.DOCUMENT: AssetKind.DOCUMENT,
}


def _checked_asset(
    *, actor: User, instructor_id: Any, kind: str, asset: MediaAsset | None, field: str
) -> MediaAsset | None:
    """The lesson's asset, locked until commit (so it cannot be deleted meanwhile) and checked:
    its kind matches the lesson's (video or document; text lessons have none), it belongs to
    the course's instructor (admins: any), and it has not failed processing. Problems are a
    400 on `field`."""
    if asset is None:
        return None
    wanted = _ASSET_KIND_FOR_LESSON.get(kind)
    if wanted is None:
        raise ValidationError(
            {field: [f"A {kind} lesson has no media asset: remove the asset or change the kind."]}
        )
    return asset_lock_for_attachment(
        actor=actor,
        owner_id=instructor_id,
        asset=asset,
        kinds={wanted},
        field=field,
        require_ready=False,
    )


def _measured_duration(asset: MediaAsset | None) -> int:
    """Whole seconds measured from a ready video (0 when unknown): the duration a lesson takes
    when its instructor gives none. Videos still processing fill it in when they become ready
    (see `lessons_fill_duration_from_asset`)."""
    if asset is None or asset.kind != AssetKind.VIDEO or asset.status != AssetStatus.READY:
        return 0
    try:
        seconds = float((asset.metadata or {}).get("duration") or 0)
    except (TypeError, ValueError):
        return 0
    return max(1, int(seconds + 0.5)) if seconds > 0 else 0


def _check_module_in_course(module_id: Any, course_id: Any) -> None:
    if (
        module_id is not None
        and not Module.objects.filter(pk=module_id, course_id=course_id).exists()
    ):
        raise ValidationError({"module": ["The module must belong to the lesson's course."]})


@transaction.atomic
def lesson_create(
    *,
    actor: User,
    course: Course,
    title: str,
    module: Module | None = None,
    kind: str = LessonKind.TEXT,
    body: str = "",
    duration_seconds: int = 0,
    position: int | None = None,
    is_preview: bool = False,
    asset: MediaAsset | None = None,
) -> Lesson:
    """Add a lesson to a module (or to the course outside any module): appended or inserted."""
    locked = _lock_courses(actor=actor, course_ids=[course.pk])
    module_id = None if module is None else module.pk
    _check_module_in_course(module_id, course.pk)
    asset = _checked_asset(
        actor=actor,
        instructor_id=locked[course.pk].instructor_id,
        kind=kind,
        asset=asset,
        field="asset",
    )
    if not duration_seconds:
        duration_seconds = _measured_duration(asset)
    slot = _open_slot(_lesson_siblings(course.pk, module_id), position)
    return Lesson.objects.create(
        course_id=course.pk,
        module_id=module_id,
        title=title,
        kind=kind,
        body=body,
        duration_seconds=duration_seconds,
        position=slot,
        is_preview=is_preview,
        asset=asset,
    )


_LESSON_PLAIN_FIELDS = ("title", "kind", "body", "duration_seconds", "is_preview")


@transaction.atomic
def lesson_update(
    *,
    actor: User,
    lesson: Lesson,
    course: Course = UNSET,
    module: Module | None = UNSET,
    title: str = UNSET,
    kind: str = UNSET,
    body: str = UNSET,
    duration_seconds: int = UNSET,
    position: int = UNSET,
    is_preview: bool = UNSET,
    asset: MediaAsset | None = UNSET,
) -> Lesson:
    """Change a lesson; a new `module` or `course` moves it there (appended, or at `position`).

    Moving to another course without naming a module puts the lesson outside any module.
    `asset=None` detaches the asset (the asset itself stays). A new kind must suit the asset
    the lesson keeps.
    """
    also = [] if course is UNSET else [course.pk]
    lesson = _lock_with_course(actor=actor, model=Lesson, pk=lesson.pk, also=also)
    target_course_id = lesson.course_id if course is UNSET else course.pk
    if module is not UNSET:
        target_module_id = None if module is None else module.pk
    elif target_course_id != lesson.course_id:
        target_module_id = None
    else:
        target_module_id = lesson.module_id
    _check_module_in_course(target_module_id, target_course_id)

    changed: list[str] = []
    target_kind = lesson.kind if kind is UNSET else kind
    target_asset_id = lesson.asset_id if asset is UNSET else (asset.pk if asset else None)
    checked = None
    if target_asset_id is not None and (
        asset is not UNSET or target_kind != lesson.kind or target_course_id != lesson.course_id
    ):
        instructor_id = Course.objects.filter(pk=target_course_id).values_list(
            "instructor_id", flat=True
        )[0]
        checked = _checked_asset(
            actor=actor,
            instructor_id=instructor_id,
            kind=target_kind,
            asset=MediaAsset(pk=target_asset_id),
            field="asset" if asset is not UNSET else "kind",
        )
    if target_asset_id != lesson.asset_id:
        lesson.asset_id = target_asset_id
        changed.append("asset")
    values = {
        "title": title,
        "kind": kind,
        "body": body,
        "duration_seconds": duration_seconds,
        "is_preview": is_preview,
    }
    for name in _LESSON_PLAIN_FIELDS:
        value = values[name]
        if value is not UNSET and getattr(lesson, name) != value:
            setattr(lesson, name, value)
            changed.append(name)
    if "asset" in changed and not lesson.duration_seconds and _measured_duration(checked):
        lesson.duration_seconds = _measured_duration(checked)
        if "duration_seconds" not in changed:
            changed.append("duration_seconds")

    moves_parent = (target_course_id, target_module_id) != (lesson.course_id, lesson.module_id)
    if moves_parent or (position is not UNSET and position != lesson.position):
        _park(lesson, _lesson_siblings(lesson.course_id, lesson.module_id))
        lesson.position = _open_slot(
            _lesson_siblings(target_course_id, target_module_id),
            None if position is UNSET else position,
        )
        lesson.course_id = target_course_id
        lesson.module_id = target_module_id
        changed += ["position", "course", "module"]
    if changed:
        lesson.save(update_fields=[*changed, "updated_at"])
    return lesson


@transaction.atomic
def lesson_delete(*, actor: User, lesson: Lesson) -> None:
    """Delete a lesson; the lessons after it move up."""
    lesson = _lock_with_course(actor=actor, model=Lesson, pk=lesson.pk)
    siblings = _lesson_siblings(lesson.course_id, lesson.module_id)
    position = lesson.position
    lesson.delete()
    _shift(siblings, start=position + 1, delta=-1)


@transaction.atomic
def course_reorder_lessons(
    *, actor: User, course: Course, module_id: UUID | None, lesson_ids: Sequence[UUID]
) -> None:
    """Put the lessons of one module (or those outside any module) in the given order."""
    _lock_courses(actor=actor, course_ids=[course.pk])
    _check_module_in_course(module_id, course.pk)
    _apply_order(_lesson_siblings(course.pk, module_id), lesson_ids, field="lessons")


@transaction.atomic
def lessons_fill_duration_from_asset(*, asset_id: UUID, duration_seconds: int) -> int:
    """Set `duration_seconds` on the lessons using the asset whose duration is still unset (0).

    Called when a video finishes processing; a duration an instructor entered is kept. Returns
    how many lessons changed.
    """
    if duration_seconds <= 0:
        return 0
    return Lesson.objects.filter(asset_id=asset_id, duration_seconds=0).update(
        duration_seconds=duration_seconds, updated_at=timezone.now()
    )
