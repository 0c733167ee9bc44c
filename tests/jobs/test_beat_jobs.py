"""Scheduled jobs: the daily report, the media clean-up, the credential purge, their schedule,
and the cache lock that keeps two beat instances from running a job at once.

Real parts: the test database, the configured cache (local memory, or Redis with REDIS_URL),
Celery in eager mode, the locmem outbox, simplejwt's token tables. The transcode queued by the
clean-up is captured with `django_capture_on_commit_callbacks` and not executed (its own tests
live in tests/media/).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import PasswordResetToken
from accounts.tasks import purge_expired_credentials
from accounts.tokens import RefreshToken
from eduflow import celery_app
from eduflow.core import locks
from enrollments.models import Certificate, Enrollment, EnrollmentStatus
from media.models import AssetKind, AssetStatus, MediaAsset, Provider
from media.tasks import clean_up_stuck_assets
from progress.reports import send_daily_report_email
from tests.factories import AdminFactory, PublishedCourseFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 14)


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def activity():
    """Activity on DAY (counted) and on the days around it (not counted)."""
    admins = [AdminFactory(email="root@example.com"), AdminFactory(email="ops@example.com")]
    AdminFactory(email="former@example.com", is_active=False)
    course = PublishedCourseFactory()
    for when in (at(DAY, 0), at(DAY, 23), at(DAY - dt.timedelta(days=1), 23)):
        user = UserFactory(created_at=when)
        Enrollment.objects.create(user=user, course=course, enrolled_at=when)
    finished = UserFactory(created_at=at(DAY - dt.timedelta(days=3), 9))
    Enrollment.objects.create(
        user=finished,
        course=course,
        status=EnrollmentStatus.COMPLETED,
        enrolled_at=at(DAY - dt.timedelta(days=3), 9),
        completed_at=at(DAY, 12),
    )
    Certificate.objects.create(
        user=finished,
        course=course,
        issued_at=at(DAY, 12),
        learner_name="A",
        course_title=course.title,
        instructor_name="B",
        completed_on=DAY,
    )
    return admins


def test_the_daily_report_counts_one_day_and_goes_to_active_admins(activity):
    figures = send_daily_report_email.apply(args=[DAY.isoformat()]).get()
    # Users created on DAY: two learners (the admins were created now, not on DAY).
    assert figures == {
        "day": "2026-03-14",
        "new_users": 2,
        "enrollments": 2,
        "completions": 1,
        "certificates": 1,
        "sent": True,
    }
    (message,) = mail.outbox
    assert sorted(message.to) == ["ops@example.com", "root@example.com"]
    assert message.subject == "EduFlow activity on 2026-03-14"
    assert "New enrollments:  2" in message.body
    assert "Certificates:     1" in message.body
    assert "<td>1</td>" in message.alternatives[0][0]


def test_the_daily_report_runs_twice_and_sends_once(activity):
    first = send_daily_report_email.apply(args=[DAY.isoformat()]).get()
    second = send_daily_report_email.apply(args=[DAY.isoformat()]).get()
    assert first["sent"] is True and second["sent"] is False
    assert {k: v for k, v in first.items() if k != "sent"} == {
        k: v for k, v in second.items() if k != "sent"
    }
    assert len(mail.outbox) == 1


def test_the_scheduled_report_covers_yesterday(db):
    AdminFactory()
    figures = send_daily_report_email.apply().get()
    assert figures["day"] == (timezone.now().date() - dt.timedelta(days=1)).isoformat()


def test_the_daily_report_steps_aside_while_another_run_holds_its_lock(db):
    AdminFactory()
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    token = locks.acquire(f"job:progress.daily_report:{yesterday}", timeout=60)
    try:
        assert send_daily_report_email.apply().get() is None
    finally:
        assert locks.release(f"job:progress.daily_report:{yesterday}", token)
    assert mail.outbox == []
    assert send_daily_report_email.apply().get()["sent"] is True
    assert len(mail.outbox) == 1


def video(status: str, *, minutes_ago: int, **fields) -> MediaAsset:
    fields.setdefault("provider", Provider.LOCAL)
    asset = MediaAsset.objects.create(
        owner=UserFactory(role="instructor"), kind=AssetKind.VIDEO, status=status, **fields
    )
    MediaAsset.objects.filter(pk=asset.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )
    return asset


def test_stuck_videos_are_requeued_then_failed(django_capture_on_commit_callbacks, settings):
    settings.MEDIA_STUCK_AFTER_MINUTES = 60
    settings.MEDIA_STUCK_MAX_REQUEUES = 2
    stuck_uploaded = video(AssetStatus.UPLOADED, minutes_ago=61)
    stuck_processing = video(AssetStatus.PROCESSING, minutes_ago=500)
    fresh = video(AssetStatus.PROCESSING, minutes_ago=5)
    ready = video(AssetStatus.READY, minutes_ago=9000)
    mux = video(AssetStatus.UPLOADED, minutes_ago=9000, provider=Provider.MUX)
    exhausted = video(AssetStatus.UPLOADED, minutes_ago=61, metadata={"requeues": 2})

    with django_capture_on_commit_callbacks(execute=False) as queued:
        result = clean_up_stuck_assets.apply().get()
    assert result == {"requeued": 2, "failed": 1}
    assert len(queued) == 2

    for asset in (stuck_uploaded, stuck_processing):
        asset.refresh_from_db()
        assert asset.status == AssetStatus.UPLOADED
        assert asset.metadata["requeues"] == 1
    exhausted.refresh_from_db()
    assert exhausted.status == AssetStatus.FAILED
    assert "did not finish after 3 attempts" in exhausted.error
    for untouched, status in (
        (fresh, AssetStatus.PROCESSING),
        (ready, AssetStatus.READY),
        (mux, AssetStatus.UPLOADED),
    ):
        untouched.refresh_from_db()
        assert untouched.status == status

    # Run again at once: the requeued assets are fresh now, nothing changes.
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        assert clean_up_stuck_assets.apply().get() == {"requeued": 0, "failed": 0}
    assert queued_again == []


def test_clean_up_queues_the_real_transcode_task(django_capture_on_commit_callbacks, monkeypatch):
    from media import tasks as media_tasks

    queued: list[str] = []
    monkeypatch.setattr(
        media_tasks.transcode_asset, "delay", lambda asset_id: queued.append(asset_id)
    )
    asset = video(AssetStatus.UPLOADED, minutes_ago=10_000)
    with django_capture_on_commit_callbacks(execute=True):
        clean_up_stuck_assets.apply().get()
    assert queued == [str(asset.pk)]


def test_clean_up_steps_aside_while_another_run_holds_the_lock():
    asset = video(AssetStatus.UPLOADED, minutes_ago=10_000)
    token = locks.acquire("job:media.clean_up_stuck_assets", timeout=60)
    try:
        assert clean_up_stuck_assets.apply().get() is None
    finally:
        locks.release("job:media.clean_up_stuck_assets", token)
    asset.refresh_from_db()
    assert "requeues" not in asset.metadata


def test_purge_removes_spent_reset_tokens_and_expired_jwts():
    user = UserFactory()
    now = timezone.now()
    old = PasswordResetToken.objects.create(
        user=user, created_at=now - dt.timedelta(days=3), expires_at=now - dt.timedelta(days=2)
    )
    used = PasswordResetToken.objects.create(
        user=user,
        created_at=now - dt.timedelta(days=2),
        expires_at=now + dt.timedelta(days=1),
        used_at=now - dt.timedelta(days=2),
    )
    recent = PasswordResetToken.objects.create(
        user=user,
        created_at=now - dt.timedelta(minutes=40),
        expires_at=now - dt.timedelta(minutes=10),
    )
    live = PasswordResetToken.objects.create(user=user, expires_at=now + dt.timedelta(minutes=20))
    RefreshToken.for_user(user)
    expired_jwt = OutstandingToken.objects.create(
        user=user, jti="expired-jti", token="x", expires_at=now - dt.timedelta(seconds=1)
    )

    assert purge_expired_credentials.apply().get() == {"reset_tokens": 2}
    left = set(PasswordResetToken.objects.values_list("pk", flat=True))
    assert left == {recent.pk, live.pk}
    assert old.pk not in left and used.pk not in left
    assert not OutstandingToken.objects.filter(pk=expired_jwt.pk).exists()
    assert OutstandingToken.objects.filter(user=user).count() == 1
    # Twice: nothing left to remove.
    assert purge_expired_credentials.apply().get() == {"reset_tokens": 0}


def test_purge_steps_aside_while_another_run_holds_the_lock():
    user = UserFactory()
    PasswordResetToken.objects.create(user=user, expires_at=timezone.now() - dt.timedelta(days=5))
    token = locks.acquire("job:accounts.purge_expired_credentials", timeout=60)
    try:
        assert purge_expired_credentials.apply().get() is None
    finally:
        locks.release("job:accounts.purge_expired_credentials", token)
    assert PasswordResetToken.objects.count() == 1


def test_the_beat_schedule_names_registered_tasks():
    celery_app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} == {
        "progress.send_daily_report_email",
        "media.clean_up_stuck_assets",
        "accounts.purge_expired_credentials",
    }
    for entry in schedule.values():
        assert entry["task"] in celery_app.tasks
    daily = schedule["daily-activity-report"]["schedule"]
    assert daily.hour == {settings.SCHEDULE_DAILY_REPORT_HOUR} and daily.minute == {0}
