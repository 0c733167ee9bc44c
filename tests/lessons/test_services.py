"""Module and lesson services: positions stay 1-based and gap-free through inserts, moves,
deletes and reorders; ownership is enforced; concurrent inserts queue on the course lock.

Real parts: `lessons.services` against the database, with its unique (parent, position)
constraints (SQLite, or PostgreSQL with DATABASE_URL; the concurrency test needs PostgreSQL).
"""

from __future__ import annotations

import random
import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from eduflow.core.exceptions import Forbidden
from lessons import services
from lessons.models import Lesson, Module
from tests import factories

pytestmark = pytest.mark.django_db


def module_titles(course) -> list[tuple[str, int]]:
    return list(
        Module.objects.filter(course=course).order_by("position").values_list("title", "position")
    )


def lesson_titles(course, module=None) -> list[tuple[str, int]]:
    lessons = Lesson.objects.filter(course=course, module=module).order_by("position")
    return list(lessons.values_list("title", "position"))


def assert_gap_free(course) -> None:
    positions = [p for _, p in module_titles(course)]
    assert positions == list(range(1, len(positions) + 1))
    for module in [None, *Module.objects.filter(course=course)]:
        positions = [p for _, p in lesson_titles(course, module)]
        assert positions == list(range(1, len(positions) + 1)), module
    # every lesson's module belongs to the lesson's course
    assert (
        not Lesson.objects.filter(course=course)
        .exclude(module__isnull=True)
        .exclude(module__course=course)
        .exists()
    )


@pytest.fixture
def course(instructor):
    return factories.CourseFactory(instructor=instructor)


def _modules(actor, course, *titles):
    return [services.module_create(actor=actor, course=course, title=t) for t in titles]


def _lessons(actor, course, module, *titles):
    return [
        services.lesson_create(actor=actor, course=course, module=module, title=t) for t in titles
    ]


# --- modules ---------------------------------------------------------------------------------


def test_modules_append_and_insert(instructor, course):
    _modules(instructor, course, "A", "B", "C")
    services.module_create(actor=instructor, course=course, title="first", position=1)
    services.module_create(actor=instructor, course=course, title="third", position=3)
    services.module_create(actor=instructor, course=course, title="last", position=99)
    assert module_titles(course) == [
        ("first", 1), ("A", 2), ("third", 3), ("B", 4), ("C", 5), ("last", 6),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "position", "expected"),
    [
        ("A", 3, ["B", "C", "A", "D"]),
        ("D", 1, ["D", "A", "B", "C"]),
        ("B", 2, ["A", "B", "C", "D"]),
        ("B", 50, ["A", "C", "D", "B"]),
        ("C", 1, ["C", "A", "B", "D"]),
    ],
)
def test_module_move_within_course(instructor, course, title, position, expected):
    modules = {m.title: m for m in _modules(instructor, course, "A", "B", "C", "D")}
    services.module_update(actor=instructor, module=modules[title], position=position)
    assert module_titles(course) == [(t, i) for i, t in enumerate(expected, start=1)]


def test_module_move_to_another_course_takes_its_lessons(instructor, course):
    target = factories.CourseFactory(instructor=instructor)
    _a, b, _c = _modules(instructor, course, "A", "B", "C")
    _modules(instructor, target, "X", "Y")
    _lessons(instructor, course, b, "b1", "b2")
    services.module_update(actor=instructor, module=b, course=target, position=2)
    assert module_titles(course) == [("A", 1), ("C", 2)]
    assert module_titles(target) == [("X", 1), ("B", 2), ("Y", 3)]
    assert lesson_titles(target, b) == [("b1", 1), ("b2", 2)]
    assert not Lesson.objects.filter(course=course).exists()
    assert_gap_free(course)
    assert_gap_free(target)


def test_module_move_to_another_course_appends_by_default(instructor, course):
    target = factories.CourseFactory(instructor=instructor)
    (a,) = _modules(instructor, course, "A")
    _modules(instructor, target, "X")
    services.module_update(actor=instructor, module=a, course=target)
    assert module_titles(target) == [("X", 1), ("A", 2)]


def test_module_delete_closes_gap_and_removes_its_lessons(instructor, course):
    a, b, _c = _modules(instructor, course, "A", "B", "C")
    _lessons(instructor, course, b, "b1")
    services.module_delete(actor=instructor, module=a)
    assert module_titles(course) == [("B", 1), ("C", 2)]
    services.module_delete(actor=instructor, module=b)
    assert module_titles(course) == [("C", 1)]
    assert not Lesson.objects.filter(title="b1").exists()


# --- lessons ---------------------------------------------------------------------------------


def test_lessons_number_per_parent(instructor, course):
    a, b = _modules(instructor, course, "A", "B")
    _lessons(instructor, course, a, "a1", "a2")
    _lessons(instructor, course, b, "b1")
    _lessons(instructor, course, None, "r1", "r2")
    services.lesson_create(actor=instructor, course=course, module=a, title="a0", position=1)
    assert lesson_titles(course, a) == [("a0", 1), ("a1", 2), ("a2", 3)]
    assert lesson_titles(course, b) == [("b1", 1)]
    assert lesson_titles(course, None) == [("r1", 1), ("r2", 2)]


def test_lesson_moves_between_modules_and_root(instructor, course):
    a, b = _modules(instructor, course, "A", "B")
    a1, a2, _a3 = _lessons(instructor, course, a, "a1", "a2", "a3")
    (b1,) = _lessons(instructor, course, b, "b1")
    services.lesson_update(actor=instructor, lesson=a2, module=b, position=1)
    assert lesson_titles(course, a) == [("a1", 1), ("a3", 2)]
    assert lesson_titles(course, b) == [("a2", 1), ("b1", 2)]
    services.lesson_update(actor=instructor, lesson=a1, module=None)
    assert lesson_titles(course, a) == [("a3", 1)]
    assert lesson_titles(course, None) == [("a1", 1)]
    services.lesson_update(actor=instructor, lesson=b1, module=a)
    assert lesson_titles(course, a) == [("a3", 1), ("b1", 2)]
    assert lesson_titles(course, b) == [("a2", 1)]


def test_lesson_move_within_parent(instructor, course):
    _l1, _l2, l3 = _lessons(instructor, course, None, "1", "2", "3")
    services.lesson_update(actor=instructor, lesson=l3, position=1)
    assert lesson_titles(course) == [("3", 1), ("1", 2), ("2", 3)]
    services.lesson_update(actor=instructor, lesson=l3, position=3)
    assert lesson_titles(course) == [("1", 1), ("2", 2), ("3", 3)]


def test_lesson_moved_to_another_course_lands_outside_modules(instructor, course):
    target = factories.CourseFactory(instructor=instructor)
    (a,) = _modules(instructor, course, "A")
    (x,) = _modules(instructor, target, "X")
    a1, a2 = _lessons(instructor, course, a, "a1", "a2")
    _lessons(instructor, target, None, "t1")
    services.lesson_update(actor=instructor, lesson=a1, course=target)
    assert lesson_titles(course, a) == [("a2", 1)]
    assert lesson_titles(target, None) == [("t1", 1), ("a1", 2)]
    services.lesson_update(actor=instructor, lesson=a2, course=target, module=x)
    assert lesson_titles(target, x) == [("a2", 1)]
    assert_gap_free(course)
    assert_gap_free(target)


def test_lesson_module_must_belong_to_its_course(instructor, course):
    other = factories.CourseFactory(instructor=instructor)
    (foreign,) = _modules(instructor, other, "F")
    with pytest.raises(ValidationError):
        services.lesson_create(actor=instructor, course=course, module=foreign, title="x")
    (lesson,) = _lessons(instructor, course, None, "l")
    with pytest.raises(ValidationError):
        services.lesson_update(actor=instructor, lesson=lesson, module=foreign)
    lesson.refresh_from_db()
    assert (lesson.module_id, lesson.position) == (None, 1)
    assert not Lesson.objects.filter(title="x").exists()


def test_lesson_delete_closes_gap(instructor, course):
    l1, _l2, _l3 = _lessons(instructor, course, None, "1", "2", "3")
    services.lesson_delete(actor=instructor, lesson=l1)
    assert lesson_titles(course) == [("2", 1), ("3", 2)]


def test_lesson_update_plain_fields_keeps_position(instructor, course):
    l1, _l2 = _lessons(instructor, course, None, "1", "2")
    services.lesson_update(
        actor=instructor, lesson=l1, title="one", duration_seconds=60, is_preview=True
    )
    l1.refresh_from_db()
    assert (l1.title, l1.duration_seconds, l1.is_preview, l1.position) == ("one", 60, True, 1)


# --- reorder ---------------------------------------------------------------------------------


def test_reorder_modules(instructor, course):
    a, b, c = _modules(instructor, course, "A", "B", "C")
    services.course_reorder_modules(actor=instructor, course=course, module_ids=[c.pk, a.pk, b.pk])
    assert module_titles(course) == [("C", 1), ("A", 2), ("B", 3)]


def test_reorder_lessons_of_a_module_and_of_the_root(instructor, course):
    (a,) = _modules(instructor, course, "A")
    a1, a2 = _lessons(instructor, course, a, "a1", "a2")
    r1, r2, r3 = _lessons(instructor, course, None, "r1", "r2", "r3")
    services.course_reorder_lessons(
        actor=instructor, course=course, module_id=a.pk, lesson_ids=[a2.pk, a1.pk]
    )
    services.course_reorder_lessons(
        actor=instructor, course=course, module_id=None, lesson_ids=[r2.pk, r3.pk, r1.pk]
    )
    assert lesson_titles(course, a) == [("a2", 1), ("a1", 2)]
    assert lesson_titles(course, None) == [("r2", 1), ("r3", 2), ("r1", 3)]


@pytest.mark.parametrize("mistake", ["missing", "duplicate", "extra", "foreign"])
def test_reorder_needs_exactly_the_current_siblings(instructor, course, mistake):
    a, b, c = _modules(instructor, course, "A", "B", "C")
    (foreign,) = _modules(instructor, factories.CourseFactory(instructor=instructor), "F")
    ids = {
        "missing": [a.pk, b.pk],
        "duplicate": [a.pk, b.pk, b.pk],
        "extra": [a.pk, b.pk, c.pk, foreign.pk],
        "foreign": [a.pk, b.pk, foreign.pk],
    }[mistake]
    with pytest.raises(ValidationError) as caught:
        services.course_reorder_modules(actor=instructor, course=course, module_ids=ids)
    assert "modules" in caught.value.message_dict
    assert module_titles(course) == [("A", 1), ("B", 2), ("C", 3)]


def test_reorder_lessons_of_a_module_from_another_course_is_refused(instructor, course):
    (foreign,) = _modules(instructor, factories.CourseFactory(instructor=instructor), "F")
    with pytest.raises(ValidationError) as caught:
        services.course_reorder_lessons(
            actor=instructor, course=course, module_id=foreign.pk, lesson_ids=[]
        )
    assert "module" in caught.value.message_dict


# --- ownership -------------------------------------------------------------------------------


def test_other_instructors_and_students_cannot_change_content(course, other_instructor, student):
    (module,) = _modules(course.instructor, course, "A")
    (lesson,) = _lessons(course.instructor, course, module, "a1")
    for actor in (other_instructor, student):
        with pytest.raises(Forbidden):
            services.module_create(actor=actor, course=course, title="x")
        with pytest.raises(Forbidden):
            services.module_update(actor=actor, module=module, title="x")
        with pytest.raises(Forbidden):
            services.lesson_create(actor=actor, course=course, title="x")
        with pytest.raises(Forbidden):
            services.lesson_delete(actor=actor, lesson=lesson)
        with pytest.raises(Forbidden):
            services.course_reorder_modules(actor=actor, course=course, module_ids=[module.pk])
    assert module_titles(course) == [("A", 1)]
    assert lesson_titles(course, module) == [("a1", 1)]


def test_moving_into_a_course_the_actor_does_not_own_is_forbidden(instructor, course):
    foreign_course = factories.CourseFactory()
    (module,) = _modules(instructor, course, "A")
    (lesson,) = _lessons(instructor, course, module, "a1")
    with pytest.raises(Forbidden):
        services.lesson_update(actor=instructor, lesson=lesson, course=foreign_course)
    with pytest.raises(Forbidden):
        services.module_update(actor=instructor, module=module, course=foreign_course)
    assert Lesson.objects.get(pk=lesson.pk).course_id == course.pk
    assert Module.objects.get(pk=module.pk).course_id == course.pk


def test_admin_can_move_content_between_any_courses(admin_user, course):
    target = factories.CourseFactory()
    (module,) = _modules(admin_user, course, "A")
    services.module_update(actor=admin_user, module=module, course=target)
    assert module_titles(target) == [("A", 1)]


# --- random walk -----------------------------------------------------------------------------


def test_random_operations_keep_every_parent_gap_free(instructor):
    rng = random.Random(20240601)
    courses = [factories.CourseFactory(instructor=instructor) for _ in range(2)]
    for step in range(150):
        course = rng.choice(courses)
        modules = list(Module.objects.filter(course=course))
        lessons = list(Lesson.objects.filter(course__in=courses))
        operation = rng.choice(
            ["module_create", "lesson_create", "lesson_create", "lesson_move", "lesson_move",
             "module_move", "lesson_delete", "module_delete", "reorder"]
        )  # fmt: skip
        position = rng.choice([None, 1, 2, 3, 10])
        if operation == "module_create" or (operation.startswith("module") and not modules):
            services.module_create(
                actor=instructor, course=course, title=f"m{step}", position=position
            )
        elif operation == "lesson_create" or not lessons:
            module = rng.choice([None, *modules])
            services.lesson_create(
                actor=instructor, course=course, module=module, title=f"l{step}", position=position
            )
        elif operation == "lesson_move":
            target_module = rng.choice([None, *modules])
            services.lesson_update(
                actor=instructor,
                lesson=rng.choice(lessons),
                course=course,
                module=target_module,
                **({} if position is None else {"position": position}),
            )
        elif operation == "module_move":
            services.module_update(
                actor=instructor,
                module=rng.choice(modules),
                course=rng.choice(courses),
                **({} if position is None else {"position": position}),
            )
        elif operation == "lesson_delete":
            services.lesson_delete(actor=instructor, lesson=rng.choice(lessons))
        elif operation == "module_delete":
            services.module_delete(actor=instructor, module=rng.choice(modules))
        else:
            ids = [m.pk for m in modules]
            rng.shuffle(ids)
            services.course_reorder_modules(actor=instructor, course=course, module_ids=ids)
        for each in courses:
            assert_gap_free(each)


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (set DATABASE_URL): SQLite's shared in-memory test database "
    "cannot run concurrent writers",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_at_the_front_queue_on_the_course_lock(instructor):
    course = factories.CourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def insert(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.lesson_create(
                actor=instructor, course=course, module=module, title=f"t{index}", position=1
            )
            services.module_create(actor=instructor, course=course, title=f"m{index}", position=1)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert [p for _, p in lesson_titles(course, module)] == list(range(1, workers + 1))
    assert [p for _, p in module_titles(course)] == list(range(1, workers + 2))
