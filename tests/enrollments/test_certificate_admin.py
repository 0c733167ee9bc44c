"""Certificate admin through Django's test client as a logged-in superuser: list, search,
revoke (with the reason page) and re-render, all calling the services. Files under a temporary
MEDIA_ROOT. No mocks.
"""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.core.files.storage import default_storage

from enrollments import services
from enrollments.models import Certificate, CertificateStatus
from tests import factories

CHANGELIST = "/admin/enrollments/certificate/"


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def certificates(db, django_capture_on_commit_callbacks):
    course = factories.PublishedCourseFactory(title="Linear Algebra")
    made = []
    for name in ("Ada Lovelace", "Alan Turing"):
        enrollment = factories.EnrollmentFactory(
            user=factories.UserFactory(full_name=name), course=course
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.enrollment_complete(enrollment=enrollment)
        made.append(Certificate.objects.get(user=enrollment.user))
    return made


@pytest.fixture
def staff_client(db, client):
    client.force_login(factories.AdminFactory())
    return client


def test_list_and_search(staff_client, certificates):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"Ada Lovelace" in response.content and b"Alan Turing" in response.content

    by_name = staff_client.get(CHANGELIST, {"q": "Lovelace"})
    assert b"Ada Lovelace" in by_name.content and b"Alan Turing" not in by_name.content
    by_code = staff_client.get(CHANGELIST, {"q": certificates[1].code})
    assert b"Alan Turing" in by_code.content and b"Ada Lovelace" not in by_code.content
    by_course = staff_client.get(CHANGELIST, {"q": "Linear"})
    assert b"Ada Lovelace" in by_course.content and b"Alan Turing" in by_course.content


def test_revoke_action_asks_for_a_reason_then_revokes(staff_client, certificates):
    selected = {
        "action": "revoke_certificates",
        helpers.ACTION_CHECKBOX_NAME: [str(certificates[0].pk)],
    }
    page = staff_client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert b"reason" in page.content
    certificates[0].refresh_from_db()
    assert certificates[0].status == CertificateStatus.VALID

    # Applying without a reason shows the page again and changes nothing.
    again = staff_client.post(CHANGELIST, {**selected, "apply": "1", "reason": ""})
    assert again.status_code == 200
    certificates[0].refresh_from_db()
    assert certificates[0].status == CertificateStatus.VALID

    done = staff_client.post(CHANGELIST, {**selected, "apply": "1", "reason": "Exam fraud"})
    assert done.status_code == 302
    certificates[0].refresh_from_db()
    certificates[1].refresh_from_db()
    assert certificates[0].status == CertificateStatus.REVOKED
    assert certificates[0].revoked_reason == "Exam fraud"
    assert certificates[1].status == CertificateStatus.VALID


def test_rerender_action_keeps_the_frozen_data(staff_client, certificates):
    certificate = certificates[0]
    sha = certificate.pdf_sha256
    certificate.user.full_name = "Changed Name"
    certificate.user.save()
    default_storage.delete(certificate.pdf.name)

    response = staff_client.post(
        CHANGELIST,
        {"action": "rerender_certificates", helpers.ACTION_CHECKBOX_NAME: [str(certificate.pk)]},
    )
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert default_storage.exists(certificate.pdf.name)
    assert certificate.pdf_sha256 == sha
    assert certificate.learner_name == "Ada Lovelace"


def test_certificates_cannot_be_added_or_edited(staff_client, certificates):
    assert staff_client.get(CHANGELIST + "add/").status_code == 403
    change = staff_client.post(
        f"{CHANGELIST}{certificates[0].pk}/change/", {"learner_name": "Forged"}
    )
    assert change.status_code == 403
    certificates[0].refresh_from_db()
    assert certificates[0].learner_name == "Ada Lovelace"
