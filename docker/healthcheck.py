"""Container health check: GET a health endpoint of the local server; exit 0 only on 200.

Usage: `python docker/healthcheck.py [PATH]` (default `/health/live/`).

Django answers 400 to a Host it does not serve, so the request names the first entry of
ALLOWED_HOSTS (a leading dot, meaning "and subdomains", is dropped) instead of 127.0.0.1. The
port is taken from GUNICORN_BIND (default 8000). `/health/` is exempt from the HTTPS redirect.
Only the standard library is used: the slim image has no curl.
"""

from __future__ import annotations

import http.client
import os
import sys


def host_header() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        entry = entry.strip().lstrip(".")
        if entry and entry != "*":
            return entry
    return "localhost"


def local_port() -> int:
    first = os.environ.get("GUNICORN_BIND", "").split(",")[0].strip()
    _, _, port = first.rpartition(":")
    return int(port) if port.isdigit() else 8000


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/health/live/"
    connection = http.client.HTTPConnection("127.0.0.1", local_port(), timeout=4)
    try:
        connection.request("GET", path, headers={"Host": host_header()})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"health check {path}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"health check {path}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
