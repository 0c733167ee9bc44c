"""The enrollment admin through Django's test client with a logged-in staff session: the change
list (columns, search, filters), and the cancel/complete actions, which go through the services
(so their rules and the completion signal apply) against the test database.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from enrollments.models import Enrollment, EnrollmentStatus
from enrollments.signals import enrollment_completed
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/enrollments/enrollment/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def run_action(admin_client, action, enrollments):
    return admin_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(e.pk) for e in enrollments]},
        follow=True,
    )


def test_changelist_shows_columns_and_searches(admin_client):
    wanted = factories.EnrollmentFactory(course__title="Organic Chemistry")
    other = factories.EnrollmentFactory(course__title="Medieval Poetry")

    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    for heading in ("User", "Course", "Status", "Enrolled at"):
        assert heading in page.content.decode()

    by_title = admin_client.get(CHANGELIST, {"q": "chemistry"})
    by_email = admin_client.get(CHANGELIST, {"q": other.user.email})
    assert list(by_title.context["cl"].result_list) == [wanted]
    assert list(by_email.context["cl"].result_list) == [other]


def test_changelist_filters_by_status_and_course(admin_client):
    active = factories.EnrollmentFactory()
    cancelled = factories.EnrollmentFactory(status=EnrollmentStatus.CANCELLED)

    by_status = admin_client.get(CHANGELIST, {"status__exact": "cancelled"})
    by_course = admin_client.get(CHANGELIST, {"course__id__exact": str(active.course_id)})

    assert list(by_status.context["cl"].result_list) == [cancelled]
    assert list(by_course.context["cl"].result_list) == [active]


def test_no_adding_no_editing_no_bulk_delete(admin_client):
    enrollment = factories.EnrollmentFactory()

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    change = admin_client.post(f"{CHANGELIST}{enrollment.pk}/change/", {"status": "completed"})
    assert change.status_code == 403
    actions = admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    names = {name for name, _ in actions}
    assert {"cancel_enrollments", "complete_enrollments"} <= names
    assert "delete_selected" not in names
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.ACTIVE


def test_cancel_action_uses_the_service_rules(admin_client):
    active = factories.EnrollmentFactory()
    completed = factories.EnrollmentFactory(status=EnrollmentStatus.COMPLETED)

    response = run_action(admin_client, "cancel_enrollments", [active, completed])

    active.refresh_from_db()
    completed.refresh_from_db()
    assert active.status == EnrollmentStatus.CANCELLED
    assert active.cancelled_at is not None
    assert completed.status == EnrollmentStatus.COMPLETED
    messages = [str(m) for m in response.context["messages"]]
    assert "1 enrollment cancelled." in messages
    assert any("completed enrollment cannot be cancelled" in m for m in messages)


def test_complete_action_completes_and_signals_once(
    admin_client, django_capture_on_commit_callbacks
):
    enrollment = factories.EnrollmentFactory()
    received = []

    def receiver(sender, enrollment, **kwargs):
        received.append(enrollment.pk)

    enrollment_completed.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_action(admin_client, "complete_enrollments", [enrollment])
            run_action(admin_client, "complete_enrollments", [enrollment])
    finally:
        enrollment_completed.disconnect(receiver)

    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert received == [enrollment.pk]


def test_actions_need_the_change_permission(client):
    staff = factories.UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_enrollment"))
    client.force_login(staff)
    enrollment = factories.EnrollmentFactory()

    page = client.get(CHANGELIST)
    run_action(client, "cancel_enrollments", [enrollment])

    assert page.status_code == 200
    action_form = page.context["action_form"]
    names = set() if action_form is None else {n for n, _ in action_form.fields["action"].choices}
    assert "cancel_enrollments" not in names
    assert Enrollment.objects.get(pk=enrollment.pk).status == EnrollmentStatus.ACTIVE
