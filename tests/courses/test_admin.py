"""Django admin for categories, courses, modules and lessons: saves, inlines and actions go
through the services.

Real parts: the Django admin site and its forms (session login through Django's test client),
the services and the database.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from courses.models import Category, Course, CourseStatus
from lessons.models import Lesson, Module
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(client, admin_user):
    client.force_login(admin_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _course_form(course=None, **overrides) -> dict:
    data = {
        "title": "Admin course",
        "slug": "",
        "subtitle": "",
        "description": "",
        "category": "",
        "difficulty": "beginner",
        "language": "en",
        "price": "0.00",
        "currency": "USD",
        "capacity": "",
        "instructor": "",
    }
    data.update(overrides)
    return data


def _empty_inlines(modules=(), lessons=()) -> dict:
    """Management forms (and rows) for the module and lesson inlines of the course page."""
    data = {}
    for prefix, rows in (("modules", modules), ("lessons", lessons)):
        initial = sum(1 for row in rows if row.get("id"))
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(rows)),
                f"{prefix}-INITIAL_FORMS": str(initial),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        for index, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{index}-{key}"] = value
    return data


def test_pages_render(site):
    course = factories.CourseFactory()
    module = factories.ModuleFactory(course=course, position=1)
    lesson = factories.LessonFactory(course=course, module=module, position=1)
    for path in (
        "/admin/courses/course/",
        "/admin/courses/course/add/",
        f"/admin/courses/course/{course.pk}/change/",
        "/admin/courses/category/",
        "/admin/lessons/module/",
        f"/admin/lessons/module/{module.pk}/change/",
        "/admin/lessons/lesson/",
        f"/admin/lessons/lesson/{lesson.pk}/change/",
        "/admin/courses/course/?status__exact=draft&difficulty__exact=beginner",
        "/admin/courses/course/?q=Course",
    ):
        assert site.get(path).status_code == 200, path


def test_add_course_generates_slug_and_stays_draft(site, instructor):
    factories.CourseFactory(slug="admin-course")
    data = {**_course_form(instructor=str(instructor.pk), price="12.50"), **_empty_inlines()}
    response = site.post("/admin/courses/course/add/", data)
    assert response.status_code == 302, response.content
    course = Course.objects.get(title="Admin course")
    assert (course.slug, course.status, course.instructor) == (
        "admin-course-2",
        "draft",
        instructor,
    )
    assert course.price == Decimal("12.50")


def test_add_course_refuses_a_student_as_instructor(site, student):
    data = {**_course_form(instructor=str(student.pk)), **_empty_inlines()}
    response = site.post("/admin/courses/course/add/", data)
    assert response.status_code == 200  # form shown again with the error
    assert "instructor" in response.context["adminform"].form.errors
    assert not Course.objects.exists()


def test_change_course_with_inlines_goes_through_services(site, instructor):
    course = factories.CourseFactory(instructor=instructor, title="Before", slug="before")
    first = factories.ModuleFactory(course=course, position=1, title="First")
    second = factories.ModuleFactory(course=course, position=2, title="Second")
    doomed = factories.LessonFactory(course=course, module=first, position=1, title="In first")
    root = factories.LessonFactory(course=course, position=1, title="Root")
    common = {"course": str(course.pk)}
    row = {**common, "kind": "text", "duration_seconds": "60"}
    data = {
        **_course_form(title="After", slug="before", instructor=str(instructor.pk)),
        **_empty_inlines(
            modules=[
                {**common, "id": str(first.pk), "title": "First", "DELETE": "on"},
                {**common, "id": str(second.pk), "title": "Second renamed"},
                {**common, "id": "", "title": "Third"},
            ],
            lessons=[
                {**row, "id": str(doomed.pk), "title": "In first", "module": str(first.pk)},
                {**row, "id": str(root.pk), "title": "Root", "module": ""},
                {**row, "id": "", "title": "New in second", "module": str(second.pk)},
                {**row, "id": "", "title": "New root", "module": ""},
            ],
        ),
    }  # fmt: skip
    response = site.post(f"/admin/courses/course/{course.pk}/change/", data)
    assert response.status_code == 302, response.context and response.context["errors"]
    course.refresh_from_db()
    assert (course.title, course.slug, course.status) == ("After", "before", "draft")
    modules = Module.objects.filter(course=course).order_by("position")
    assert list(modules.values_list("title", "position")) == [("Second renamed", 1), ("Third", 2)]
    assert not Lesson.objects.filter(pk=doomed.pk).exists()
    in_second = Lesson.objects.filter(module=second).values_list("title", "position")
    assert list(in_second) == [("New in second", 1)]
    roots = Lesson.objects.filter(course=course, module=None).order_by("position")
    assert list(roots.values_list("title", "position")) == [("Root", 1), ("New root", 2)]


def test_publish_action_reports_courses_without_lessons(site, instructor):
    ready = factories.CourseFactory(instructor=instructor, title="Ready")
    factories.LessonFactory(course=ready, position=1)
    empty = factories.CourseFactory(instructor=instructor, title="Empty")
    response = site.post(
        "/admin/courses/course/",
        {"action": "publish_courses", "_selected_action": [str(ready.pk), str(empty.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    ready.refresh_from_db()
    empty.refresh_from_db()
    assert (ready.status, empty.status) == (CourseStatus.PUBLISHED, CourseStatus.DRAFT)
    assert ready.published_at is not None
    texts = _messages(response) or [str(m) for m in response.context["messages"]]
    assert any("Empty" in text and "lesson" in text for text in texts), texts
    assert any("1 course(s) published" in text for text in texts), texts


def test_archive_action(site):
    course = factories.PublishedCourseFactory()
    site.post(
        "/admin/courses/course/",
        {"action": "archive_courses", "_selected_action": [str(course.pk)]},
    )
    course.refresh_from_db()
    assert course.status == CourseStatus.ARCHIVED


def test_course_with_enrollments_cannot_be_deleted_in_admin(site):
    course = factories.PublishedCourseFactory()
    factories.EnrollmentFactory(course=course)
    assert site.get(f"/admin/courses/course/{course.pk}/delete/").status_code == 403
    assert (
        site.post(f"/admin/courses/course/{course.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Course.objects.filter(pk=course.pk).exists()


def test_bulk_delete_is_refused_when_a_course_has_enrollments(site):
    kept = factories.PublishedCourseFactory(title="Kept")
    factories.EnrollmentFactory(course=kept)
    other = factories.CourseFactory(title="Other")
    response = site.post(
        "/admin/courses/course/",
        {
            "action": "delete_selected",
            "post": "yes",
            "_selected_action": [str(kept.pk), str(other.pk)],
        },
    )
    assert response.status_code == 403
    assert Course.objects.filter(pk__in=[kept.pk, other.pk]).count() == 2


def test_bulk_delete_of_courses_without_enrollments(site):
    courses = [factories.CourseFactory(), factories.CourseFactory()]
    factories.LessonFactory(course=courses[0], position=1)
    response = site.post(
        "/admin/courses/course/",
        {
            "action": "delete_selected",
            "post": "yes",
            "_selected_action": [str(c.pk) for c in courses],
        },
    )
    assert response.status_code == 302
    assert not Course.objects.exists()
    assert not Lesson.objects.exists()


def test_add_category_generates_slug(site):
    response = site.post("/admin/courses/category/add/", {"name": "Home Cooking", "slug": ""})
    assert response.status_code == 302
    assert Category.objects.get().slug == "home-cooking"


def test_module_admin_inserts_at_position(site):
    course = factories.CourseFactory()
    factories.ModuleFactory(course=course, position=1, title="A")
    response = site.post(
        "/admin/lessons/module/add/", {"course": str(course.pk), "title": "Z", "move_to": "1"}
    )
    assert response.status_code == 302
    rows = (
        Module.objects.filter(course=course).order_by("position").values_list("title", "position")
    )
    assert list(rows) == [("Z", 1), ("A", 2)]


def test_lesson_admin_checks_module_course_and_moves(site):
    course = factories.CourseFactory()
    foreign = factories.ModuleFactory(course=factories.CourseFactory(), position=1)
    first = factories.LessonFactory(course=course, position=1, title="first")
    form = {
        "course": str(course.pk),
        "module": str(foreign.pk),
        "title": "new",
        "kind": "text",
        "body": "",
        "duration_seconds": "0",
    }
    response = site.post("/admin/lessons/lesson/add/", form)
    assert response.status_code == 200
    assert "module" in response.context["adminform"].form.errors
    assert not Lesson.objects.filter(title="new").exists()
    response = site.post("/admin/lessons/lesson/add/", {**form, "module": "", "move_to": "1"})
    assert response.status_code == 302
    rows = (
        Lesson.objects.filter(course=course).order_by("position").values_list("title", "position")
    )
    assert list(rows) == [("new", 1), ("first", 2)]
    first.refresh_from_db()
    response = site.post(
        f"/admin/lessons/lesson/{first.pk}/change/",
        {**form, "module": "", "title": "first", "move_to": "1"},
    )
    assert response.status_code == 302
    assert list(rows.all()) == [("first", 1), ("new", 2)]  # .all(): a fresh query


def test_lesson_bulk_delete_closes_gaps(site):
    course = factories.CourseFactory()
    lessons = [factories.LessonFactory(course=course, position=i, title=f"l{i}") for i in (1, 2, 3)]
    site.post(
        "/admin/lessons/lesson/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [str(lessons[0].pk)]},
    )
    rows = (
        Lesson.objects.filter(course=course).order_by("position").values_list("title", "position")
    )
    assert list(rows) == [("l2", 1), ("l3", 2)]
