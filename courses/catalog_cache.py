"""The catalog cache: public course list and detail responses, kept in the shared cache.

What is cached: the rendered JSON of `GET /api/v1/courses/` and `GET /api/v1/courses/<id>/` as
the public sees them, that is for anonymous callers and students (instructors and admins see
drafts, so their answers are never cached nor served from the cache). Every public caller gets
the same bytes for the same URL, so there is nothing personal in an entry; the key is the full
URL (scheme, host, path and sorted query), because the answer carries absolute links.

Invalidation is exact and immediate, by version: every entry records the catalog version it was
computed under, and any change to a category, course, module or lesson (saved or deleted one by
one, in bulk, through the API, the admin or a shell), or to an instructor's name, sets a new
version once the change commits. An entry whose version is not the current one is a miss. The
version and the entry are read in one round trip (`get_many`).

A new version is a random token, never a counter: if the cache loses the version key (eviction,
restart), the next reader makes a new token, so an entry written before can never match again.

A cache outage never fails a request: reads fall back to the database and the failure is logged
(at most once a minute per process). A version bump that fails during an outage is retried by
this process on its next catalog read; entries also expire after CATALOG_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.db import models, transaction
from django.http import HttpResponse
from django.utils.cache import get_conditional_response

from eduflow.core.http_caching import PUBLIC_VARY, body_etag
from eduflow.core.locks import redis_client
from eduflow.core.outage import CacheOutage
from eduflow.core.permissions import is_admin, is_instructor
from eduflow.core.throttling import AnonRateThrottle

logger = logging.getLogger(__name__)

VERSION_KEY = "catalog:version"
_ENTRY_PREFIX = "catalog:entry:"

_state_lock = threading.Lock()
_bump_pending = False


def enabled() -> bool:
    return settings.CATALOG_CACHE_SECONDS > 0


def _warn_uncached(exc: BaseException, unlogged: int) -> None:
    logger.warning(
        "catalog cache unavailable: %s: %s; serving from the database (%d more uncached "
        "reads since the previous warning)",
        type(exc).__name__,
        exc,
        unlogged,
        extra={"event": "catalog_cache_unavailable", "uncached_since_last": unlogged},
    )


# After a failure the cache is left alone for 5 s (a cache that hangs costs one timeout now and
# then, not one per request); a WARNING at most once a minute per process.
outage = CacheOutage(retry_seconds=lambda: 5.0, log_seconds=lambda: 60.0, warn=_warn_uncached)


def _new_version() -> str:
    return secrets.token_hex(8)


def _bump_now() -> None:
    global _bump_pending
    try:
        cache.set(VERSION_KEY, _new_version(), None)
    except Exception as exc:
        with _state_lock:
            _bump_pending = True
        outage.failed(exc)
    else:
        with _state_lock:
            _bump_pending = False


def bump_version() -> None:
    """Make every cached catalog entry stale, once the current transaction commits.

    Called after the commit so a reader can never store data read before the change under the
    new version. Outside a transaction it runs at once.
    """
    transaction.on_commit(_bump_now)


def _retry_pending_bump() -> None:
    if _bump_pending:
        _bump_now()


def _public_view(user) -> bool:
    """Anonymous callers and students see the same catalog; staff roles see more."""
    return not (is_admin(user) or is_instructor(user))


def _entry_key(kind: str, request) -> str:
    query = sorted((key, value) for key, values in request.GET.lists() for value in values)
    identity = repr((kind, request.scheme, request.get_host(), request.path, query))
    digest = hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()
    return f"{_ENTRY_PREFIX}{kind}:{digest}"


def _json_response(body: bytes, etag: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    return response


def cached_read(view, request, kind: str, compute: Callable[[], object]):
    """Answer a public catalog read from the cache, or compute it and store it.

    `compute` returns the DRF Response the view would give. Only 200 JSON answers are cached;
    anything else (errors, the browsable API's HTML, staff callers) is returned as computed.
    """
    renderer = getattr(request, "accepted_renderer", None)
    if (
        not enabled()
        or getattr(renderer, "format", None) != "json"
        or not _public_view(request.user)
        or outage.skipping()
    ):
        return compute()

    key = _entry_key(kind, request)
    version = None
    try:
        _retry_pending_bump()
        found = cache.get_many([VERSION_KEY, key])
        version = found.get(VERSION_KEY)
        if version is None:
            # First use, or the cache lost it: a new random version, never an old one.
            cache.add(VERSION_KEY, _new_version(), None)
            version = cache.get(VERSION_KEY)
        entry = found.get(key)
        if entry is not None and version is not None and entry[0] == version:
            return _json_response(entry[2], entry[1])
    except Exception as exc:
        outage.failed(exc)
        version = None

    response = compute()
    if getattr(response, "status_code", None) != 200 or not hasattr(response, "data"):
        return response
    body = renderer.render(
        response.data,
        accepted_media_type=request.accepted_media_type,
        renderer_context=view.get_renderer_context(),
    )
    etag = body_etag(body)
    if version is not None:
        try:
            cache.set(key, (version, etag, body), settings.CATALOG_CACHE_SECONDS)
        except Exception as exc:
            outage.failed(exc)
    return _json_response(body, etag)


class CatalogQuerySet(models.QuerySet):
    """A queryset whose bulk writes invalidate the catalog cache (signals do not see them).

    Only writes that changed rows invalidate: an update matching nothing keeps the cache.
    """

    def update(self, **kwargs):
        changed = super().update(**kwargs)
        if changed:
            bump_version()
        return changed

    def delete(self):
        deleted = super().delete()
        if deleted[0]:
            bump_version()
        return deleted

    def bulk_create(self, *args, **kwargs):
        created = super().bulk_create(*args, **kwargs)
        if created:
            bump_version()
        return created

    def bulk_update(self, *args, **kwargs):
        changed = super().bulk_update(*args, **kwargs)
        if changed:
            bump_version()
        return changed


def on_catalog_change(sender, **kwargs) -> None:
    """post_save/post_delete receiver for catalog models."""
    if kwargs.get("raw"):
        return  # fixtures: loaddata runs before anything is served
    bump_version()


# Fields of a user shown in catalog answers (the instructor summary).
_USER_CATALOG_FIELDS = frozenset({"username", "full_name"})


def on_user_saved(sender, *, instance, created: bool, update_fields=None, **kwargs) -> None:
    """A renamed instructor changes the courses that show the name; logins change nothing.

    New accounts teach nothing yet, and a student's own changes touch no catalog answer.
    """
    if created or kwargs.get("raw"):
        return
    if update_fields is not None and not (set(update_fields) & _USER_CATALOG_FIELDS):
        return
    from .models import Course

    if (
        is_admin(instance)
        or is_instructor(instance)
        or Course.objects.filter(instructor_id=instance.pk).exists()
    ):
        bump_version()


# --- Serving hits before the framework ------------------------------------------------------------
_LIST_PATH = "/api/v1/courses/"
_DETAIL_PATH = re.compile(
    r"^/api/v1/courses/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/$"
)
# What the course views allow on each path (the `Allow` header DRF writes on every answer).
_ALLOW = {
    "list": "GET, POST, HEAD, OPTIONS",
    "detail": "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
}
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


class _AnonymousCaller:
    """What the anonymous throttle reads of a request before authentication has run."""

    user = AnonymousUser()

    def __init__(self, request) -> None:
        self._request = request
        self.META = request.META


def _anonymous_json_get(request) -> str | None:
    """The catalog kind of a GET that only the public answer can satisfy, or None.

    Anything that might be answered differently goes on to the views: credentials (a bearer
    token or a session cookie), another format (`Accept` other than JSON, `?format=`), other
    methods and paths.
    """
    if request.method != "GET":
        return None
    path = request.path_info
    if path == _LIST_PATH:
        kind = "list"
    elif len(path) == len(_LIST_PATH) + 37 and _DETAIL_PATH.match(path):
        kind = "detail"
    else:
        return None
    meta = request.META
    if "HTTP_AUTHORIZATION" in meta or settings.SESSION_COOKIE_NAME in request.COOKIES:
        return None
    accept = meta.get("HTTP_ACCEPT", "").strip()
    if accept not in _JSON_ACCEPTS and not accept.startswith("application/json"):
        return None
    if "format" in request.GET:
        return None
    return kind


class CatalogCacheMiddleware:
    """Answers anonymous catalog reads found in the cache before sessions, authentication,
    URL routing and the framework run, the way a reverse-proxy cache would.

    It only reads: entries are written by the views (`cached_read`), for the public view, so
    what it serves is exactly what the view would have answered. The anonymous rate limit
    still applies: a hit counts against it, and a refused request goes on to the view, which
    answers the 429. Misses, credentials and every other request pass through untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        kind = None
        if enabled() and not outage.skipping():
            kind = _anonymous_json_get(request)
        if kind is not None:
            response = self._hit(request, kind)
            if response is not None:
                return response
        return self.get_response(request)

    def _hit(self, request, kind: str) -> HttpResponse | None:
        try:
            key = _entry_key(kind, request)
        except DisallowedHost:
            return None  # the framework answers it (400)
        caller = _AnonymousCaller(request)
        throttle = AnonRateThrottle()
        try:
            _retry_pending_bump()
            client = redis_client()
            if client is not None:
                # One round trip: the version, the entry and the anonymous count together.
                pipeline = client.pipeline(transaction=False)
                pipeline.mget([cache.make_key(VERSION_KEY), cache.make_key(key)])
                settle = throttle.pipelined_count(caller, pipeline, cache)
                replies = pipeline.execute(raise_on_error=False)
                if isinstance(replies[0], Exception):
                    raise replies[0]
                version, entry = (
                    None if raw is None else cache.client.decode(raw) for raw in replies[0]
                )
                allowed = settle(replies[1]) if settle is not None else True
            else:
                found = cache.get_many([VERSION_KEY, key])
                version, entry = found.get(VERSION_KEY), found.get(key)
                allowed = None  # counted below, on a hit only
        except Exception as exc:
            outage.failed(exc)
            return None
        if entry is None or version is None or entry[0] != version:
            return None  # the view computes it (and reuses the count made here)
        if allowed is None:
            allowed = throttle.allow_request(caller, None)
        if not allowed:
            return None  # the view answers the 429
        _, etag, body = entry
        response = _json_response(body, etag)
        response["Content-Length"] = str(len(body))
        response["Allow"] = _ALLOW[kind]
        response["Cache-Control"] = f"public, max-age={settings.CATALOG_HTTP_MAX_AGE}"
        response["Vary"] = ", ".join(PUBLIC_VARY)
        return get_conditional_response(request, etag=etag, response=response)
