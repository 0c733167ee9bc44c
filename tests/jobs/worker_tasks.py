"""A task for the worker tests only, loaded into the worker with `-I tests.jobs.worker_tasks`.

`jobs_test.slow_email` records each start in Redis (host name and pid of the process running
it), sleeps, then sends one email at most once per key: the effect a killed-and-redelivered run
must produce exactly once.
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import shared_task
from django.conf import settings

from eduflow.core.emails import send_templated_email_once
from eduflow.core.tasks import task_options

STARTS_KEY = "jobs-test:starts:{key}"


@shared_task(bind=True, **task_options("jobs_test.slow_email", soft_time_limit=120, time_limit=150))
def slow_email(self, key: str, to: str, seconds: float) -> bool:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(
        STARTS_KEY.format(key=key),
        json.dumps({"hostname": self.request.hostname, "pid": os.getpid()}),
    )
    time.sleep(seconds)
    sent = send_templated_email_once(
        key=key,
        to=[to],
        template="welcome",
        context={"name": self.request.hostname, "email": to, "catalog_url": "http://x/"},
    )
    client.rpush(
        STARTS_KEY.format(key=key) + ":done",
        json.dumps({"hostname": self.request.hostname, "sent": sent}),
    )
    return sent
