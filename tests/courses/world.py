"""A small catalog shared by the course and lesson permission tests.

One instructor ("owner") owns a published course and a draft course, each with one module
holding one non-preview lesson. The "enrolled_student" holds a seat in the published course.
Users are real rows; clients carry real JWTs (see tests/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests import factories

ROLES = ("anonymous", "student", "enrolled_student", "other_instructor", "owner", "admin")
STATES = ("published", "draft")


def matrix(*statuses: Any) -> list[tuple[str, Any]]:
    """Pair expected outcomes with ROLES, in ROLES order."""
    assert len(statuses) == len(ROLES)
    return list(zip(ROLES, statuses, strict=True))


@dataclass
class World:
    users: dict[str, Any]
    courses: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    lessons: dict[str, Any] = field(default_factory=dict)
    make_client: Any = None

    def client(self, role: str):
        return self.make_client(self.users[role])


def build_world(*, student, instructor, other_instructor, admin_user, make_client) -> World:
    world = World(
        users={
            "anonymous": None,
            "student": student,
            "enrolled_student": factories.UserFactory(),
            "other_instructor": other_instructor,
            "owner": instructor,
            "admin": admin_user,
        },
        make_client=make_client,
    )
    world.courses["published"] = factories.PublishedCourseFactory(instructor=instructor)
    world.courses["draft"] = factories.CourseFactory(instructor=instructor)
    for state, course in world.courses.items():
        module = factories.ModuleFactory(course=course, position=1)
        world.modules[state] = module
        world.lessons[state] = factories.LessonFactory(
            course=course, module=module, position=1, body=f"Secret {state} body"
        )
    factories.EnrollmentFactory(
        user=world.users["enrolled_student"], course=world.courses["published"]
    )
    return world
