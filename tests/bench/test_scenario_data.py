"""The benchmark's scenario data helpers against the test database (SQLite by default,
PostgreSQL with DATABASE_URL): the smallest generated data set (100 progress records: one
student, 10 courses of 20 lessons) made by the real generator, no stubs.

They decide what the load rows send, so a mistake here would show as errors in a long run:
an enrollment pair enrolled before (409 instead of 201), a dashboard student without its 10
enrollments, a probe counting the wrong thing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher

from bench.datagen import EMAIL_DOMAIN, Generator, ScenarioData, bench_id
from bench.loadgen import Request
from bench.scenarios import argon2_parameters, probe_request
from enrollments.models import Enrollment, EnrollmentStatus

pytestmark = pytest.mark.django_db(transaction=False)

RECORDS = 100


@pytest.fixture
def data() -> ScenarioData:
    generator = Generator(show_progress=False)
    generator.ensure_scale(RECORDS)
    return ScenarioData(generator)


def test_enrollment_pairs_are_new_distinct_and_skip_pairs_taken_before(data):
    first = data.enrollment_pairs(RECORDS, 25)

    assert len(first) == len(set(first)) == 25
    # Enroller 0 with each of the 10 courses, then enroller 1 ...: neighbours differ in course.
    assert first[0][1] != first[1][1]
    assert {user for user, _course in first} == {bench_id("enroller", n) for n in range(3)}
    assert data.enrolled_pairs(first) == 0

    for user_id, course_id in first[:5]:
        Enrollment.objects.create(
            user_id=user_id, course_id=course_id, status=EnrollmentStatus.ACTIVE
        )
    second = data.enrollment_pairs(RECORDS, 25)

    assert data.enrolled_pairs(first) == 5
    assert not set(second) & set(first[:5])
    assert second[:20] == first[5:]  # the same order, the taken pairs left out


def test_dashboard_students_have_exactly_their_ten_enrollments_or_the_run_stops(data):
    (student,) = data.students_with_enrollments(RECORDS, 1)

    assert student == bench_id("student", 0)
    assert data.student_emails(RECORDS, 1) == [f"bench-student-000000@{EMAIL_DOMAIN}"]

    Enrollment.objects.filter(user_id=student).first().delete()
    with pytest.raises(SystemExit, match="exactly 10 active enrollments"):
        data.students_with_enrollments(RECORDS, 1)


def test_course_ids_are_spread_over_the_catalog(data):
    assert data.course_ids(RECORDS, 3) == [bench_id("course", n) for n in (0, 3, 6)]
    assert len(data.course_ids(RECORDS, 300)) == 10  # never more than exist


@pytest.mark.argon2
def test_login_rows_report_the_configured_argon2_parameters():
    hasher = Argon2PasswordHasher()

    assert argon2_parameters() == (
        f"Argon2id: time_cost={hasher.time_cost}, memory_cost={hasher.memory_cost} KiB, "
        f"parallelism={hasher.parallelism}"
    )


def test_a_probe_counts_the_sql_and_cache_round_trips_of_one_request_in_process(data):
    detail = f"/api/v1/courses/{bench_id('course', 0)}/"

    text, statements = probe_request(Request("GET", detail))
    missing, _ = probe_request(Request("GET", "/api/v1/courses/not-a-uuid/"))

    sql, cache = (part.strip() for part in text.split(","))
    queries = int(sql.removeprefix("SQL "))
    assert queries >= 1 and queries == len(statements.splitlines())
    assert "courses_course" in statements
    # The anonymous throttle reads and writes its counter: at least one cache round trip.
    assert int(cache.split()[-1]) >= 1
    assert "probe answered" not in text
    assert "probe answered 404" in missing
