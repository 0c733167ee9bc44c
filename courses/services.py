"""Every change to categories and courses.

Services check who may act (the API and the admin both call them), lock the course row for
state changes, and raise problem errors with stable codes:

- 403 `permission_denied`: the actor may not change this course or category;
- 403 `cannot_assign_instructor`: a non-admin tried to give a course to someone else;
- 409 `category_in_use`, `course_has_no_lessons`, `course_has_enrollments`;
- 400 `validation_error` (Django `ValidationError` with field names) for bad values, including
  a `thumbnail` that is not a ready image asset of the course's instructor (admins may use any
  image asset).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from eduflow.core.exceptions import Conflict, Forbidden
from eduflow.core.permissions import can_author, is_admin
from media.models import AssetKind, MediaAsset
from media.services import asset_lock_for_attachment

from .models import Category, Course, CourseStatus, Difficulty
from .selectors import course_is_editable_by


class _Unset:
    """Marks a keyword argument the caller did not pass (None is a real value for some)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()

_SLUG_ATTEMPTS = 5


# --- slugs ------------------------------------------------------------------------------------


def unique_slug(
    *, model: type[models.Model], text: str, fallback: str, exclude_pk: Any = None
) -> str:
    """A slug from `text` that no other row of `model` uses: `intro`, `intro-2`, `intro-3` ...

    Text without any ASCII letters or digits falls back to `fallback`. One query.
    """
    max_length = model._meta.get_field("slug").max_length
    base = slugify(text)[: max_length - 8].strip("-") or fallback
    taken = set(
        model.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def _ensure_slug_free(*, model: type[models.Model], slug: str, exclude_pk: Any = None) -> None:
    if model.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():
        label = model._meta.verbose_name
        raise ValidationError({"slug": [f"A {label} with this slug already exists."]})


def _save_new_with_slug(instance: Category | Course, *, text: str, fallback: str) -> None:
    """Insert a row whose slug is generated, retrying if a concurrent insert took that slug."""
    model = type(instance)
    for attempt in range(_SLUG_ATTEMPTS):
        instance.slug = unique_slug(model=model, text=text, fallback=fallback)
        try:
            with transaction.atomic():
                instance.save(force_insert=True)
            return
        except IntegrityError:
            if (
                attempt == _SLUG_ATTEMPTS - 1
                or not model.objects.filter(slug=instance.slug).exists()
            ):
                raise


# --- categories -----------------------------------------------------------------------------


def _ensure_admin(actor: User) -> None:
    if not is_admin(actor):
        raise Forbidden("Only administrators can change categories.")


@transaction.atomic
def category_create(*, actor: User, name: str, slug: str = "") -> Category:
    _ensure_admin(actor)
    category = Category(name=name)
    if slug:
        _ensure_slug_free(model=Category, slug=slug)
        category.slug = slug
        category.save(force_insert=True)
    else:
        _save_new_with_slug(category, text=name, fallback="category")
    return category


@transaction.atomic
def category_update(
    *, actor: User, category: Category, name: str = UNSET, slug: str = UNSET
) -> Category:
    """Rename a category or change its slug. Renaming keeps the slug (links stay valid)."""
    _ensure_admin(actor)
    category = Category.objects.select_for_update().get(pk=category.pk)
    changed: list[str] = []
    if name is not UNSET and name != category.name:
        category.name = name
        changed.append("name")
    if slug is not UNSET and slug and slug != category.slug:
        _ensure_slug_free(model=Category, slug=slug, exclude_pk=category.pk)
        category.slug = slug
        changed.append("slug")
    if changed:
        category.save(update_fields=[*changed, "updated_at"])
    return category


@transaction.atomic
def category_delete(*, actor: User, category: Category) -> None:
    _ensure_admin(actor)
    category = Category.objects.select_for_update().get(pk=category.pk)
    in_use = Conflict(
        "Courses are filed under this category; move them to another category first.",
        code="category_in_use",
    )
    if category.courses.exists():
        raise in_use
    try:
        with transaction.atomic():
            category.delete()
    except ProtectedError as exc:
        raise in_use from exc


# --- courses --------------------------------------------------------------------------------


def _lock_course(course: Course) -> Course:
    return Course.objects.select_for_update().get(pk=course.pk)


def _ensure_can_edit(actor: User, course: Course) -> None:
    if not course_is_editable_by(user=actor, course=course):
        raise Forbidden("Only the course's instructor or an administrator can change it.")


def _resolve_instructor(*, actor: User, instructor: User | None) -> User:
    """The owner of a new or reassigned course, after checking the actor may choose it."""
    if instructor is None or instructor.pk == actor.pk:
        instructor = actor
    elif not is_admin(actor):
        raise Forbidden(
            "Only administrators can assign a course to another instructor.",
            code="cannot_assign_instructor",
        )
    if not (instructor.is_active and can_author(instructor)):
        raise ValidationError(
            {"instructor": ["Choose an active instructor or administrator account."]}
        )
    return instructor


@transaction.atomic
def course_create(
    *,
    actor: User,
    title: str,
    slug: str = "",
    subtitle: str = "",
    description: str = "",
    category: Category | None = None,
    difficulty: str = Difficulty.BEGINNER,
    language: str = "en",
    price: Decimal = Decimal("0.00"),
    currency: str = "USD",
    capacity: int | None = None,
    instructor: User | None = None,
    thumbnail: MediaAsset | None = None,
) -> Course:
    """Create a draft course owned by `instructor` (default: the actor)."""
    if not can_author(actor):
        raise Forbidden("Only instructors and administrators can create courses.")
    owner = _resolve_instructor(actor=actor, instructor=instructor)
    course = Course(
        title=title,
        subtitle=subtitle,
        description=description,
        category=category,
        difficulty=difficulty,
        language=language,
        price=price,
        currency=currency,
        capacity=capacity,
        instructor=owner,
        thumbnail=_checked_thumbnail(actor=actor, owner_id=owner.pk, thumbnail=thumbnail),
        status=CourseStatus.DRAFT,
    )
    if slug:
        _ensure_slug_free(model=Course, slug=slug)
        course.slug = slug
        course.save(force_insert=True)
    else:
        _save_new_with_slug(course, text=title, fallback="course")
    return course


def _checked_thumbnail(
    *, actor: User, owner_id: Any, thumbnail: MediaAsset | None
) -> MediaAsset | None:
    """The thumbnail asset, locked until commit (so it cannot be deleted meanwhile) and checked:
    a ready image of the course's instructor, or any image when the actor is an admin."""
    if thumbnail is None:
        return None
    return asset_lock_for_attachment(
        actor=actor,
        owner_id=owner_id,
        asset=thumbnail,
        kinds={AssetKind.IMAGE},
        field="thumbnail",
        require_ready=True,
    )


_COURSE_PLAIN_FIELDS = (
    "title",
    "subtitle",
    "description",
    "category",
    "difficulty",
    "language",
    "price",
    "currency",
    "capacity",
)


@transaction.atomic
def course_update(
    *,
    actor: User,
    course: Course,
    title: str = UNSET,
    slug: str = UNSET,
    subtitle: str = UNSET,
    description: str = UNSET,
    category: Category | None = UNSET,
    difficulty: str = UNSET,
    language: str = UNSET,
    price: Decimal = UNSET,
    currency: str = UNSET,
    capacity: int | None = UNSET,
    instructor: User = UNSET,
    thumbnail: MediaAsset | None = UNSET,
) -> Course:
    """Change a course's catalog data. Status and publication date change only by actions.

    A new title keeps the slug; an empty slug means "keep the current one". `thumbnail=None`
    removes the thumbnail (the asset itself stays).
    """
    course = _lock_course(course)
    _ensure_can_edit(actor, course)
    values = {
        "title": title,
        "subtitle": subtitle,
        "description": description,
        "category": category,
        "difficulty": difficulty,
        "language": language,
        "price": price,
        "currency": currency,
        "capacity": capacity,
    }
    changed: list[str] = []
    for field in _COURSE_PLAIN_FIELDS:
        value = values[field]
        if value is not UNSET and getattr(course, field) != value:
            setattr(course, field, value)
            changed.append(field)
    if slug is not UNSET and slug and slug != course.slug:
        _ensure_slug_free(model=Course, slug=slug, exclude_pk=course.pk)
        course.slug = slug
        changed.append("slug")
    if instructor is not UNSET and instructor.pk != course.instructor_id:
        if not is_admin(actor):
            raise Forbidden(
                "Only administrators can assign a course to another instructor.",
                code="cannot_assign_instructor",
            )
        course.instructor = _resolve_instructor(actor=actor, instructor=instructor)
        changed.append("instructor")
    if thumbnail is not UNSET and (thumbnail.pk if thumbnail else None) != course.thumbnail_id:
        course.thumbnail = _checked_thumbnail(
            actor=actor, owner_id=course.instructor_id, thumbnail=thumbnail
        )
        changed.append("thumbnail")
    if changed:
        course.save(update_fields=[*changed, "updated_at"])
    return course


@transaction.atomic
def course_publish(*, actor: User, course: Course) -> Course:
    """Draft or archived → published. Needs at least one lesson; publishing again is a no-op."""
    course = _lock_course(course)
    _ensure_can_edit(actor, course)
    if course.status == CourseStatus.PUBLISHED:
        return course
    if not course.lessons.exists():
        raise Conflict(
            "A course needs at least one lesson before it can be published.",
            code="course_has_no_lessons",
        )
    course.status = CourseStatus.PUBLISHED
    fields = ["status", "updated_at"]
    if course.published_at is None:
        course.published_at = timezone.now()
        fields.append("published_at")
    course.save(update_fields=fields)
    return course


@transaction.atomic
def course_archive(*, actor: User, course: Course) -> Course:
    """Any status → archived (hidden from the catalog). Archiving again is a no-op."""
    course = _lock_course(course)
    _ensure_can_edit(actor, course)
    if course.status != CourseStatus.ARCHIVED:
        course.status = CourseStatus.ARCHIVED
        course.save(update_fields=["status", "updated_at"])
    return course


@transaction.atomic
def course_delete(*, actor: User, course: Course) -> None:
    """Delete a course nobody ever enrolled in (with its modules and lessons)."""
    course = _lock_course(course)
    _ensure_can_edit(actor, course)
    if course.enrollments.exists():
        raise Conflict(
            "Learners have enrolled in this course; archive it instead of deleting it.",
            code="course_has_enrollments",
        )
    course.delete()
