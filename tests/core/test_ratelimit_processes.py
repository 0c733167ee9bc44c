"""Rate limits shared by separate server processes, and failing open in a real server.

Real parts, all of them: gunicorn servers started with the production configuration
(`eduflow/gunicorn.conf.py`, through bench.server.GunicornServer) on loopback ports, one worker
each, in production mode; PostgreSQL (the database DATABASE_URL names, migrated here with
`manage.py migrate`: the servers cannot see pytest-django's test database, which is never
committed); Redis (REDIS_URL) holding the counters both servers use. Requests go over HTTP.
Skipped unless REDIS_URL and a PostgreSQL DATABASE_URL are set (CI's second stage sets both).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.server import GunicornServer, ServerError, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis shared by the servers: set REDIS_URL (CI does)",
    ),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL) that separate server processes can share",
    ),
]


def server_environment(**overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "GUNICORN_MAX_REQUESTS": "0",
        # A prefix of their own: nothing another test left in Redis is counted.
        "CACHE_KEY_PREFIX": f"rl-{secrets.token_hex(4)}",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def _ensure_database_exists(url: str) -> None:
    """Create the database DATABASE_URL names if it is missing (CI creates it; a developer's
    URL may name one that pytest-django never needed, as it makes its own test copy)."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def migrated_database() -> str:
    """Apply the migrations to the database DATABASE_URL names (not pytest-django's copy)."""
    env = server_environment()
    _ensure_database_exists(env["DATABASE_URL"])
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return env["DATABASE_URL"]


def get(server: GunicornServer, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": "127.0.0.1"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_two_servers_spend_one_budget(migrated_database, tmp_path):
    env = server_environment(THROTTLE_ANON="6/min")
    with (
        GunicornServer(env=env, log_path=tmp_path / "a.log") as first,
        GunicornServer(env=env, log_path=tmp_path / "b.log") as second,
    ):
        assert first.worker_pids() and second.worker_pids()
        assert set(first.worker_pids()).isdisjoint(second.worker_pids())
        servers = (first, second)
        for spent in range(1, 7):
            status, headers, body = get(servers[spent % 2], "/api/v1/courses/")
            assert status == 200, body[:500]
            # Each server reports what both have spent together.
            assert headers["RateLimit-Limit"] == "6"
            assert headers["RateLimit-Remaining"] == str(6 - spent)
            assert headers["RateLimit-Policy"] == "6;w=60"

        for server in servers:  # the seventh request, and the eighth, whichever server
            status, headers, body = get(server, "/api/v1/courses/")
            assert status == 429, body[:500]
            assert headers["Content-Type"].startswith("application/problem+json")
            problem = json.loads(body)
            assert problem["code"] == "throttled"
            retry_after = int(headers["Retry-After"])
            assert 1 <= retry_after <= 60
            assert problem["retry_after"] == retry_after
            assert headers["RateLimit-Limit"] == "6"
            assert headers["RateLimit-Remaining"] == "0"
            assert headers["RateLimit-Reset"] == str(retry_after)


class LiveServer(GunicornServer):
    """A server expected to start while its cache is down: readiness would wait forever, so
    starting waits for liveness instead."""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError("gunicorn exited during start-up.\n" + self.log_tail())
            try:
                if get(self, "/health/live/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise ServerError("gunicorn did not start.\n" + self.log_tail())


def test_a_server_whose_cache_is_down_serves_unthrottled_and_says_so_once(
    migrated_database, tmp_path
):
    env = server_environment(
        THROTTLE_ANON="2/min",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nobody listens there
        THROTTLE_CACHE_RETRY_SECONDS="0",
    )
    log = tmp_path / "down.log"
    with LiveServer(env=env, log_path=log) as server:
        for _ in range(6):
            status, headers, body = get(server, "/api/v1/courses/")
            assert status == 200, body[:500]
            assert "RateLimit-Limit" not in headers
        status, _, body = get(server, "/health/ready/")
        assert status == 503
        assert json.loads(body)["checks"]["cache"] == "fail"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    warnings = [line for line in lines if "Rate limits are not enforced" in line.get("message", "")]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "WARNING"
    # The only errors are the readiness check's own (it reports the cache, as intended).
    errors = [
        line
        for line in lines
        if line["level"] in ("ERROR", "CRITICAL")
        and "/health/ready/" not in line["message"]
        and line["logger"] != "eduflow.core.views"
    ]
    assert not errors, errors
