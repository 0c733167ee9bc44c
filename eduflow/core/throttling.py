"""Rate limits: who the client is, how many requests a window allows, and what clients are told.

Client address. DRF's default identification trusts any X-Forwarded-For header, so a client
could reset its own limit by forging one. Here the socket peer is the client unless it is a
configured trusted proxy (TRUSTED_PROXIES), in which case the right-most untrusted address in
X-Forwarded-For is.

Counting. DRF's SimpleRateThrottle keeps a sliding log: a pickled list of every timestamp in
the window, read and rewritten whole on each request. With high rates that list grows without
bound. The throttles here count instead (decision 0018): a window opens with the first request
of a client and lasts the rate's period; each request adds one to the window's counter and is
refused once the counter passes the limit; when the window expires the next request opens a
new one. With Redis that is one Lua script (INCR, and PEXPIRE when the window opens): one round
trip per throttle per request, atomic across processes and machines, timed by Redis's own
clock. Other cache backends use `cache.add`/`cache.incr`, which are atomic too.

Telling clients. Each throttle records its window on the Django request;
`RateLimitHeadersMiddleware` writes the most restrictive one as `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (delta-seconds until the window ends) and
`RateLimit-Policy` on every response of a throttled view, 429s included.

Cache outages. A throttle that cannot reach its counter lets the request through (fails open)
and logs a WARNING at most once per THROTTLE_OUTAGE_LOG_SECONDS per process; for
THROTTLE_CACHE_RETRY_SECONDS after a failure the throttles do not even try, so a cache that
hangs instead of refusing costs one timeout now and then, not one per request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from redis.exceptions import NoScriptError
from rest_framework import throttling

from .locks import redis_client
from .outage import CacheOutage

logger = logging.getLogger(__name__)


# --- Client address ---------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def _is_trusted(address: str) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request) -> str:
    """The address of the client that sent this request."""
    meta = getattr(request, "META", {})
    peer = meta.get("REMOTE_ADDR", "") or "unknown"
    if not _is_trusted(peer):
        return peer
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            # Not something a proxy appended: stop believing the header here.
            return peer
        if not _is_trusted(address):
            return address
    return peer


class ClientIpMixin:
    def get_ident(self, request) -> str:
        return client_ip(request)


# --- Counting ---------------------------------------------------------------------------------
# KEYS[1]: the window's counter; ARGV[1]: the window's length in milliseconds.
# Returns {requests counted in the window (this one included), milliseconds until it ends}.
# A counter without an expiry (opened just now, or left by something else) gets one, so no
# window outlives its period.
_WINDOW_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
_WINDOW_SCRIPT_SHA = hashlib.sha1(_WINDOW_SCRIPT.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Window:
    """One client's current window: requests counted so far and seconds until it ends."""

    count: int
    ends_in: float


def _count_on_redis(client, key: str, period: int) -> Window:
    period_ms = period * 1000
    try:
        count, ttl_ms = client.evalsha(_WINDOW_SCRIPT_SHA, 1, key, period_ms)
    except NoScriptError:
        # First use on this server (or after SCRIPT FLUSH): EVAL sends the text and caches it.
        count, ttl_ms = client.eval(_WINDOW_SCRIPT, 1, key, period_ms)
    return Window(count=int(count), ends_in=int(ttl_ms) / 1000)


def _count_on_cache(cache, key: str, period: int, now: float) -> Window:
    """The same window with Django's cache API: `add` opens it, `incr` counts in it.

    Both are atomic on every backend, so concurrent requests never lose a count. The end of
    the window is kept beside the counter only to tell clients; should it be missing (another
    request is opening the window this very moment) the whole period is reported.
    """
    ends_key = f"{key}:ends"
    for _ in range(3):
        if cache.add(key, 1, period):
            cache.set(ends_key, now + period, period)
            return Window(count=1, ends_in=float(period))
        try:
            count = cache.incr(key)
        except ValueError:
            continue  # the window expired between add() and incr(): open a new one
        ends = cache.get(ends_key)
        ends_in = period if ends is None else min(max(ends - now, 0.0), period)
        return Window(count=count, ends_in=float(ends_in))
    raise RuntimeError(f"could not count in throttle window {key!r}")


def count_request(cache, key: str, period: int, now: float) -> Window:
    """Count one request in `key`'s window of `period` seconds (opened by this one if none)."""
    client = redis_client(cache)
    if client is not None:
        return _count_on_redis(client, cache.make_key(key), period)
    return _count_on_cache(cache, key, period, now)


def _warn_unthrottled(exc: BaseException, unlogged: int) -> None:
    logger.warning(
        "Rate limits are not enforced: the throttle counters are unreachable "
        "(%s: %s); requests pass unthrottled. %d more unthrottled checks since the "
        "previous warning.",
        type(exc).__name__,
        exc,
        unlogged,
        extra={"event": "throttle_cache_unavailable", "unthrottled_since_last": unlogged},
    )


# What this process remembers of a failing counter store: a WARNING at most once per
# THROTTLE_OUTAGE_LOG_SECONDS, and no counting for THROTTLE_CACHE_RETRY_SECONDS after a failure.
outage = CacheOutage(
    retry_seconds=lambda: getattr(settings, "THROTTLE_CACHE_RETRY_SECONDS", 5),
    log_seconds=lambda: getattr(settings, "THROTTLE_OUTAGE_LOG_SECONDS", 60),
    warn=_warn_unthrottled,
)


# --- What a throttle tells the client ------------------------------------------------------------
RATE_LIMITS_ATTRIBUTE = "rate_limit_states"


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """One throttle's verdict on one request, in the terms of the RateLimit header fields."""

    limit: int
    period: int
    count: int
    ends_in: float

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def reset(self) -> int:
        """Whole seconds until the window ends and the full budget is back (at least 1)."""
        return max(1, math.ceil(self.ends_in))

    @property
    def policy(self) -> str:
        return f"{self.limit};w={self.period}"


def _record(request, state: RateLimitState) -> None:
    """Keep `state` on the Django request (under DRF's Request) for the middleware."""
    target = getattr(request, "_request", request)
    states = getattr(target, RATE_LIMITS_ATTRIBUTE, None)
    if states is None:
        states = []
        setattr(target, RATE_LIMITS_ATTRIBUTE, states)
    states.append(state)


def most_restrictive(states: list[RateLimitState]) -> RateLimitState:
    """The state to report: fewest requests left; a refusal before an allowance; then the
    window that takes longest to end (the one a client has to wait for)."""
    return min(states, key=lambda state: (state.remaining, state.allowed, -state.ends_in))


class RateLimitHeadersMiddleware:
    """Writes the RateLimit header fields of the most restrictive throttle that counted this
    request. Responses of views without throttles (or whose throttles failed open) get none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        states = getattr(request, RATE_LIMITS_ATTRIBUTE, None)
        if states:
            state = most_restrictive(states)
            response["RateLimit-Limit"] = str(state.limit)
            response["RateLimit-Remaining"] = str(state.remaining)
            response["RateLimit-Reset"] = str(state.reset)
            response["RateLimit-Policy"] = state.policy
            if response.status_code == 429 and not response.has_header("Retry-After"):
                response["Retry-After"] = str(state.reset)
        return response


# --- Throttles ----------------------------------------------------------------------------------
class WindowCounterMixin:
    """SimpleRateThrottle's interface (scope, rates, `get_cache_key`) over a window counter.

    Put it before the DRF throttle class in the bases: it replaces `allow_request` and `wait`.
    """

    cache_format = "throttle:%(scope)s:%(ident)s"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        if outage.skipping():
            return True
        try:
            window = count_request(self.cache, self.key, self.duration, self.timer())
        except Exception as exc:
            # Whatever broke (refused, timed out, an unusable value), a throttle must never
            # turn a request into a 500: let it through, say so in the log.
            outage.failed(exc)
            return True
        state = RateLimitState(
            limit=self.num_requests,
            period=self.duration,
            count=window.count,
            ends_in=window.ends_in,
        )
        _record(request, state)
        self.state = state
        return state.allowed

    def wait(self) -> int | None:
        state = getattr(self, "state", None)
        return state.reset if state is not None else None


class WindowRateThrottle(WindowCounterMixin, throttling.SimpleRateThrottle):
    """Base for throttles with their own `scope` and `get_cache_key`."""


# Set on a Django request by middleware that counted it against the anonymous limit itself
# (in the same Redis round trip as its own reads): the view's AnonRateThrottle then reuses that
# verdict instead of counting the request a second time.
PRECOUNTED_ANON_ATTRIBUTE = "anon_rate_precounted"


class AnonRateThrottle(ClientIpMixin, WindowCounterMixin, throttling.AnonRateThrottle):
    """Requests per anonymous client address (rate `anon`)."""

    def allow_request(self, request, view) -> bool:
        target = getattr(request, "_request", request)
        state = getattr(target, PRECOUNTED_ANON_ATTRIBUTE, None)
        if state is not None:
            self.state = state
            return state.allowed
        return super().allow_request(request, view)

    def pipelined_count(self, request, pipeline, cache) -> Callable[[object], bool] | None:
        """Queue this request's count on a Redis `pipeline`; None when nothing is counted.

        Returns a function taking the script's reply from the pipeline's results: it records
        the state (headers, and PRECOUNTED_ANON_ATTRIBUTE for the view) and says whether the
        request is allowed. A reply that is an error (no script loaded yet, Redis trouble)
        counts again the ordinary way, in a round trip of its own.
        """
        if self.rate is None:
            return None
        key = self.get_cache_key(request, view=None)
        if key is None or outage.skipping():
            return None
        pipeline.evalsha(_WINDOW_SCRIPT_SHA, 1, cache.make_key(key), self.duration * 1000)

        def settle(reply) -> bool:
            if isinstance(reply, Exception):
                allowed = super(AnonRateThrottle, self).allow_request(request, None)
            else:
                count, ttl_ms = reply
                self.state = RateLimitState(
                    limit=self.num_requests,
                    period=self.duration,
                    count=int(count),
                    ends_in=int(ttl_ms) / 1000,
                )
                _record(request, self.state)
                allowed = self.state.allowed
            state = getattr(self, "state", None)
            if state is not None:
                target = getattr(request, "_request", request)
                setattr(target, PRECOUNTED_ANON_ATTRIBUTE, state)
            return allowed

        return settle


class UserRateThrottle(ClientIpMixin, WindowCounterMixin, throttling.UserRateThrottle):
    """Requests per signed-in user (rate `user`).

    DRF's version also counts anonymous requests, per address, against the user rate; the
    anonymous rate already covers them, so they are not counted twice (one round trip less).
    """

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


class AuthIpRateThrottle(ClientIpMixin, WindowRateThrottle):
    """Login and registration attempts per client address."""

    scope = "auth_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountRateThrottle(WindowRateThrottle):
    """Login attempts per account (the email or username tried), whatever the address."""

    scope = "login_account"

    def get_cache_key(self, request, view):
        data = request.data if hasattr(request, "data") else {}
        if not isinstance(data, dict):
            return None
        identifier = data.get("email") or data.get("username")
        if not isinstance(identifier, str) or not identifier.strip():
            return None
        digest = hashlib.sha256(identifier.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}
