"""Options every EduFlow task shares, so each task states its policy in one line.

- an explicit name; the queue follows from it through CELERY_TASK_ROUTES (`*.send_*` → email,
  `media.*` → media, anything else → default), Celery's per-task `queue` option being deprecated;
- `acks_late` + `reject_on_worker_lost`: a worker killed mid-task hands the message back, which
  is right only because every task here is idempotent;
- soft and hard time limits;
- automatic retries for transient errors only, with exponential backoff and full jitter.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import OperationalError

from .emails import TransientEmailError
from .locks import LockBusy

# Errors worth a retry: the database or the mail server was briefly unreachable, or another run
# holds the lock of the same work.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    TransientEmailError,
    LockBusy,
)


def task_options(name: str, *, soft_time_limit: int = 60, time_limit: int = 90) -> dict[str, Any]:
    """Keyword arguments for `@shared_task(**task_options(...))`."""
    return {
        "name": name,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "soft_time_limit": soft_time_limit,
        "time_limit": time_limit,
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": settings.CELERY_TASK_RETRY_BACKOFF,
        "retry_backoff_max": settings.CELERY_TASK_RETRY_BACKOFF_MAX,
        "retry_jitter": True,
        "max_retries": settings.CELERY_TASK_MAX_RETRIES,
    }
