"""A lock on the shared cache: SET NX with an expiry, released only by its holder.

With Redis (REDIS_URL) the lock holds across processes and machines, so two beat instances or
two workers cannot run a guarded job at the same time; with the local-memory cache it holds
within one process. The expiry frees the lock if its holder dies; release compares the holder's
token first, so a holder that outlived its expiry never frees somebody else's lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LockBusy(Exception):
    """Another holder has the lock."""


def redis_client(backend=None):
    """The raw Redis client behind `backend` (the default cache), or None for other backends."""
    get_client = getattr(getattr(backend or cache, "client", None), "get_client", None)
    return get_client(write=True) if callable(get_client) else None


def acquire(name: str, *, timeout: int) -> str | None:
    """Take lock `name` for at most `timeout` seconds; its holder token, or None if taken."""
    token = secrets.token_hex(16)
    key = cache.make_key(f"lock:{name}")
    redis = redis_client()
    if redis is not None:
        return token if redis.set(key, token, nx=True, ex=max(1, int(timeout))) else None
    return token if cache.add(f"lock:{name}", token, timeout) else None


def release(name: str, token: str) -> bool:
    """Free lock `name` if `token` still holds it; whether it did."""
    key = cache.make_key(f"lock:{name}")
    redis = redis_client()
    if redis is not None:
        return bool(redis.eval(_RELEASE_SCRIPT, 1, key, token))
    if cache.get(f"lock:{name}") == token:
        cache.delete(f"lock:{name}")
        return True
    return False


@contextmanager
def cache_lock(name: str, *, timeout: int) -> Iterator[bool]:
    """`with cache_lock("job", timeout=600) as acquired:` runs the body either way; `acquired`
    says whether this caller holds the lock (and should do the work)."""
    token = acquire(name, timeout=timeout)
    try:
        yield token is not None
    finally:
        if token is not None:
            release(name, token)
