"""Emails: welcome, enrollment confirmation, templates, send-once, retries, SMTP delivery.

Real parts: the Django/DRF stack, the test database, Celery in eager mode (the real tasks run
after commit), Django's locmem outbox, and for delivery and retry tests a real SMTP server on
loopback (aiosmtpd, started by a fixture). Nothing is mocked.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from accounts import services as account_services
from accounts.models import User
from accounts.tasks import send_welcome_email
from eduflow import celery_app
from eduflow.core.emails import TransientEmailError
from eduflow.core.models import SentEmail
from enrollments.email_tasks import send_enrollment_confirmation_email
from enrollments.models import Enrollment
from tests.factories import PublishedCourseFactory, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
STRONG = "plum-orbit-harbor-7319"


def register(client, capture, email="zoe@example.com", **extra):
    with capture(execute=True):
        response = client.post(
            REGISTER, {"email": email, "password": STRONG, **extra}, format="json"
        )
    assert response.status_code == 201, response.content
    return User.objects.get(pk=response.json()["id"])


def html_of(message) -> str:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return html


def test_registration_sends_a_welcome_in_text_and_html(
    api_client, django_capture_on_commit_callbacks
):
    register(api_client, django_capture_on_commit_callbacks, full_name="Zoë Łukasiewicz")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["zoe@example.com"]
    assert message.subject == "Welcome to EduFlow, Zoë Łukasiewicz"
    assert "Hello Zoë Łukasiewicz" in message.body
    assert "<strong>zoe@example.com</strong>" in html_of(message)
    assert "\n" not in message.subject


def test_the_welcome_waits_for_the_commit(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api_client.post(REGISTER, {"email": "a@example.com", "password": STRONG}, format="json")
    assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert [m.to for m in mail.outbox] == [["a@example.com"]]


def test_no_welcome_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        account_services.user_register(email="b@example.com", password=STRONG)
        raise RuntimeError("something later in the same transaction failed")
    assert callbacks == []
    assert mail.outbox == []
    assert not User.objects.filter(email="b@example.com").exists()


def test_welcome_task_run_twice_sends_once(api_client, django_capture_on_commit_callbacks):
    user = register(api_client, django_capture_on_commit_callbacks)
    assert send_welcome_email.apply(args=[str(user.pk)]).get() is False
    assert send_welcome_email.apply(args=[str(user.pk)]).get() is False
    assert len(mail.outbox) == 1
    assert SentEmail.objects.filter(key=f"welcome:{user.pk}").count() == 1


def test_welcome_task_for_a_deleted_user_does_nothing(db):
    user = UserFactory()
    user_id = str(user.pk)
    user.delete()
    assert send_welcome_email.apply(args=[user_id]).get() is False
    assert mail.outbox == []


def enroll(client, course, capture):
    with capture(execute=True):
        response = client.post("/api/v1/enrollments/", {"course": str(course.pk)}, format="json")
    assert response.status_code == 201, response.content
    return Enrollment.objects.get(pk=response.json()["id"])


def test_enrolling_sends_a_confirmation(make_client, django_capture_on_commit_callbacks):
    learner = UserFactory(full_name="Li Lei")
    course = PublishedCourseFactory(title="Rust for Pythonistas")
    enrollment = enroll(make_client(learner), course, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [learner.email]
    assert message.subject == "You are enrolled in Rust for Pythonistas"
    assert course.instructor.get_full_name() in message.body
    assert f"/api/v1/courses/{course.pk}/" in html_of(message)
    # Run twice: nothing new.
    assert send_enrollment_confirmation_email.apply(args=[str(enrollment.pk)]).get() is False
    assert len(mail.outbox) == 1


def test_re_enrolling_after_cancelling_confirms_again(
    make_client, django_capture_on_commit_callbacks
):
    learner = UserFactory()
    client = make_client(learner)
    course = PublishedCourseFactory()
    enrollment = enroll(client, course, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = client.delete(f"/api/v1/enrollments/{enrollment.pk}/")
    assert cancelled.status_code in (200, 204), cancelled.content
    # A cancelled enrollment gets no confirmation, even if the task runs late.
    assert send_enrollment_confirmation_email.apply(args=[str(enrollment.pk)]).get() is False
    again = enroll(client, course, django_capture_on_commit_callbacks)
    assert again.pk == enrollment.pk
    assert len(mail.outbox) == 2


def test_a_failed_enrollment_sends_nothing(make_client, django_capture_on_commit_callbacks):
    course = PublishedCourseFactory(capacity=1)
    Enrollment.objects.create(user=UserFactory(), course=course)
    with django_capture_on_commit_callbacks(execute=True):
        response = make_client(UserFactory()).post(
            "/api/v1/enrollments/", {"course": str(course.pk)}, format="json"
        )
    assert response.status_code == 409
    assert mail.outbox == []


def test_registration_mail_is_delivered_through_a_real_smtp_server(
    api_client, django_capture_on_commit_callbacks, smtp_settings
):
    register(api_client, django_capture_on_commit_callbacks, email="smtp@example.com")
    delivered = smtp_settings.inbox.wait_for(1, timeout=10)
    assert len(delivered) == 1
    received = delivered[0]
    assert received.rcpt_tos == ["smtp@example.com"]
    assert received.message["Subject"].startswith("Welcome to EduFlow")
    parts = {
        part.get_content_type(): part.get_content()
        for part in received.message.walk()
        if not part.is_multipart()
    }
    assert "your EduFlow account smtp@example.com is ready" in parts["text/plain"]
    assert "<strong>smtp@example.com</strong>" in parts["text/html"]


@pytest.fixture
def no_eager_propagation():
    """Eager retries re-run the task at once; keep the last attempt's outcome in the result."""
    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = previous


def test_an_unreachable_mail_server_is_retried_then_fails(settings, no_eager_propagation):
    from .smtp import free_port

    user = UserFactory()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    result = send_welcome_email.apply(args=[str(user.pk)], throw=False)
    assert result.failed()
    assert isinstance(result.result, TransientEmailError)
    assert "Could not reach the mail server" in str(result.result)
    assert not SentEmail.objects.exists()


class _Answering:
    """An SMTP handler that answers DATA with a fixed status and counts the attempts."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        return self.status


@pytest.mark.parametrize(
    ("status", "retried"),
    [("451 4.3.0 Try again later", True), ("550 5.1.1 No such mailbox", False)],
)
def test_only_temporary_smtp_answers_are_retried(settings, no_eager_propagation, status, retried):
    from aiosmtpd.controller import Controller

    from .smtp import free_port

    handler = _Answering(status)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
        result = send_welcome_email.apply(args=[str(UserFactory().pk)], throw=False)
    finally:
        controller.stop()
    assert result.failed()
    expected = send_welcome_email.max_retries + 1 if retried else 1
    assert handler.attempts == expected
    assert isinstance(result.result, TransientEmailError) is retried


PROJECT_TASK_PREFIXES = ("accounts.", "courses.", "media.", "enrollments.", "lessons.", "progress.")


def project_tasks():
    celery_app.loader.import_default_modules()
    return {
        name: task
        for name, task in celery_app.tasks.items()
        if name.startswith(PROJECT_TASK_PREFIXES)
    }


def test_every_task_states_its_delivery_policy():
    tasks = project_tasks()
    assert {
        "accounts.send_welcome_email",
        "accounts.send_password_reset_email",
        "accounts.purge_expired_credentials",
        "enrollments.send_enrollment_confirmation_email",
        "progress.send_daily_report_email",
        "media.transcode_asset",
        "media.clean_up_stuck_assets",
    } <= set(tasks)
    for name, task in tasks.items():
        assert task.acks_late, name
        assert task.reject_on_worker_lost or celery_app.conf.task_reject_on_worker_lost, name
        soft = task.soft_time_limit or celery_app.conf.task_soft_time_limit
        hard = task.time_limit or celery_app.conf.task_time_limit
        assert soft and hard and soft < hard, name


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("accounts.send_welcome_email", "email"),
        ("accounts.send_password_reset_email", "email"),
        ("enrollments.send_enrollment_confirmation_email", "email"),
        ("enrollments.send_course_completed_email", "email"),
        ("progress.send_daily_report_email", "email"),
        ("media.transcode_asset", "media"),
        ("media.clean_up_stuck_assets", "media"),
        ("accounts.purge_expired_credentials", "default"),
        ("enrollments.issue_certificate", "default"),
    ],
)
def test_tasks_are_routed_to_their_queue(name, queue):
    route = celery_app.amqp.router.route({}, name)
    assert route["queue"].name == queue


def test_email_tasks_retry_transient_errors_with_backoff_and_jitter():
    for name, task in project_tasks().items():
        if ".send_" not in name:
            continue
        assert TransientEmailError in task.autoretry_for, name
        assert task.retry_backoff and task.retry_jitter, name
        assert task.retry_backoff_max >= task.retry_backoff, name
