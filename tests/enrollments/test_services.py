"""Enrollment services called directly against the real test database (SQLite by default,
PostgreSQL with DATABASE_URL): the rules for enrolling, cancelling and completing, the signal sent
after commit, and the unique constraint turned into `already_enrolled`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from courses.models import Course, CourseStatus
from eduflow.core.exceptions import Conflict, Forbidden, PaymentRequired
from enrollments import services
from enrollments.models import Enrollment, EnrollmentStatus
from enrollments.signals import enrollment_completed
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def course(instructor):
    return factories.PublishedCourseFactory(instructor=instructor)


@pytest.fixture
def completions():
    """Records every `enrollment_completed` signal while the test runs."""
    received: list[Enrollment] = []

    def receiver(sender, enrollment, **kwargs):
        assert sender is Enrollment
        received.append(enrollment)

    enrollment_completed.connect(receiver, weak=False)
    yield received
    enrollment_completed.disconnect(receiver)


# --- enrollment_create ---------------------------------------------------------------------------


def test_self_enrollment_creates_an_active_enrollment(student, course):
    before = timezone.now()

    enrollment = services.enrollment_create(actor=student, course=course)

    stored = Enrollment.objects.get(pk=enrollment.pk)
    assert (stored.user, stored.course, stored.status) == (student, course, "active")
    assert stored.enrolled_at >= before
    assert stored.completed_at is None and stored.cancelled_at is None


@pytest.mark.parametrize("status", [EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED])
def test_holding_a_seat_already_is_a_conflict(student, course, status):
    factories.EnrollmentFactory(user=student, course=course, status=status)

    with pytest.raises(Conflict) as caught:
        services.enrollment_create(actor=student, course=course)

    assert caught.value.problem_code == "already_enrolled"
    assert Enrollment.objects.filter(user=student, course=course).count() == 1
    assert Enrollment.objects.get(user=student, course=course).status == status


def test_re_enrolling_after_cancelling_reactivates_the_same_row(student, course):
    first = services.enrollment_create(actor=student, course=course)
    services.enrollment_cancel(actor=student, enrollment=first)
    first.refresh_from_db()
    cancelled_enrolled_at = first.enrolled_at

    again = services.enrollment_create(actor=student, course=course)

    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.status == EnrollmentStatus.ACTIVE
    assert again.cancelled_at is None
    assert again.enrolled_at > cancelled_enrolled_at
    assert Enrollment.objects.filter(user=student, course=course).count() == 1


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.ARCHIVED])
def test_a_course_that_is_not_published_cannot_be_joined(admin_user, student, status):
    course = factories.CourseFactory(status=status)

    for actor, user in ((admin_user, None), (course.instructor, student)):
        with pytest.raises(Conflict) as caught:
            services.enrollment_create(actor=actor, course=course, user=user)
        assert caught.value.problem_code == "course_not_published"
    assert not Enrollment.objects.exists()


def test_paid_course_needs_payment_for_self_enrollment(student, admin_user):
    course = factories.PublishedCourseFactory(price=Decimal("49.00"))

    for actor in (student, admin_user, course.instructor):
        with pytest.raises(PaymentRequired) as caught:
            services.enrollment_create(actor=actor, course=course)
        assert caught.value.problem_code == "payment_required"
    assert not Enrollment.objects.exists()


def test_admin_and_owner_enroll_others_into_a_paid_course(student, admin_user):
    course = factories.PublishedCourseFactory(price=Decimal("49.00"))
    other = factories.UserFactory()

    by_admin = services.enrollment_create(actor=admin_user, course=course, user=student)
    by_owner = services.enrollment_create(actor=course.instructor, course=course, user=other)

    assert (by_admin.user, by_admin.status) == (student, EnrollmentStatus.ACTIVE)
    assert (by_owner.user, by_owner.status) == (other, EnrollmentStatus.ACTIVE)


@pytest.mark.parametrize("actor_kind", ["student", "other_instructor"])
def test_only_admin_and_owner_enroll_others(request, course, actor_kind):
    actor = request.getfixturevalue(actor_kind)
    target = factories.UserFactory()

    with pytest.raises(Forbidden) as caught:
        services.enrollment_create(actor=actor, course=course, user=target)

    assert caught.value.problem_code == "cannot_enroll_others"
    assert not Enrollment.objects.exists()


def test_naming_yourself_as_user_is_self_enrollment(student):
    paid = factories.PublishedCourseFactory(price=Decimal("10.00"))

    with pytest.raises(PaymentRequired):
        services.enrollment_create(actor=student, course=paid, user=student)


def test_capacity_counts_active_and_completed_but_not_cancelled(student):
    course = factories.PublishedCourseFactory(capacity=3)
    factories.EnrollmentFactory(course=course, status=EnrollmentStatus.ACTIVE)
    factories.EnrollmentFactory(course=course, status=EnrollmentStatus.CANCELLED)
    factories.EnrollmentFactory(course=course, status=EnrollmentStatus.COMPLETED)

    services.enrollment_create(actor=student, course=course)  # third seat

    with pytest.raises(Conflict) as caught:
        services.enrollment_create(actor=factories.UserFactory(), course=course)
    assert caught.value.problem_code == "course_full"
    assert Enrollment.objects.filter(course=course).holding_seat().count() == 3


def test_capacity_applies_to_admins_enrolling_others(admin_user, student):
    course = factories.PublishedCourseFactory(capacity=1)
    factories.EnrollmentFactory(course=course)

    with pytest.raises(Conflict) as caught:
        services.enrollment_create(actor=admin_user, course=course, user=student)

    assert caught.value.problem_code == "course_full"


def test_reactivation_needs_a_free_seat(student):
    course = factories.PublishedCourseFactory(capacity=1)
    mine = factories.EnrollmentFactory(
        user=student, course=course, status=EnrollmentStatus.CANCELLED
    )
    factories.EnrollmentFactory(course=course)

    with pytest.raises(Conflict) as caught:
        services.enrollment_create(actor=student, course=course)

    assert caught.value.problem_code == "course_full"
    mine.refresh_from_db()
    assert mine.status == EnrollmentStatus.CANCELLED


def test_unique_constraint_violation_becomes_already_enrolled(student, course, monkeypatch):
    existing = factories.EnrollmentFactory(user=student, course=course)
    # Pretend the lookup missed the row (as a writer outside the course lock could): the insert
    # then hits the (user, course) unique constraint.
    monkeypatch.setattr(services, "_existing_enrollment", lambda **kwargs: None)

    with transaction.atomic():
        with pytest.raises(Conflict) as caught:
            services.enrollment_create(actor=student, course=course)
        # The failed insert ran in a savepoint: the surrounding transaction is still usable.
        assert Enrollment.objects.filter(user=student, course=course).count() == 1

    assert caught.value.problem_code == "already_enrolled"
    assert list(Enrollment.objects.values_list("pk", flat=True)) == [existing.pk]


def test_a_course_deleted_after_validation_is_a_validation_error(student):
    course = factories.PublishedCourseFactory()
    Course.objects.filter(pk=course.pk).delete()

    with pytest.raises(ValidationError) as caught:
        services.enrollment_create(actor=student, course=course)

    assert list(caught.value.message_dict) == ["course"]
    assert not Enrollment.objects.exists()


# --- enrollment_cancel ---------------------------------------------------------------------------


@pytest.mark.parametrize("actor_kind", ["enrolled", "instructor", "admin_user"])
def test_enrolled_user_owner_and_admin_cancel(request, student, course, actor_kind):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    actor = student if actor_kind == "enrolled" else request.getfixturevalue(actor_kind)

    result = services.enrollment_cancel(actor=actor, enrollment=enrollment)

    stored = Enrollment.objects.get(pk=enrollment.pk)
    assert stored.status == result.status == EnrollmentStatus.CANCELLED
    assert stored.cancelled_at is not None


def test_cancelling_twice_changes_nothing(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    services.enrollment_cancel(actor=student, enrollment=enrollment)
    first = Enrollment.objects.get(pk=enrollment.pk)

    services.enrollment_cancel(actor=student, enrollment=enrollment)

    second = Enrollment.objects.get(pk=enrollment.pk)
    assert second.status == EnrollmentStatus.CANCELLED
    assert (second.cancelled_at, second.updated_at) == (first.cancelled_at, first.updated_at)


def test_completed_enrollment_cannot_be_cancelled(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    services.enrollment_complete(enrollment=enrollment)

    with pytest.raises(Conflict) as caught:
        services.enrollment_cancel(actor=student, enrollment=enrollment)

    assert caught.value.problem_code == "enrollment_completed"
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.COMPLETED


@pytest.mark.parametrize("actor_kind", ["student", "other_instructor"])
def test_others_cannot_cancel(request, course, actor_kind):
    enrollment = factories.EnrollmentFactory(course=course)

    with pytest.raises(Forbidden) as caught:
        services.enrollment_cancel(actor=request.getfixturevalue(actor_kind), enrollment=enrollment)

    assert caught.value.problem_code == "cannot_cancel_enrollment"
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.ACTIVE


def test_cancelling_a_vanished_enrollment_is_not_found(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    Enrollment.objects.filter(pk=enrollment.pk).delete()

    with pytest.raises(Http404):
        services.enrollment_cancel(actor=student, enrollment=enrollment)


# --- enrollment_complete -------------------------------------------------------------------------


def test_complete_marks_completed_and_signals_after_commit(
    django_capture_on_commit_callbacks, completions, student, course
):
    enrollment = factories.EnrollmentFactory(user=student, course=course)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.enrollment_complete(enrollment=enrollment)
        assert completions == []  # nothing is announced before the commit

    stored = Enrollment.objects.get(pk=enrollment.pk)
    assert stored.status == enrollment.status == EnrollmentStatus.COMPLETED
    assert stored.completed_at is not None
    assert len(callbacks) == 1
    callbacks[0]()
    assert [e.pk for e in completions] == [enrollment.pk]
    assert completions[0].status == EnrollmentStatus.COMPLETED


def test_completing_twice_signals_once_and_keeps_the_first_time(
    django_capture_on_commit_callbacks, completions, course
):
    enrollment = factories.EnrollmentFactory(course=course)

    with django_capture_on_commit_callbacks(execute=True):
        services.enrollment_complete(enrollment=enrollment)
    first_completed_at = Enrollment.objects.get(pk=enrollment.pk).completed_at

    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        services.enrollment_complete(enrollment=Enrollment.objects.get(pk=enrollment.pk))

    assert second_callbacks == []
    assert [e.pk for e in completions] == [enrollment.pk]
    assert Enrollment.objects.get(pk=enrollment.pk).completed_at == first_completed_at


def test_a_stale_instance_does_not_complete_twice(django_capture_on_commit_callbacks, completions):
    enrollment = factories.EnrollmentFactory()
    stale = Enrollment.objects.get(pk=enrollment.pk)  # still says "active"

    with django_capture_on_commit_callbacks(execute=True):
        services.enrollment_complete(enrollment=enrollment)
        services.enrollment_complete(enrollment=stale)

    assert len(completions) == 1
    assert stale.status == EnrollmentStatus.COMPLETED


def test_no_signal_when_the_transaction_rolls_back(django_capture_on_commit_callbacks, completions):
    enrollment = factories.EnrollmentFactory()

    class Abort(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Abort),
        transaction.atomic(),
    ):
        services.enrollment_complete(enrollment=enrollment)
        raise Abort

    assert callbacks == []
    assert completions == []
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.ACTIVE


def test_cancelled_enrollment_cannot_be_completed(completions):
    enrollment = factories.EnrollmentFactory(status=EnrollmentStatus.CANCELLED)

    with pytest.raises(Conflict) as caught:
        services.enrollment_complete(enrollment=enrollment)

    assert caught.value.problem_code == "enrollment_cancelled"
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.CANCELLED
    assert completions == []


def test_completion_never_reverts_through_re_enrollment(student, course):
    enrollment = factories.EnrollmentFactory(user=student, course=course)
    services.enrollment_complete(enrollment=enrollment)

    with pytest.raises(Conflict) as caught:
        services.enrollment_create(actor=student, course=course)

    assert caught.value.problem_code == "already_enrolled"
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.COMPLETED
