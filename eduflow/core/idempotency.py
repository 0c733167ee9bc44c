"""`Idempotency-Key` for the POSTs of the API: a retried request runs once, repeats get its answer.

One middleware covers every POST route under /api/ (see docs/decisions/0017): a client that
sends `Idempotency-Key: <its own unique value>` gets the first answer stored per (caller, key)
for IDEMPOTENCY_TTL_SECONDS, and every repeat with the same request gets that answer again
(same status, body and content headers, plus `Idempotent-Replayed: true`) without running the
view. The rules:

- The caller is known before the view runs: the view's own authenticators decide (a user's
  id), or the client address (`client_ip`) for anonymous callers such as register. A bad token
  is not ours to judge: the request goes on untouched and the view answers its 401.
- The request is fingerprinted (HMAC-SHA256 of method, path, query string, content type and
  body; a multipart boundary counts as the same whatever its value). Same key, other
  fingerprint: 422 `idempotency_key_reused`. Invalid key: 400 `invalid_idempotency_key`.
- Concurrent requests with one key: the first takes a lock in the shared cache
  (eduflow.core.locks, SET NX with expiry) and runs; the others poll for its stored answer for
  up to IDEMPOTENCY_WAIT_SECONDS, then answer 409 `request_in_progress`.
- Stored: 2xx, and the 4xx that judge the request itself (STORED_CLIENT_ERRORS). Never 5xx,
  never 401/403 (fix the credentials and retry), 429 (wait and retry), 404/409 (they judge the
  current state, and nothing changed: a retry may see a new state), nor streamed answers.
- The cache down (Redis unreachable) is never a 500: the request runs without protection and a
  warning is logged, the same policy as the throttles.
- Some POST routes are excluded (EXCLUDED_VIEWS, with the reason): answers carrying credentials
  are never put in the cache.

Bodies up to the in-memory upload threshold are read before the view (Django keeps them for
the view to parse). Larger ones (uploads) are never held in memory: the first run hashes them
as the view streams them in, and a repeat hashes them as it drains them.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils.crypto import salted_hmac
from django.utils.http import parse_header_parameters
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.views import APIView

from . import locks
from .exceptions import problem_response
from .outage import CacheOutage
from .throttling import client_ip

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
META_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

#: 4xx answers worth replaying: they judge the request itself (its syntax, size, type or
#: content), so running it again would give the same answer. Every 2xx is stored too.
STORED_CLIENT_ERRORS = frozenset({400, 410, 413, 414, 415, 422})

#: Response headers kept with a stored answer; the middleware around this one adds the rest
#: (X-Request-ID, security headers, Content-Length) to a replay afresh.
STORED_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Content-Language",
    "Location",
    "ETag",
    "Last-Modified",
    "Link",
    "Allow",
    "Vary",
)

#: POST routes that ignore the header, by view class, with the reason. Every other POST route
#: of the API honours it (tests/core/test_idempotency_routes.py keeps this list honest).
EXCLUDED_VIEWS = {
    "accounts.views.LoginView": (
        "answers a JWT pair: credentials are never kept in the shared cache; logging in again "
        "is harmless"
    ),
    "accounts.views.RefreshView": (
        "answers a JWT pair (credentials); the refresh token it spends is single-use, so a "
        "repeat is refused by design"
    ),
    "lessons.playback.LessonPlaybackView": (
        "answers a short-lived signed playback grant (a credential) and creates nothing; "
        "asking again is harmless and gives a fresh grant"
    ),
    "media.playback_views.MuxWebhookView": (
        "server-to-server callback from Mux, authenticated by its signature and applied "
        "idempotently per event; Mux does not send the header"
    ),
}

PROTECTED = "protected"
EXCLUDED = "excluded"

_CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)
_POLL_FIRST_SECONDS = 0.05
_POLL_MAX_SECONDS = 0.25
_CHUNK = 64 * 1024
_ENTRY_VERSION = 1


# --- which routes ------------------------------------------------------------------------------


def view_class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def post_view_class(callback) -> type[APIView] | None:
    """The DRF view class behind a URL callback if that route accepts POST, else None."""
    cls = getattr(callback, "cls", None)
    if not (isinstance(cls, type) and issubclass(cls, APIView)):
        return None
    actions = getattr(callback, "actions", None)
    if actions is not None:  # a viewset route: its method → action map
        return cls if "post" in actions else None
    if "post" in cls.http_method_names and callable(getattr(cls, "post", None)):
        return cls
    return None


def route_policy(callback) -> str | None:
    """PROTECTED or EXCLUDED for a POST route's callback; None for routes without POST."""
    cls = post_view_class(callback)
    if cls is None:
        return None
    return EXCLUDED if view_class_path(cls) in EXCLUDED_VIEWS else PROTECTED


def _view_option(callback, cls: type, name: str):
    """A view option as the view will see it: `as_view(**initkwargs)` wins over the class."""
    initkwargs = getattr(callback, "initkwargs", None) or {}
    return initkwargs.get(name, getattr(cls, name))


# --- keys, callers and cache entries -------------------------------------------------------------


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, not only spaces."""
    return (
        0 < len(key) <= MAX_KEY_LENGTH
        and bool(key.strip())
        and all(" " <= char <= "~" for char in key)
    )


def user_scope(user) -> str:
    return f"user:{user.pk}"


def address_scope(address: str) -> str:
    return f"address:{address}"


def _ident(scope: str, key: str) -> str:
    # Hashed: any key fits any cache's key rules, and the cache holds no raw client values.
    return sha256(f"{scope}\x00{key}".encode()).hexdigest()


def entry_cache_key(scope: str, key: str) -> str:
    """Cache key of the stored answer for (caller scope, Idempotency-Key)."""
    return f"idempotency:response:{_ident(scope, key)}"


def lock_name(scope: str, key: str) -> str:
    """Name of the eduflow.core.locks lock held while the first request with the key runs."""
    return f"idempotency:{_ident(scope, key)}"


class _Unidentified(Exception):
    """The caller cannot be told before the view runs: let the view answer."""


def _caller_scope(request, callback, cls, *, streamed: bool) -> str:
    """`user:<id>` as the view's authenticators see it, or `address:<client ip>`.

    The view's authenticators run on a throwaway DRF request; like DRF, the caller found is
    recorded as `request.user`. Session callers get DRF's CSRF check here as in the view (no
    replay for a forged request). That check may parse a form body: harmless once the body is in
    memory, not for a body still to be streamed (`streamed`), so such requests from session
    callers go on without protection.
    """
    authenticators = [auth() for auth in _view_option(callback, cls, "authentication_classes")]
    parsers = [parser() for parser in _view_option(callback, cls, "parser_classes")]
    drf_request = Request(request, parsers=parsers, authenticators=authenticators)
    for authenticator in drf_request.authenticators:
        if streamed and isinstance(authenticator, SessionAuthentication):
            user = getattr(request, "user", None)
            if user is not None and user.is_active:
                raise _Unidentified("session caller with a streamed body")
        try:
            found = authenticator.authenticate(drf_request)
        except exceptions.APIException as exc:
            raise _Unidentified(str(exc)) from exc
        if found is not None:
            # What DRF will record for the view; a replay (no view) leaves the same trace, and
            # the access log reads it without loading the session.
            request.user = found[0]
            return user_scope(found[0])
    request.user = AnonymousUser()
    return address_scope(client_ip(request))


def _load(cache_key: str) -> dict | None:
    entry = cache.get(cache_key)
    if isinstance(entry, dict) and entry.get("version") == _ENTRY_VERSION:
        return entry
    return None


# --- fingerprints --------------------------------------------------------------------------------

_CANONICAL_BOUNDARY = b"\x00boundary\x00"


class Fingerprint:
    """HMAC-SHA256 (keyed with SECRET_KEY) of method, path, query string, content type and body.

    Keyed, because the body may hold a password (register, password change): the cache keeps a
    value nobody can test guesses against. A multipart body's boundary is replaced by a fixed
    token (and dropped from the content type), so a client that retries an upload with a fresh
    boundary still sends "the same request". Bodies are fed in chunks of any size.
    """

    def __init__(self, request) -> None:
        content_type, boundary = _normalised_content_type(request.META.get("CONTENT_TYPE", ""))
        self._mac = salted_hmac("eduflow.core.idempotency", b"", algorithm="sha256")
        for part in (
            request.method,
            request.path,
            request.META.get("QUERY_STRING", ""),
            content_type,
        ):
            data = str(part).encode("utf-8", "surrogateescape")
            self._mac.update(len(data).to_bytes(8, "big") + data)
        self._needle = b"--" + boundary if boundary else b""
        self._tail = b""
        self._digest: str | None = None
        self.length = 0

    def update(self, chunk: bytes) -> None:
        self.length += len(chunk)
        if not self._needle:
            self._mac.update(chunk)
            return
        # Replace every `--boundary`, also one split between two chunks: the last
        # len(needle) - 1 bytes wait for the next chunk.
        data = self._tail + chunk
        start = 0
        while (found := data.find(self._needle, start)) >= 0:
            self._mac.update(data[start:found])
            self._mac.update(_CANONICAL_BOUNDARY)
            start = found + len(self._needle)
        keep = len(self._needle) - 1
        rest = data[start:]
        if len(rest) > keep:
            self._mac.update(rest[: len(rest) - keep])
            rest = rest[len(rest) - keep :]
        self._tail = rest

    @property
    def multipart(self) -> bool:
        """Whether a multipart boundary is normalised away (so lengths may differ)."""
        return bool(self._needle)

    def hexdigest(self) -> str:
        if self._digest is None:
            self._mac.update(self._tail)
            self._tail = b""
            self._digest = self._mac.hexdigest()
        return self._digest


def _normalised_content_type(value: str) -> tuple[str, bytes]:
    """(`type/subtype; sorted params without boundary`, boundary bytes of a multipart body)."""
    if not value:
        return "", b""
    main, params = parse_header_parameters(value)
    main = main.lower()
    boundary = b""
    if main.startswith("multipart/"):
        raw = params.pop("boundary", "")
        try:
            boundary = raw.encode("ascii") if isinstance(raw, str) else bytes(raw)
        except UnicodeEncodeError:
            boundary = b""
    rest = "".join(f"; {name}={params[name]}" for name in sorted(params))
    return main + rest, boundary


class _HashingStream:
    """Stands in for the request's input stream: whatever the view reads is hashed too."""

    def __init__(self, stream, fingerprint: Fingerprint) -> None:
        self._stream = stream
        self._fingerprint = fingerprint

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        self._fingerprint.update(data)
        return data

    def readline(self, size: int = -1, /) -> bytes:
        data = self._stream.readline(size)
        self._fingerprint.update(data)
        return data

    def close(self) -> None:
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _content_length(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _memory_limit() -> int:
    """Largest body read into memory before the view: what Django itself keeps in memory."""
    limits = [settings.FILE_UPLOAD_MAX_MEMORY_SIZE]
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None:
        limits.append(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return min(limits)


class _Body:
    """The request body seen through its fingerprint.

    In memory (`streamed` false): read now with `request.body`, which Django keeps for the view.
    Streamed: hashed while the view reads it (`attach`), or while a repeat drains it (`drain`);
    its fingerprint counts only once every byte passed (`complete`).
    """

    def __init__(self, request) -> None:
        self.request = request
        self.length = _content_length(request)
        self.streamed = self.length > _memory_limit()
        self.fingerprint = Fingerprint(request)
        if not self.streamed:
            self.fingerprint.update(request.body)

    @property
    def complete(self) -> bool:
        return self.fingerprint.length == self.length

    def attach(self) -> None:
        if self.streamed:
            # Django reads every body through `request._stream` (read, readline, iteration).
            self.request._stream = _HashingStream(self.request._stream, self.fingerprint)

    def drain(self) -> None:
        while not self.complete:
            chunk = self.request._stream.read(_CHUNK)
            if not chunk:
                break
            self.fingerprint.update(chunk)

    def matches(self, entry: dict) -> bool:
        if entry.get("length") != self.length and not self.fingerprint.multipart:
            return False  # a different body for sure, no need to read it (a multipart body's
            # length also depends on its boundary)
        self.drain()
        return self.complete and hmac.compare_digest(
            self.fingerprint.hexdigest(), str(entry.get("fingerprint"))
        )


# --- the middleware ------------------------------------------------------------------------------


def _storable(response) -> bool:
    if getattr(response, "streaming", False):
        return False
    status = response.status_code
    return 200 <= status < 300 or status in STORED_CLIENT_ERRORS


def _entry(response, body: _Body) -> dict:
    return {
        "version": _ENTRY_VERSION,
        "fingerprint": body.fingerprint.hexdigest(),
        "length": body.length,
        "status": response.status_code,
        "headers": [(name, response[name]) for name in STORED_HEADERS if response.has_header(name)],
        "body": bytes(response.content),
    }


def _replay(entry: dict) -> HttpResponse:
    response = HttpResponse(entry["body"], status=entry["status"])
    headers = dict(entry["headers"])
    if "Content-Type" not in headers:
        del response["Content-Type"]
    for name, value in headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _reused(request) -> HttpResponse:
    return problem_response(
        request,
        status_code=422,
        code="idempotency_key_reused",
        detail=(
            f"This {HEADER} was already used for a different request (method, path or body). "
            "Use a new key for a new request."
        ),
    )


def _in_progress(request) -> HttpResponse:
    response = problem_response(
        request,
        status_code=409,
        code="request_in_progress",
        detail=(
            f"A request with this {HEADER} is still being processed. Retry shortly with the "
            "same key to get its answer."
        ),
    )
    response["Retry-After"] = "1"
    return response


def _invalid_key(request) -> HttpResponse:
    return problem_response(
        request,
        status_code=400,
        code="invalid_idempotency_key",
        detail=(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "(a UUID is a good choice)."
        ),
    )


# After a cache error, keyed requests skip the cache for OUTAGE_RETRY_SECONDS (so an unreachable
# Redis costs no connection timeout per request) and run without protection; a WARNING is
# logged at most once per OUTAGE_LOG_SECONDS, with the count of requests that ran unprotected.
OUTAGE_RETRY_SECONDS = 5.0
OUTAGE_LOG_SECONDS = 60.0


def _warn_unprotected(exc: BaseException, unlogged: int) -> None:
    logger.warning(
        "Idempotency-Key not honoured: the cache is unreachable (%s: %s); keyed requests of "
        "the next %d seconds run without it. %d more ran without it since the previous warning.",
        type(exc).__name__,
        exc,
        int(OUTAGE_RETRY_SECONDS),
        unlogged,
        extra={"event": "idempotency_cache_unavailable", "unprotected_since_last": unlogged},
    )


outage = CacheOutage(
    retry_seconds=lambda: OUTAGE_RETRY_SECONDS,
    log_seconds=lambda: OUTAGE_LOG_SECONDS,
    warn=_warn_unprotected,
)


class IdempotencyMiddleware:
    """Runs each keyed POST under /api/ once per (caller, key) and replays its answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method != "POST"
            or META_KEY not in request.META
            or not request.path_info.startswith("/api/")
        ):
            return self.get_response(request)
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return self.get_response(request)
        if route_policy(match.func) != PROTECTED:
            return self.get_response(request)

        key = request.META[META_KEY]
        if not valid_key(key):
            return _invalid_key(request)
        body = _Body(request)
        try:
            scope = _caller_scope(
                request, match.func, post_view_class(match.func), streamed=body.streamed
            )
        except _Unidentified:
            return self.get_response(request)
        return self._once(request, scope, key, body)

    def _once(self, request, scope: str, key: str, body: _Body):
        if outage.skipping():
            return self.get_response(request)
        cache_key = entry_cache_key(scope, key)
        name = lock_name(scope, key)
        try:
            token, entry = self._lock_or_answer(name, cache_key)
        except _CACHE_ERRORS as exc:
            outage.failed(exc)
            return self.get_response(request)
        if entry is not None:
            return self._answer(request, body, entry)
        if token is None:
            return _in_progress(request)
        try:
            return self._run(request, body, cache_key)
        finally:
            try:
                locks.release(name, token)
            except _CACHE_ERRORS as exc:
                outage.failed(exc)  # the lock's expiry frees it

    def _lock_or_answer(self, name: str, cache_key: str) -> tuple[str | None, dict | None]:
        """(lock token, None) to run the request; (None, stored answer) to answer with it;
        (None, None) when another request kept the key for longer than we wait.

        A holder stores its answer before it lets go of the lock, so the first look under the
        lock finds the answer of a holder that finished in between.
        """
        entry = _load(cache_key)
        deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_SECONDS
        pause = _POLL_FIRST_SECONDS
        while entry is None:
            token = locks.acquire(name, timeout=settings.IDEMPOTENCY_LOCK_SECONDS)
            if token is not None:
                try:
                    entry = _load(cache_key)
                except _CACHE_ERRORS:
                    locks.release(name, token)
                    raise
                if entry is None:
                    return token, None
                locks.release(name, token)
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None
            _sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX_SECONDS)
            entry = _load(cache_key)
        return None, entry

    def _answer(self, request, body: _Body, entry: dict):
        return _replay(entry) if body.matches(entry) else _reused(request)

    def _run(self, request, body: _Body, cache_key: str):
        body.attach()
        response = self.get_response(request)
        if _storable(response) and body.complete:
            try:
                cache.set(
                    cache_key, _entry(response, body), timeout=settings.IDEMPOTENCY_TTL_SECONDS
                )
            except _CACHE_ERRORS as exc:
                outage.failed(exc)
        return response


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


# --- OpenAPI -------------------------------------------------------------------------------------


_PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def openapi_idempotency_header(result, generator, request, public):
    """drf-spectacular post-processing hook: document the header on every protected POST."""
    parameter = {
        "in": "header",
        "name": HEADER,
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "description": (
            "A unique value (e.g. a UUID) per operation. Repeats with the same key and request "
            "within 24 hours get the first answer again (header `Idempotent-Replayed: true`) "
            "without running twice. Same key, other request: 422 `idempotency_key_reused`; "
            "still running: 409 `request_in_progress`; invalid: 400 `invalid_idempotency_key`."
        ),
    }
    # Endpoint paths name parameters as the URL does (`{pk}`), the schema may rename them.
    paths = {_PATH_PARAMETER.sub("{}", path): item for path, item in result["paths"].items()}
    for path, _regex, method, callback in generator.endpoints or []:
        if method != "POST" or route_policy(callback) != PROTECTED:
            continue
        operation = paths.get(_PATH_PARAMETER.sub("{}", path), {}).get("post")
        if operation is None:
            continue
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("in") == "header" and p.get("name") == HEADER for p in parameters):
            parameters.append(dict(parameter))
    return result
