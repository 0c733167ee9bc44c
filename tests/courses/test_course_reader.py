"""`CourseReader` (the fast read path) writes exactly what `CourseSerializer` documents.

Real parts: the database and DRF's own serializer as the reference.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rest_framework.test import APIRequestFactory

from courses import selectors
from courses.serializers import CourseReader, CourseSerializer
from media.models import MediaAsset
from tests import factories

pytestmark = pytest.mark.django_db


def _json(data) -> object:
    return json.loads(json.dumps(data, default=str))


def test_reader_equals_the_serializer(instructor, admin_user, settings):
    settings.ALLOWED_HOSTS = ["lms.example.org"]
    thumbnail = MediaAsset.objects.create(owner=instructor, kind="image", status="ready")
    factories.PublishedCourseFactory(
        instructor=instructor,
        title='Zoë \u2013 李雷 "quoted"',
        price=Decimal("12.5"),
        capacity=30,
        thumbnail=thumbnail,
        published_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    factories.CourseFactory(instructor=instructor, category=None, published_at=None)
    factories.PublishedCourseFactory(
        price=Decimal("0"),
        published_at=datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
    )
    with_lessons = factories.PublishedCourseFactory()
    factories.LessonFactory(course=with_lessons, position=1, duration_seconds=90)
    factories.LessonFactory(course=with_lessons, position=2, duration_seconds=30)

    request = APIRequestFactory().get("/api/v1/courses/", HTTP_HOST="lms.example.org")
    listed = selectors.attach_lesson_stats(list(selectors.course_page_source(user=admin_user)))
    annotated = list(selectors.course_with_stats().order_by("pk"))
    assert len(listed) == len(annotated) == 4
    listed.sort(key=lambda course: course.pk)

    reference = CourseSerializer(annotated, many=True, context={"request": request}).data
    assert CourseReader(request).many(listed) == _json(reference)
    assert CourseReader(request).many(annotated) == _json(reference)
    by_id = {item["id"]: item for item in reference}
    assert by_id[str(with_lessons.pk)]["lesson_count"] == 2
    assert by_id[str(with_lessons.pk)]["total_duration_seconds"] == 120
    urls = [item["thumbnail_url"] for item in reference if item["thumbnail_url"]]
    assert urls and urls[0].startswith("http://lms.example.org/api/v1/courses/")
