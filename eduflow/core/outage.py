"""What a process remembers of a failing shared cache, for the parts that fail open.

Throttles and Idempotency-Key handling keep working when the cache is unreachable: they let the
request through without their protection. After a failure they leave the cache alone for a few
seconds (`skipping()`), so a cache that hangs instead of refusing costs one timeout now and then,
not one per request; and they log a WARNING at most once per interval, with the number of checks
skipped since the previous warning, so an outage does not flood the logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CacheOutage:
    """`retry_seconds()` and `log_seconds()` are read at each failure (settings may change);
    `warn(exc, skipped_since_last_warning)` writes the warning."""

    def __init__(
        self,
        *,
        retry_seconds: Callable[[], float],
        log_seconds: Callable[[], float],
        warn: Callable[[BaseException, int], None],
    ) -> None:
        self._retry_seconds = retry_seconds
        self._log_seconds = log_seconds
        self._warn = warn
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._retry_at = 0.0
            self._next_warning_at = 0.0
            self._unlogged = 0

    def skipping(self) -> bool:
        """Whether the cache is resting after a failure (the caller goes without it)."""
        if time.monotonic() < self._retry_at:
            with self._lock:
                self._unlogged += 1
            return True
        return False

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._retry_at = now + self._retry_seconds()
            if now < self._next_warning_at:
                self._unlogged += 1
                return
            self._next_warning_at = now + self._log_seconds()
            unlogged, self._unlogged = self._unlogged, 0
        self._warn(exc, unlogged)
