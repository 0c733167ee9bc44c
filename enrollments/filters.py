"""Query filters for the enrollment list: `?course=<id>` and `?status=<status>`."""

from __future__ import annotations

import django_filters

from .models import Enrollment, EnrollmentStatus


class EnrollmentFilter(django_filters.FilterSet):
    course = django_filters.UUIDFilter(field_name="course_id", help_text="Course id.")
    status = django_filters.ChoiceFilter(choices=EnrollmentStatus.choices)

    class Meta:
        model = Enrollment
        fields = ("course", "status")
