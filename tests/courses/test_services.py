"""Course and category services: publish/archive rules, deletion guards, slugs, ownership.

Real parts: `courses.services` against the database (SQLite, or PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from courses import services
from courses.models import Category, Course, CourseStatus
from eduflow.core.exceptions import Conflict, Forbidden
from enrollments.models import EnrollmentStatus
from tests import factories

pytestmark = pytest.mark.django_db


# --- publish / archive -----------------------------------------------------------------------


def test_publish_needs_a_lesson(instructor):
    course = factories.CourseFactory(instructor=instructor)
    with pytest.raises(Conflict) as caught:
        services.course_publish(actor=instructor, course=course)
    assert caught.value.problem_code == "course_has_no_lessons"
    course.refresh_from_db()
    assert course.status == CourseStatus.DRAFT
    assert course.published_at is None


def test_publish_sets_published_at_once_and_republishing_keeps_it(instructor):
    course = factories.CourseFactory(instructor=instructor)
    factories.LessonFactory(course=course, position=1)
    published = services.course_publish(actor=instructor, course=course)
    first_published_at = published.published_at
    assert published.status == CourseStatus.PUBLISHED
    assert first_published_at is not None

    again = services.course_publish(actor=instructor, course=course)  # no-op
    assert (again.status, again.published_at) == (CourseStatus.PUBLISHED, first_published_at)

    services.course_archive(actor=instructor, course=course)
    republished = services.course_publish(actor=instructor, course=course)
    assert republished.status == CourseStatus.PUBLISHED
    assert republished.published_at == first_published_at


def test_publishing_a_published_course_without_lessons_is_a_no_op(instructor):
    course = factories.PublishedCourseFactory(instructor=instructor)
    assert services.course_publish(actor=instructor, course=course).status == "published"


def test_archive_from_draft_and_repeat(instructor):
    course = factories.CourseFactory(instructor=instructor)
    assert services.course_archive(actor=instructor, course=course).status == "archived"
    updated_at = Course.objects.get(pk=course.pk).updated_at
    assert services.course_archive(actor=instructor, course=course).status == "archived"
    assert Course.objects.get(pk=course.pk).updated_at == updated_at  # nothing written


@pytest.mark.parametrize("service", [services.course_publish, services.course_archive])
def test_state_changes_refuse_other_instructors_and_students(service, other_instructor, student):
    course = factories.CourseFactory()
    factories.LessonFactory(course=course, position=1)
    for actor in (other_instructor, student):
        with pytest.raises(Forbidden):
            service(actor=actor, course=course)
    assert Course.objects.get(pk=course.pk).status == CourseStatus.DRAFT


def test_admin_may_publish_any_course(admin_user):
    course = factories.CourseFactory()
    factories.LessonFactory(course=course, position=1)
    assert services.course_publish(actor=admin_user, course=course).status == "published"


# --- delete ----------------------------------------------------------------------------------


def test_delete_course_without_enrollments_removes_its_content(instructor):
    course = factories.CourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    factories.LessonFactory(course=course, module=module, position=1)
    services.course_delete(actor=instructor, course=course)
    assert not Course.objects.filter(pk=course.pk).exists()
    assert not course.lessons.exists()
    assert not course.modules.exists()


@pytest.mark.parametrize("status", [s.value for s in EnrollmentStatus])
def test_delete_refused_while_any_enrollment_exists(instructor, status):
    course = factories.PublishedCourseFactory(instructor=instructor)
    factories.EnrollmentFactory(course=course, status=status)
    with pytest.raises(Conflict) as caught:
        services.course_delete(actor=instructor, course=course)
    assert caught.value.problem_code == "course_has_enrollments"
    assert Course.objects.filter(pk=course.pk).exists()


# --- create / update, instructors, slugs -----------------------------------------------------


def test_create_generates_unique_slugs_from_the_title(instructor):
    slugs = [
        services.course_create(actor=instructor, title="Intro to Django!").slug for _ in range(3)
    ]
    assert slugs == ["intro-to-django", "intro-to-django-2", "intro-to-django-3"]


def test_slug_generation_fills_the_lowest_free_suffix(instructor):
    factories.CourseFactory(slug="python")
    factories.CourseFactory(slug="python-3")
    assert services.course_create(actor=instructor, title="Python").slug == "python-2"


def test_slug_falls_back_when_title_has_no_ascii(instructor):
    first = services.course_create(actor=instructor, title="日本語")
    second = services.course_create(actor=instructor, title="Ελληνικά")
    assert (first.slug, second.slug) == ("course", "course-2")


def test_long_titles_give_slugs_within_the_column(instructor):
    title = ("word " * 40).strip()
    slugs = {services.course_create(actor=instructor, title=title).slug for _ in range(2)}
    assert len(slugs) == 2
    assert all(len(slug) <= 140 for slug in slugs)


def test_explicit_slug_must_be_free(instructor):
    factories.CourseFactory(slug="taken")
    with pytest.raises(ValidationError) as caught:
        services.course_create(actor=instructor, title="X", slug="taken")
    assert "slug" in caught.value.message_dict
    assert Course.objects.filter(slug="taken").count() == 1


def test_update_keeps_slug_when_title_changes(instructor):
    course = services.course_create(actor=instructor, title="Old title")
    updated = services.course_update(actor=instructor, course=course, title="New title")
    assert (updated.title, updated.slug) == ("New title", "old-title")


def test_update_to_own_slug_is_allowed_and_to_anothers_is_not(instructor):
    course = factories.CourseFactory(instructor=instructor, slug="mine")
    factories.CourseFactory(slug="theirs")
    assert services.course_update(actor=instructor, course=course, slug="mine").slug == "mine"
    with pytest.raises(ValidationError):
        services.course_update(actor=instructor, course=course, slug="theirs")


def test_update_has_no_way_to_set_status(instructor):
    course = factories.CourseFactory(instructor=instructor)
    with pytest.raises(TypeError):
        services.course_update(actor=instructor, course=course, status="published")


def test_update_changes_only_given_fields(instructor):
    course = factories.CourseFactory(instructor=instructor, price=Decimal("10.00"), capacity=5)
    services.course_update(actor=instructor, course=course, capacity=None)
    course.refresh_from_db()
    assert (course.price, course.capacity) == (Decimal("10.00"), None)


def test_instructor_cannot_give_a_course_to_someone_else(instructor, other_instructor):
    with pytest.raises(Forbidden) as caught:
        services.course_create(actor=instructor, title="X", instructor=other_instructor)
    assert caught.value.problem_code == "cannot_assign_instructor"
    course = factories.CourseFactory(instructor=instructor)
    with pytest.raises(Forbidden):
        services.course_update(actor=instructor, course=course, instructor=other_instructor)
    assert Course.objects.get(pk=course.pk).instructor == instructor


def test_admin_assigns_only_active_authors(admin_user, instructor, student):
    course = services.course_create(actor=admin_user, title="X", instructor=instructor)
    assert course.instructor == instructor
    with pytest.raises(ValidationError):
        services.course_create(actor=admin_user, title="Y", instructor=student)
    retired = factories.InstructorFactory(is_active=False)
    with pytest.raises(ValidationError):
        services.course_update(actor=admin_user, course=course, instructor=retired)
    assert Course.objects.get(pk=course.pk).instructor == instructor
    assert services.course_create(actor=admin_user, title="Z").instructor == admin_user


def test_students_cannot_create_courses(student):
    with pytest.raises(Forbidden):
        services.course_create(actor=student, title="X")
    assert not Course.objects.exists()


# --- categories ------------------------------------------------------------------------------


def test_category_slug_generated_and_unique(admin_user):
    first = services.category_create(actor=admin_user, name="Data Science")
    second = services.category_create(actor=admin_user, name="Data  science")
    assert (first.slug, second.slug) == ("data-science", "data-science-2")


def test_category_delete_refused_while_a_course_uses_it(admin_user):
    category = factories.CategoryFactory()
    factories.CourseFactory(category=category)  # a draft counts too
    with pytest.raises(Conflict) as caught:
        services.category_delete(actor=admin_user, category=category)
    assert caught.value.problem_code == "category_in_use"
    assert Category.objects.filter(pk=category.pk).exists()


def test_category_services_are_for_admins(instructor):
    with pytest.raises(Forbidden):
        services.category_create(actor=instructor, name="X")
    assert not Category.objects.exists()
