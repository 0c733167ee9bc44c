"""The cache lock (SET NX with expiry) under contention: threads against the local-memory cache
and against Redis, and separate processes against Redis.

Real parts: Django's local-memory cache; a real Redis server (REDIS_URL) for the Redis cases,
which are skipped with a reason when it is not set; real OS processes and threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from eduflow.core import locks

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set REDIS_URL (CI does)")


@pytest.fixture(params=["locmem", pytest.param("redis", marks=needs_redis)])
def lock_cache(request, settings):
    if request.param == "locmem":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "locks-test",
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": "eduflow-locks-test",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            }
        }
    cache.clear()
    yield request.param
    cache.clear()


def test_one_of_many_threads_gets_the_lock(lock_cache):
    contenders = 16
    barrier = threading.Barrier(contenders)
    tokens: list[str | None] = [None] * contenders

    def contend(index: int) -> None:
        barrier.wait(timeout=10)
        tokens[index] = locks.acquire("contended", timeout=30)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    winners = [token for token in tokens if token is not None]
    assert len(winners) == 1
    assert locks.acquire("contended", timeout=30) is None
    assert locks.release("contended", winners[0]) is True
    assert locks.acquire("contended", timeout=30) is not None


def test_guarded_work_never_overlaps(lock_cache):
    """Eight threads loop over a guarded section; at most one is ever inside it."""
    inside = 0
    most_inside = 0
    ran = 0
    guard = threading.Lock()
    deadline = time.monotonic() + 1.0

    def worker() -> None:
        nonlocal inside, most_inside, ran
        while time.monotonic() < deadline:
            with locks.cache_lock("section", timeout=30) as acquired:
                if not acquired:
                    continue
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                    ran += 1
                time.sleep(0.002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert ran > 1
    assert most_inside == 1


def test_only_the_holder_releases_and_expiry_frees_the_lock(lock_cache):
    token = locks.acquire("short", timeout=1)
    assert token is not None
    assert locks.release("short", "somebody-else") is False
    assert locks.acquire("short", timeout=1) is None
    time.sleep(1.3)
    late = locks.acquire("short", timeout=30)
    assert late is not None
    # The first holder outlived its expiry: its release must not free the new holder's lock.
    assert locks.release("short", token) is False
    assert locks.acquire("short", timeout=30) is None


_CONTENDER = """
import os, sys, time
import django
django.setup()
from eduflow.core import locks
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.001)
token = locks.acquire("across-processes", timeout=30)
print("won" if token else "lost", flush=True)
time.sleep(1)
"""


@needs_redis
def test_one_of_several_processes_gets_the_lock_through_redis(settings):
    start = time.time() + 3
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "eduflow.settings", "REDIS_URL": REDIS_URL}
    env.pop("DATABASE_URL", None)
    processes = [
        subprocess.Popen(  # noqa: S603 - fixed command line
            [sys.executable, "-c", _CONTENDER, str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        outcomes = [process.communicate(timeout=60)[0].strip() for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    from django_redis import get_redis_connection

    get_redis_connection("default").delete(cache.make_key("lock:across-processes"))
