"""Read helpers for categories and courses, shared by views, admin and other apps."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import Role, User
from eduflow.core.permissions import is_admin, is_instructor

from .models import Category, Course, CourseQuerySet

# `?ordering=` values of the course list and the order each stands for. Every order ends in
# `id` so pages never overlap or skip rows.
COURSE_ORDERINGS: dict[str, tuple] = {
    "newest": (F("published_at").desc(nulls_last=True), F("created_at").desc(), "id"),
    "title": ("title", "id"),
    "-title": ("-title", "id"),
    "price": ("price", "id"),
    "-price": ("-price", "id"),
}
DEFAULT_COURSE_ORDERING = "newest"


# What a catalog answer shows of a course and its relations (never, say, the owner's password).
CATALOG_FIELDS = (
    *(
        field.name
        for field in Course._meta.concrete_fields
        if field.name not in ("category", "instructor", "thumbnail")
    ),
    "category_id",
    "instructor_id",
    "thumbnail_id",
    "category__id",
    "category__name",
    "category__slug",
    "instructor__id",
    "instructor__username",
    "instructor__full_name",
)


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


def course_with_stats(queryset: CourseQuerySet | None = None) -> CourseQuerySet:
    """Courses with their category and instructor joined and lesson totals annotated.

    `lesson_count` and `total_duration_seconds` come from one aggregate over the reverse
    `lessons` relation, so a page of courses costs one query whatever its size.
    """
    queryset = Course.objects.all() if queryset is None else queryset
    return (
        queryset.select_related("category", "instructor")
        .only(*CATALOG_FIELDS)
        .annotate(
            lesson_count=Count("lessons"),
            total_duration_seconds=Coalesce(Sum("lessons__duration_seconds"), 0),
        )
    )


def course_list(*, user) -> CourseQuerySet:
    """Courses the user may see (published; own drafts for instructors; all for admins)."""
    return course_with_stats(Course.objects.visible_to(user)).order_by(
        *COURSE_ORDERINGS[DEFAULT_COURSE_ORDERING]
    )


def course_page_source(*, user) -> CourseQuerySet:
    """`course_list` without the lesson totals, for paging: see `attach_lesson_stats`.

    Counting and slicing a page then touch only the course table (with its indexes), so a deep
    page costs what the first one does instead of aggregating every visible course's lessons.
    """
    return (
        Course.objects.visible_to(user)
        .select_related("category", "instructor")
        .only(*CATALOG_FIELDS)
        .order_by(*COURSE_ORDERINGS[DEFAULT_COURSE_ORDERING])
    )


def attach_lesson_stats(courses: list[Course]) -> list[Course]:
    """Set `lesson_count` and `total_duration_seconds` on a page of courses with one query.

    The lessons are grouped by course id straight from the lesson table (its course index), so
    the query reads only the page's lessons.
    """
    if not courses:
        return courses
    lessons = Course._meta.get_field("lessons").related_model  # lessons sits above courses
    totals = {
        row["course_id"]: (row["count"], row["duration"])
        for row in lessons.objects.filter(course_id__in=[course.pk for course in courses])
        .order_by()
        .values("course_id")
        .annotate(count=Count("id"), duration=Coalesce(Sum("duration_seconds"), 0))
    }
    for course in courses:
        course.lesson_count, course.total_duration_seconds = totals.get(course.pk, (0, 0))
    return courses
    totals = {
        row["pk"]: row
        for row in Course.objects.filter(pk__in=[course.pk for course in courses])
        .order_by()
        .values("pk")
        .annotate(count=Count("lessons"), duration=Coalesce(Sum("lessons__duration_seconds"), 0))
    }
    for course in courses:
        row = totals.get(course.pk)
        course.lesson_count = row["count"] if row else 0
        course.total_duration_seconds = row["duration"] if row else 0
    return courses


def course_get_with_stats(*, pk) -> Course:
    return course_with_stats().get(pk=pk)


def course_is_editable_by(*, user, course: Course) -> bool:
    """Admins may change every course; instructors only the courses they own."""
    if is_admin(user):
        return True
    return is_instructor(user) and course.instructor_id == user.pk


def instructor_candidates() -> QuerySet[User]:
    """Accounts that may own a course: active instructors and administrators."""
    return User.objects.filter(is_active=True).filter(
        Q(role__in=[Role.INSTRUCTOR, Role.ADMIN]) | Q(is_superuser=True)
    )
