"""Query-string filters of the course list. Unknown choices answer 400, never 500."""

from __future__ import annotations

import django_filters

from .models import Course, CourseQuerySet, CourseStatus, Difficulty
from .selectors import COURSE_ORDERINGS

PRICE_CHOICES = (("free", "Free"), ("paid", "Paid"))


class CourseFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        field_name="category__slug", help_text="Category slug.", max_length=120
    )
    difficulty = django_filters.ChoiceFilter(choices=Difficulty.choices)
    language = django_filters.CharFilter(max_length=10)
    price = django_filters.ChoiceFilter(
        choices=PRICE_CHOICES, method="filter_price", help_text="`free` or `paid`."
    )
    instructor = django_filters.UUIDFilter(field_name="instructor_id", help_text="User id.")
    status = django_filters.ChoiceFilter(
        choices=CourseStatus.choices,
        help_text="Only narrows what the caller may already see (drafts: owners and admins).",
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in COURSE_ORDERINGS],
        method="filter_ordering",
        help_text="`newest` (default), `title`, `-title`, `price` or `-price`.",
    )

    class Meta:
        model = Course
        fields = ("category", "difficulty", "language", "price", "instructor", "status")

    def filter_price(self, queryset: CourseQuerySet, name: str, value: str) -> CourseQuerySet:
        return queryset.filter(price=0) if value == "free" else queryset.filter(price__gt=0)

    def filter_ordering(self, queryset: CourseQuerySet, name: str, value: str) -> CourseQuerySet:
        return queryset.order_by(*COURSE_ORDERINGS[value])
