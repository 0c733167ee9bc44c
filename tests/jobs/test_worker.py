"""Real Celery workers: separate `celery worker` processes (prefork pool) on the Redis broker,
sharing the test's PostgreSQL database, delivering mail to an SMTP server on loopback.

Real parts, all of them: Redis (broker, REDIS_CELERY_DB below, and the shared cache for locks),
PostgreSQL (pytest-django's `test_<name>` database, handed to the workers through
DATABASE_URL), aiosmtpd, ffmpeg for the transcode, the project's tasks. Nothing is mocked.
Skipped unless REDIS_URL and a PostgreSQL DATABASE_URL are set (CI sets both): a worker
cannot see SQLite's in-memory test database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection

from accounts.models import User
from eduflow.core.models import SentEmail
from media.models import AssetStatus, MediaAsset
from tests.factories import PublishedCourseFactory, UserFactory

from .worker_tasks import STARTS_KEY

BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/10")
ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis for the broker: set REDIS_URL (CI does)",
    ),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL): workers cannot share SQLite's test database",
    ),
    pytest.mark.django_db(transaction=True),
]


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Worker:
    """One `celery worker` subprocess in its own process group; always killed on teardown."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._handle = self.log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed command line
            [
                CELERY,
                "-A",
                "eduflow",
                "worker",
                "-Q",
                "default,media,email",
                "--pool",
                "prefork",
                "-c",
                "1",
                "-n",
                f"{name}@%h",
                "-I",
                "tests.jobs.worker_tasks",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.text()[-4000:]}")
            return " ready." in self.text()

        wait_until(ready, timeout=timeout, what=f"worker {self.name} to be ready")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): no goodbye to the broker."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._handle.close()


@pytest.fixture
def smtp(smtp_server):
    return smtp_server


@pytest.fixture
def broker():
    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def start_worker(transactional_db, smtp, broker, tmp_path, settings):
    """Start workers sharing this test's database, cache, broker, mail server and media root."""
    db = connection.settings_dict
    media_root = tmp_path / "media"
    media_root.mkdir()
    settings.MEDIA_ROOT = str(media_root)
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_BROKER_VISIBILITY_TIMEOUT": "10",
        "CELERY_BROKER_RESTORE_INTERVAL": "1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "MEDIA_ROOT": str(media_root),
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "1",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONPATH": str(ROOT),
    }
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(name, env, tmp_path)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture
def producer():
    """A Celery client of the broker (the test process itself runs tasks eagerly)."""
    app = Celery("eduflow-test-producer", broker=BROKER_URL, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    yield app
    app.close()


def test_a_worker_sends_the_welcome_email(start_worker, producer, smtp):
    start_worker("mail")
    user = UserFactory(email="worker@example.com")
    producer.send_task("accounts.send_welcome_email", args=[str(user.pk)], queue="email")
    delivered = smtp.inbox.wait_for(1, timeout=60)
    assert [m.rcpt_tos for m in delivered] == [["worker@example.com"]]
    wait_until(
        lambda: SentEmail.objects.filter(key=f"welcome:{user.pk}").exists(),
        timeout=10,
        what="the sent-email marker",
    )
    # Delivered again (as after a lost acknowledgement): nothing new goes out.
    producer.send_task("accounts.send_welcome_email", args=[str(user.pk)], queue="email")
    producer.send_task("accounts.send_welcome_email", args=[str(user.pk)], queue="email")
    time.sleep(3)
    assert len(smtp.inbox.messages) == 1


def test_a_worker_issues_a_certificate_and_mails_it(start_worker, producer, smtp):
    from enrollments.models import Certificate, Enrollment, EnrollmentStatus

    start_worker("certs")
    learner = UserFactory(full_name="Zoë Łukasiewicz \u2013 李雷", email="zoe@example.com")
    course = PublishedCourseFactory(title="Distributed Systems")
    enrollment = Enrollment.objects.create(
        user=learner, course=course, status=EnrollmentStatus.COMPLETED
    )
    Enrollment.objects.filter(pk=enrollment.pk).update(completed_at=enrollment.enrolled_at)
    producer.send_task("enrollments.issue_certificate", args=[str(enrollment.pk)], queue="default")
    certificate = wait_until(
        lambda: (
            Certificate.objects.filter(user=learner, course=course).exclude(pdf_sha256="").first()
        ),
        timeout=90,
        what="the certificate and its PDF",
    )
    assert certificate.learner_name == "Zoë Łukasiewicz \u2013 李雷"
    delivered = smtp.inbox.wait_for(1, timeout=60)
    assert [m.rcpt_tos for m in delivered] == [["zoe@example.com"]]
    # Issued exactly once even when the task is delivered twice more.
    for _ in range(2):
        producer.send_task(
            "enrollments.issue_certificate", args=[str(enrollment.pk)], queue="default"
        )
    time.sleep(4)
    assert Certificate.objects.filter(user=learner, course=course).count() == 1
    assert len(smtp.inbox.messages) == 1


def test_a_worker_transcodes_a_video(start_worker, producer, tmp_path):
    from tests.media import hls_samples, samples

    samples.require_ffmpeg()
    start_worker("media")
    asset = hls_samples.video_asset(UserFactory(role="instructor"), tmp_path, seconds=3)
    producer.send_task("media.transcode_asset", args=[str(asset.pk)], queue="media")
    done = wait_until(
        lambda: MediaAsset.objects.filter(
            pk=asset.pk, status__in=[AssetStatus.READY, AssetStatus.FAILED]
        ).first(),
        timeout=180,
        what="the transcode",
        interval=0.5,
    )
    assert done.status == AssetStatus.READY, done.error
    assert done.renditions["master"].endswith("master.m3u8")
    assert (Path(settings.MEDIA_ROOT) / done.renditions["master"]).is_file()


def test_a_task_whose_worker_is_killed_completes_on_another_worker_once(
    start_worker, producer, smtp, broker
):
    """The message of a task whose worker died unacknowledged goes back to the queue after the
    broker's visibility timeout (10 s here, CELERY_BROKER_VISIBILITY_TIMEOUT) and runs again
    on the second worker; the task takes 3 s, well inside that timeout."""
    cache_redis = redis.Redis.from_url(settings.REDIS_URL)
    key = f"jobs-test:{uuid.uuid4()}"
    starts_key = STARTS_KEY.format(key=key)
    cache_redis.delete(starts_key, starts_key + ":done")
    try:
        first = start_worker("first")
        producer.send_task(
            "jobs_test.slow_email", args=[key, "once@example.com", 3], queue="default"
        )
        started = wait_until(
            lambda: cache_redis.lrange(starts_key, 0, -1), timeout=60, what="the slow task"
        )
        run = json.loads(started[0])
        assert run["hostname"].startswith("first@")
        assert run["pid"] != first.process.pid  # a pool child ran it, not the main process
        first.kill()  # SIGKILL mid-task: main process and the child running the task
        assert smtp.inbox.messages == []

        start_worker("second")
        done = wait_until(
            lambda: cache_redis.lrange(starts_key + ":done", 0, -1),
            timeout=90,
            what="the task to complete on the second worker",
        )
        finished = [json.loads(item) for item in done]
        assert [f["hostname"].split("@")[0] for f in finished] == ["second"]
        assert finished[0]["sent"] is True
        starts = [json.loads(item) for item in cache_redis.lrange(starts_key, 0, -1)]
        assert [s["hostname"].split("@")[0] for s in starts] == ["first", "second"]
        # Exactly once in effect: one message, one marker row.
        assert len(smtp.inbox.wait_for(1, timeout=10)) == 1
        time.sleep(2)
        assert len(smtp.inbox.messages) == 1
        assert (
            wait_until(lambda: SentEmail.objects.filter(key=key).count(), timeout=10, what="marker")
            == 1
        )
    finally:
        cache_redis.delete(starts_key, starts_key + ":done")


def test_user_rows_written_by_the_test_are_visible_to_workers(start_worker, producer, smtp):
    """Guards the set-up the other tests rely on: the workers use this test's database."""
    start_worker("db")
    user = User.objects.create_user(email="shared@example.com", password=None)
    producer.send_task("accounts.send_welcome_email", args=[str(user.pk)], queue="email")
    assert smtp.inbox.wait_for(1, timeout=60)[0].rcpt_tos == ["shared@example.com"]
