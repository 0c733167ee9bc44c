"""Gunicorn settings for EduFlow, read from the environment.

Start the server with `gunicorn --config eduflow/gunicorn.conf.py` (the WSGI application is
named here). Every value below can be changed without a rebuild:

| Variable                       | Default                | Meaning                              |
|--------------------------------|------------------------|--------------------------------------|
| GUNICORN_BIND                  | 0.0.0.0:8000           | address(es) to listen on, comma list |
| GUNICORN_WORKERS               | 2 x usable cores + 1   | worker processes                     |
| GUNICORN_THREADS               | 4                      | threads per worker (gthread worker)  |
| GUNICORN_TIMEOUT               | 30                     | seconds before a silent worker dies  |
| GUNICORN_GRACEFUL_TIMEOUT      | 30                     | seconds to finish requests on stop   |
| GUNICORN_KEEPALIVE             | 5                      | seconds to hold an idle connection   |
| GUNICORN_MAX_REQUESTS          | 1000                   | requests before a worker is recycled |
| GUNICORN_MAX_REQUESTS_JITTER   | 100                    | random 0..N added to the above       |
| GUNICORN_LOG_LEVEL             | info                   | level of the server's own log lines  |

Every worker thread may hold one database connection (`DB_CONN_MAX_AGE`), so workers x threads
x web containers must stay below the database's connection limit. The core count seen inside a
container is often the host's: set GUNICORN_WORKERS explicitly there.

Access lines are not written by Gunicorn: the application logs one JSON line per request with
its request id. Gunicorn's own messages (boot, worker exits, timeouts) are JSON lines too, in
the same shape, on stderr.
"""

from __future__ import annotations

import os

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _int_from_env(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}.")
    return value


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not available on every platform
        return os.cpu_count() or 1


wsgi_app = "eduflow.wsgi:application"

bind = [
    address.strip()
    for address in os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",")
    if address.strip()
]

workers = _int_from_env("GUNICORN_WORKERS", 2 * _usable_cores() + 1, minimum=1)
threads = _int_from_env("GUNICORN_THREADS", 4, minimum=1)
# With more than one thread Gunicorn would switch to gthread anyway; say so explicitly.
worker_class = "gthread" if threads > 1 else "sync"

timeout = _int_from_env("GUNICORN_TIMEOUT", 30, minimum=0)
graceful_timeout = _int_from_env("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=0)
keepalive = _int_from_env("GUNICORN_KEEPALIVE", 5, minimum=0)

# Recycle workers now and then so slow leaks cannot grow without bound; the jitter keeps the
# workers from restarting all at once.
max_requests = _int_from_env("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = _int_from_env("GUNICORN_MAX_REQUESTS_JITTER", 100, minimum=0)

# The heartbeat file lives in memory when possible: on a disk-backed (overlay) file system its
# updates can stall a worker long enough to be killed as silent.
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 - gunicorn creates its own unique files in it
if os.path.isdir(_SHARED_MEMORY):
    worker_tmp_dir = _SHARED_MEMORY

# No control socket: nothing manages the server through it, and creating it would mean writing
# under the home directory of the (non-root, read-only) service user.
control_socket_disable = True

# The application writes the access log (JSON, with request id, user and duration).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info").strip().lower() or "info"
if loglevel not in _LOG_LEVELS:
    raise SystemExit(
        f"GUNICORN_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {loglevel!r}."
    )

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING", "handlers": []},
    "formatters": {"json": {"()": "eduflow.core.logging.JsonFormatter"}},
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
