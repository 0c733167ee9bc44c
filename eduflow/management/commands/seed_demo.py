"""Load the demo catalog: an admin, instructors, students, categories, courses and enrollments.

Safe to run again: whatever already exists (matched by email or slug) is left as it is and only
what is missing is created, through the same services the API uses.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from accounts.models import Role, User
from accounts.services import user_create
from courses.models import Category, Course
from courses.services import category_create, course_create, course_publish
from eduflow.management import demo_catalog as catalog
from enrollments.models import Enrollment
from enrollments.services import enrollment_create
from lessons.services import lesson_create, module_create

LESSON_BODY = """## {title}

This lesson of *{course}* walks through one idea at a time.

1. Read the summary.
2. Try the example yourself.
3. Check your understanding with the questions at the end.
"""


class Command(BaseCommand):
    help = "Load demo users, categories, courses, lessons and enrollments (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD", ""),
            help="Password for new demo accounts (default: DEMO_PASSWORD, else a random one).",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo accounts even with DJANGO_DEBUG off (never on a public server).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "seed_demo creates accounts with a shared demo password, so it only runs with "
                "DJANGO_DEBUG=1. Pass --allow-production to load it anyway on a private server."
            )
        password = options["password"]
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)

        steps = (
            1
            + len(catalog.INSTRUCTORS)
            + len(catalog.STUDENTS)
            + len(catalog.CATEGORIES)
            + len(catalog.COURSES)
            + len(catalog.ENROLLMENTS)
        )
        created = {"users": 0, "categories": 0, "courses": 0, "lessons": 0, "enrollments": 0}
        bar = tqdm(
            total=steps,
            desc="Loading demo data",
            unit="step",
            disable=options["no_progress"],
            file=self.stdout._out,
        )

        def person(spec: dict, role: str) -> User:
            existing = User.objects.filter(email=spec["email"]).first()
            bar.update(1)
            if existing is not None:
                return existing
            created["users"] += 1
            return user_create(password=password, role=role, **spec)

        admin = person(catalog.ADMIN, Role.ADMIN)
        instructors = [person(spec, Role.INSTRUCTOR) for spec in catalog.INSTRUCTORS]
        students = [person(spec, Role.STUDENT) for spec in catalog.STUDENTS]

        categories: dict[str, Category] = {}
        for spec in catalog.CATEGORIES:
            category = Category.objects.filter(slug=spec["slug"]).first()
            if category is None:
                category = category_create(actor=admin, **spec)
                created["categories"] += 1
            categories[spec["slug"]] = category
            bar.update(1)

        courses: dict[str, Course] = {}
        for spec in catalog.COURSES:
            course = Course.objects.filter(slug=spec.slug).first()
            if course is None:
                course = self._create_course(spec, admin, instructors, categories, created)
            courses[spec.slug] = course
            bar.update(1)

        for student_index, slug in catalog.ENROLLMENTS:
            student = students[student_index]
            course = courses[slug]
            if not Enrollment.objects.filter(user=student, course=course).exists():
                enrollment_create(actor=admin, course=course, user=student)
                created["enrollments"] += 1
            bar.update(1)
        bar.close()

        summary = ", ".join(f"{count} {name}" for name, count in created.items())
        if any(created.values()):
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded: created {summary}."))
        else:
            self.stdout.write("Demo data already loaded; nothing to create.")
        self._print_logins(password if created["users"] else None, generated)

    @transaction.atomic
    def _create_course(self, spec, admin, instructors, categories, created) -> Course:
        owner = instructors[spec.instructor]
        course = course_create(
            actor=admin,
            slug=spec.slug,
            title=spec.title,
            subtitle=spec.subtitle,
            description=f"{spec.subtitle}. A demo course taught by {owner.full_name}.",
            category=categories[spec.category],
            difficulty=spec.difficulty,
            language=spec.language,
            price=spec.price,
            capacity=spec.capacity,
            instructor=owner,
        )
        for module_title in catalog.MODULE_TITLES:
            module = module_create(actor=owner, course=course, title=module_title)
            for suffix, kind, duration, preview in catalog.LESSON_PLAN:
                title = f"{module_title}: {suffix}"
                lesson_create(
                    actor=owner,
                    course=course,
                    module=module,
                    title=title,
                    kind=kind,
                    body=LESSON_BODY.format(title=title, course=spec.title),
                    duration_seconds=duration,
                    is_preview=preview and module.position == 1,
                )
                created["lessons"] += 1
        if spec.published:
            course_publish(actor=owner, course=course)
        created["courses"] += 1
        return course

    def _print_logins(self, password: str | None, generated: bool) -> None:
        people = [
            (catalog.ADMIN, "admin"),
            *((spec, "instructor") for spec in catalog.INSTRUCTORS),
            *((spec, "student") for spec in catalog.STUDENTS),
        ]
        self.stdout.write("\nDemo logins (POST /api/v1/auth/login/, /admin/, /api-auth/login/):")
        for spec, role in people:
            self.stdout.write(f"  {role:<10} {spec['email']}")
        if password is not None:
            self.stdout.write(f"  password   {password}")
            if generated:
                self.stdout.write("  (random; set DEMO_PASSWORD to choose it next time)")
        elif os.environ.get("DEMO_PASSWORD"):
            self.stdout.write(f"  password   {os.environ['DEMO_PASSWORD']}")
        else:
            self.stdout.write("  password   as printed when the demo data was first loaded")
