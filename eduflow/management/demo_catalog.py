"""The demo catalog that `manage.py seed_demo` loads: people, categories and courses."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

ADMIN = {"email": "admin@eduflow.local", "username": "admin", "full_name": "Ada Admin"}

INSTRUCTORS = [
    {"email": "grace@eduflow.local", "username": "grace", "full_name": "Grace Hopper"},
    {"email": "alan@eduflow.local", "username": "alan", "full_name": "Alan Kay"},
]

STUDENTS = [
    {"email": "student1@eduflow.local", "username": "student1", "full_name": "Zoë Łukasiewicz"},
    {"email": "student2@eduflow.local", "username": "student2", "full_name": "Li Lei"},
    {"email": "student3@eduflow.local", "username": "student3", "full_name": "Amara Okafor"},
    {"email": "student4@eduflow.local", "username": "student4", "full_name": "Mateo García"},
    {"email": "student5@eduflow.local", "username": "student5", "full_name": "Priya Raman"},
]

CATEGORIES = [
    {"name": "Programming", "slug": "programming"},
    {"name": "Data Science", "slug": "data-science"},
    {"name": "Design", "slug": "design"},
    {"name": "Business", "slug": "business"},
]


class DemoCourse(NamedTuple):
    slug: str
    title: str
    subtitle: str
    category: str
    difficulty: str
    language: str
    price: Decimal
    capacity: int | None
    instructor: int  # index into INSTRUCTORS
    published: bool


_COURSE_ROWS = [
    (
        "python-foundations",
        "Python Foundations",
        "Variables, functions and the standard library",
        "programming",
        "beginner",
        "en",
        Decimal("0"),
        None,
        0,
        True,
    ),
    (
        "django-rest-apis",
        "Building REST APIs with Django",
        "Models, serializers, viewsets, auth",
        "programming",
        "intermediate",
        "en",
        Decimal("49.00"),
        None,
        0,
        True,
    ),
    (
        "async-python",
        "Asynchronous Python",
        "asyncio from event loops to structured concurrency",
        "programming",
        "advanced",
        "en",
        Decimal("0"),
        30,
        1,
        True,
    ),
    (
        "sql-for-analysts",
        "SQL for Analysts",
        "Queries, joins and window functions",
        "data-science",
        "beginner",
        "en",
        Decimal("0"),
        None,
        1,
        True,
    ),
    (
        "statistics-101",
        "Statistics 101",
        "Distributions, estimates and tests",
        "data-science",
        "beginner",
        "en",
        Decimal("0"),
        3,
        0,
        True,
    ),
    (
        "machine-learning-basics",
        "Machine Learning Basics",
        "Regression, trees and evaluation",
        "data-science",
        "intermediate",
        "en",
        Decimal("79.00"),
        None,
        1,
        True,
    ),
    (
        "visual-design-principles",
        "Visual Design Principles",
        "Layout, type and colour",
        "design",
        "beginner",
        "en",
        Decimal("0"),
        None,
        0,
        True,
    ),
    (
        "ux-research",
        "UX Research in Practice",
        "Interviews, usability tests and synthesis",
        "design",
        "intermediate",
        "en",
        Decimal("0"),
        None,
        1,
        True,
    ),
    (
        "diseno-de-interfaces",
        "Diseño de interfaces",
        "Componentes y sistemas de diseño",
        "design",
        "intermediate",
        "es",
        Decimal("19.00"),
        None,
        0,
        True,
    ),
    (
        "startup-finance",
        "Startup Finance",
        "Runway, unit economics and fundraising",
        "business",
        "beginner",
        "en",
        Decimal("0"),
        None,
        1,
        True,
    ),
    (
        "product-management",
        "Product Management",
        "Discovery, roadmaps and delivery",
        "business",
        "intermediate",
        "en",
        Decimal("0"),
        None,
        0,
        True,
    ),
    (
        "negotiation",
        "Negotiation Skills",
        "Preparation, anchoring and agreements",
        "business",
        "advanced",
        "en",
        Decimal("0"),
        None,
        1,
        True,
    ),
    (
        "rust-for-pythonistas",
        "Rust for Pythonistas",
        "Ownership and types for Python developers",
        "programming",
        "advanced",
        "en",
        Decimal("0"),
        None,
        0,
        False,
    ),
    (
        "data-visualisation",
        "Data Visualisation",
        "Charts that tell the truth",
        "data-science",
        "intermediate",
        "en",
        Decimal("0"),
        None,
        1,
        False,
    ),
]

COURSES = [DemoCourse(*row) for row in _COURSE_ROWS]

MODULE_TITLES = ["Getting started", "Core ideas", "Putting it to work"]
LESSON_PLAN = [
    # (title suffix, kind, duration in seconds, preview)
    ("Welcome", "video", 240, True),
    ("Key concepts", "text", 600, False),
    ("Worked example", "video", 900, False),
]

# (student index, course slug)
ENROLLMENTS = [
    (0, "python-foundations"),
    (0, "sql-for-analysts"),
    (0, "visual-design-principles"),
    (1, "python-foundations"),
    (1, "async-python"),
    (2, "statistics-101"),
    (2, "startup-finance"),
    (3, "ux-research"),
    (3, "product-management"),
    (4, "negotiation"),
    (4, "statistics-101"),
]
