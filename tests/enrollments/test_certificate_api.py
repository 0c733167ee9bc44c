"""Certificate endpoints through the whole HTTP stack (JWT auth, views, services, database,
file storage under a temporary MEDIA_ROOT or a real S3-compatible moto server on loopback).
No mocks.

Policy: certificates outside the caller's scope answer 404; forbidden actions on visible ones
403; the verification endpoint is public and throttled per client address.
"""

from __future__ import annotations

import hashlib
import io
import urllib.request

import pytest
from pypdf import PdfReader

from enrollments import services
from enrollments.models import Certificate, CertificateStatus
from tests import factories
from tests.conftest import client_for
from tests.media.conftest import s3_server, s3_storage  # noqa: F401  (fixtures)

LIST = "/api/v1/certificates/"


def detail(certificate) -> str:
    return f"/api/v1/certificates/{certificate.pk}/"


def download(certificate) -> str:
    return f"/api/v1/certificates/{certificate.pk}/download/"


def revoke(certificate) -> str:
    return f"/api/v1/certificates/{certificate.pk}/revoke/"


def verify(code: str) -> str:
    return f"/api/v1/certificates/verify/{code}/"


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CERTIFICATE_VERIFY_URL = ""


def issue(enrollment, capture) -> Certificate:
    with capture(execute=True):
        services.enrollment_complete(enrollment=enrollment)
    return Certificate.objects.get(user=enrollment.user, course=enrollment.course)


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    """One certificate, and every kind of caller."""
    owner_instructor = factories.InstructorFactory()
    course = factories.PublishedCourseFactory(instructor=owner_instructor)
    owner = factories.UserFactory(full_name="Owner Learner")
    certificate = issue(
        factories.EnrollmentFactory(user=owner, course=course), django_capture_on_commit_callbacks
    )
    return {
        "certificate": certificate,
        "anonymous": None,
        "owner": owner,
        "other_student": factories.UserFactory(),
        "course_instructor": owner_instructor,
        "other_instructor": factories.InstructorFactory(),
        "admin": factories.AdminFactory(),
    }


def call(world, role, method, url, data=None):
    client = client_for(world[role])
    return (
        getattr(client, method)(url, data, format="json") if data else getattr(client, method)(url)
    )


ROLES = ["anonymous", "owner", "other_student", "course_instructor", "other_instructor", "admin"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("owner", 1),
        ("other_student", 0),
        ("course_instructor", 1),
        ("other_instructor", 0),
        ("admin", 1),
    ],
)
def test_list_matrix(world, role, expected):
    response = call(world, role, "get", LIST)
    if expected == 401:
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        return
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == expected
    if expected:
        assert body["results"][0]["id"] == str(world["certificate"].pk)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("owner", 200),
        ("other_student", 404),
        ("course_instructor", 200),
        ("other_instructor", 404),
        ("admin", 200),
    ],
)
def test_retrieve_matrix(world, role, expected):
    response = call(world, role, "get", detail(world["certificate"]))
    assert response.status_code == expected
    if expected == 200:
        body = response.json()
        certificate = world["certificate"]
        assert body["code"] == certificate.code
        assert body["status"] == "valid"
        assert body["learner_name"] == "Owner Learner"
        assert body["pdf_sha256"] == certificate.pdf_sha256
        assert body["download_url"].endswith(download(certificate))
        assert body["verify_url"].endswith(verify(certificate.code))
    else:
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("anonymous", 401, None),
        ("owner", 200, None),
        ("other_student", 404, "not_found"),
        ("course_instructor", 403, "cannot_download_certificate"),
        ("other_instructor", 404, "not_found"),
        ("admin", 200, None),
    ],
)
def test_download_matrix(world, role, expected, code):
    response = call(world, role, "get", download(world["certificate"]))
    assert response.status_code == expected
    if expected == 200:
        assert response["Content-Type"] == "application/pdf"
        assert "attachment" in response["Content-Disposition"]
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == world["certificate"].pdf_sha256
        assert world["certificate"].code in PdfReader(io.BytesIO(data)).pages[0].extract_text()
    elif code:
        assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("anonymous", 401, None),
        ("owner", 403, "cannot_revoke_certificate"),
        ("other_student", 404, "not_found"),
        ("course_instructor", 403, "cannot_revoke_certificate"),
        ("other_instructor", 404, "not_found"),
        ("admin", 200, None),
    ],
)
def test_revoke_matrix(world, role, expected, code):
    response = call(world, role, "post", revoke(world["certificate"]), {"reason": "Plagiarism"})
    assert response.status_code == expected
    world["certificate"].refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == "revoked"
        assert world["certificate"].status == CertificateStatus.REVOKED
        assert world["certificate"].revoked_reason == "Plagiarism"
        assert world["certificate"].revoked_by == world["admin"]
    else:
        assert world["certificate"].status == CertificateStatus.VALID
        if code:
            assert response.json()["code"] == code


@pytest.mark.parametrize("role", ROLES)
def test_verify_is_public_for_everyone(world, role):
    certificate = world["certificate"]
    response = call(world, role, "get", verify(certificate.code))
    assert response.status_code == 200
    assert response.json() == {
        "code": certificate.code,
        "status": "valid",
        "learner_name": "Owner Learner",
        "course_title": certificate.course_title,
        "instructor_name": certificate.instructor_name,
        "completed_on": certificate.completed_on.isoformat(),
        "issued_at": response.json()["issued_at"],
        "revoked_at": None,
        "pdf_sha256": certificate.pdf_sha256,
    }
    assert response.json()["issued_at"].startswith(certificate.issued_at.date().isoformat())


def test_verify_ignores_a_broken_authorization_header(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get(verify(world["certificate"].code))
    assert response.status_code == 200


def test_verify_unknown_code_is_a_problem_404(db, api_client):
    response = api_client.get(verify("no-such-code-0123456789"))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_revoking_flips_verification_and_keeps_the_reason_private(world, api_client):
    certificate = world["certificate"]
    response = call(world, "admin", "post", revoke(certificate), {"reason": "  Identity fraud "})
    assert response.status_code == 200
    assert response.json()["revoked_reason"] == "Identity fraud"

    public = api_client.get(verify(certificate.code)).json()
    assert public["status"] == "revoked"
    assert public["revoked_at"] is not None
    assert "revoked_reason" not in public


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 5}])
def test_revoke_needs_a_reason(world, body):
    client = client_for(world["admin"])
    response = client.post(revoke(world["certificate"]), body, format="json")
    if body == {"reason": 5}:  # a number is coerced to the string "5": a (terse) reason
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "reason" in response.json()["errors"]
    world["certificate"].refresh_from_db()
    assert world["certificate"].status == CertificateStatus.VALID


def test_revoking_twice_is_a_conflict(world):
    client = client_for(world["admin"])
    assert client.post(revoke(world["certificate"]), {"reason": "x"}).status_code == 200
    response = client.post(revoke(world["certificate"]), {"reason": "y"})
    assert response.status_code == 409
    assert response.json()["code"] == "certificate_already_revoked"
    world["certificate"].refresh_from_db()
    assert world["certificate"].revoked_reason == "x"


def test_revoked_certificate_can_still_be_downloaded_by_its_owner(world):
    certificate = world["certificate"]
    services.certificate_revoke(actor=world["admin"], certificate=certificate, reason="x")
    assert call(world, "owner", "get", download(certificate)).status_code == 200


def test_download_before_the_pdf_is_rendered_is_a_conflict(world):
    Certificate.objects.filter(pk=world["certificate"].pk).update(pdf="")
    response = call(world, "owner", "get", download(world["certificate"]))
    assert response.status_code == 409
    assert response.json()["code"] == "certificate_not_ready"
    detail_body = call(world, "owner", "get", detail(world["certificate"])).json()
    assert detail_body["download_url"] is None


def test_download_from_s3_redirects_to_a_presigned_pdf(
    db,
    django_capture_on_commit_callbacks,
    s3_storage,  # noqa: F811
):
    certificate = issue(factories.EnrollmentFactory(), django_capture_on_commit_callbacks)
    response = client_for(certificate.user).get(download(certificate))
    assert response.status_code == 302
    with urllib.request.urlopen(response["Location"], timeout=10) as remote:  # noqa: S310
        assert remote.headers["Content-Type"] == "application/pdf"
        data = remote.read()
    assert hashlib.sha256(data).hexdigest() == certificate.pdf_sha256


def test_verify_route_is_not_taken_by_the_detail_route(world):
    client = client_for(world["admin"])
    assert client.get("/api/v1/certificates/verify/").status_code == 404
    assert client.get("/api/v1/certificates/not-a-uuid/").status_code == 404
    # A code that looks like a UUID still goes to verification.
    response = client.get(verify(str(world["certificate"].pk)))
    assert response.status_code == 404
    assert response.json()["detail"] == "No certificate has this verification code."


def test_verification_is_throttled_per_client_address(world, api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "certificate_verify": "3/min",
        },
    }
    from enrollments.views import CertificateVerifyThrottle

    CertificateVerifyThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        code = world["certificate"].code
        for _ in range(3):
            assert api_client.get(verify(code), REMOTE_ADDR="203.0.113.5").status_code == 200
        # Unknown codes count too (guessing is what the limit is for).
        blocked = api_client.get(verify("guess"), REMOTE_ADDR="203.0.113.5")
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "throttled"
        # A forged X-Forwarded-For from an untrusted peer changes nothing.
        forged = api_client.get(
            verify(code), REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="198.51.100.7"
        )
        assert forged.status_code == 429
        # Another address has its own allowance.
        assert api_client.get(verify(code), REMOTE_ADDR="203.0.113.6").status_code == 200
    finally:
        from rest_framework.settings import api_settings

        CertificateVerifyThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_list_query_count_does_not_grow_with_rows(
    db, django_capture_on_commit_callbacks, django_assert_num_queries
):
    admin = factories.AdminFactory()
    course = factories.PublishedCourseFactory()
    for _ in range(3):
        issue(factories.EnrollmentFactory(course=course), django_capture_on_commit_callbacks)
    client = client_for(admin)
    # JWT user lookup, count, page (user and course joined).
    with django_assert_num_queries(3):
        assert client.get(LIST).json()["count"] == 3
    for _ in range(3):
        issue(factories.EnrollmentFactory(course=course), django_capture_on_commit_callbacks)
    with django_assert_num_queries(3):
        assert client.get(LIST).json()["count"] == 6
