"""Email tasks per second through a real Celery worker.

Standalone: `.venv/bin/python bench/email_bench.py [--count 300] [--concurrency 1,2] [--record]`.
Needs a Redis server (broker `--broker`, default redis://127.0.0.1:6379/12; cache and locks
`--redis-url`, default redis://127.0.0.1:6379/13; both databases are flushed). The database is
DATABASE_URL when set (its name must contain `bench`), else SQLite under var/bench/email/.

For each concurrency it: migrates, creates `--count` fresh users, starts
`celery -A eduflow worker -Q email --pool prefork -c <n>` delivering to an SMTP server on
loopback (aiosmtpd, in this process), queues one `accounts.send_welcome_email` per user and
times from the first message queued until the SMTP server has received them all. Each
message is rendered from the HTML and text templates, recorded in `SentEmail` (the send-once
marker) and sent over a fresh SMTP connection, as in production.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.machine import describe_machine, git_commit, load_average, now_utc  # noqa: E402


class Inbox:
    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.changed:
            self.count += 1
            self.changed.notify_all()
        return "250 OK"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", default="1,2")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args(argv)

    import redis
    from aiosmtpd.controller import Controller

    database_url = os.environ.get("DATABASE_URL", "")
    if database_url and "bench" not in database_url.rsplit("/", 1)[-1]:
        parser.error("DATABASE_URL must name a benchmark database (its name containing 'bench')")
    data_dir = BASE_DIR / "var" / "bench" / "email"
    data_dir.mkdir(parents=True, exist_ok=True)
    for url in (args.broker, args.redis_url):
        redis.Redis.from_url(url).flushdb()

    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "eduflow.settings",
        "DJANGO_DEBUG": "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        "EDUFLOW_DATA_DIR": str(data_dir),
        "REDIS_URL": args.redis_url,
        "CELERY_BROKER_URL": args.broker,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    import django

    django.setup()
    from celery import Celery

    from accounts.models import User

    producer = Celery("email-bench", broker=args.broker, set_as_current=False)
    rows = []
    load_start = load_average()
    try:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            run = uuid.uuid4().hex[:8]
            users = User.objects.bulk_create(
                User(email=f"bench-{run}-{i}@example.com", username=f"b{run}{i}", password="!")  # noqa: S106
                for i in range(args.count)
            )
            worker = subprocess.Popen(  # noqa: S603
                [
                    str(Path(sys.executable).with_name("celery")),
                    "-A",
                    "eduflow",
                    "worker",
                    "-Q",
                    "email",
                    "--pool",
                    "prefork",
                    "-c",
                    str(concurrency),
                    "-n",
                    f"bench{run}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "INFO",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            try:
                for line in worker.stdout:  # wait for "ready."
                    if " ready." in line:
                        break
                threading.Thread(target=lambda p=worker: p.stdout.read(), daemon=True).start()
                with inbox.changed:
                    inbox.count = 0
                started = time.perf_counter()
                for user in users:
                    producer.send_task(
                        "accounts.send_welcome_email", args=[str(user.pk)], queue="email"
                    )
                queued = time.perf_counter() - started
                deadline = time.monotonic() + args.timeout
                with inbox.changed:
                    while inbox.count < args.count and time.monotonic() < deadline:
                        inbox.changed.wait(1)
                    delivered = inbox.count
                elapsed = time.perf_counter() - started
            finally:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
            rows.append((concurrency, delivered, elapsed, queued))
            print(
                f"concurrency {concurrency}: {delivered}/{args.count} delivered in "
                f"{elapsed:.2f}s = {delivered / elapsed:.1f} emails/s (queueing {queued:.2f}s)"
            )
    finally:
        controller.stop()
        producer.close()

    database = "PostgreSQL" if database_url else "SQLite (var/bench/email)"
    table = [
        f"### Run of {now_utc():%Y-%m-%d %H:%M} UTC (commit {git_commit()})",
        "",
        f"- Machine: {describe_machine()}; load average at the start {load_start}, "
        f"at the end {load_average()}.",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/email_bench.py', *sys.argv[1:]])}`.",
        f"- Broker Redis, cache and locks Redis, database {database}; SMTP server aiosmtpd on "
        "loopback in the benchmark process. Timed from the first task queued to the last "
        "message received.",
        "",
        "| Worker | Emails | Seconds | Emails/s | Queueing (s) |",
        "|---|---:|---:|---:|---:|",
        *(f"| prefork, -c {c} | {d} | {e:.2f} | {d / e:.1f} | {q:.2f} |" for c, d, e, q in rows),
        "",
    ]
    print("\n".join(table))
    failed = any(d < args.count for _, d, _, _ in rows)
    if args.record and not failed:
        path = BASE_DIR / "docs" / "benchmarks.md"
        text = path.read_text()
        if "\n## Email\n" not in text:
            text = text.rstrip("\n") + (
                "\n\n## Email\n\nEmail tasks (`accounts.send_welcome_email`) per second "
                "through a real Celery worker. Produced by `bench/email_bench.py` (see its "
                "docstring).\n"
            )
        path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(table))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
