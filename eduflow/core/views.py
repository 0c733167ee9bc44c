"""Project-level views: health checks and problem+json error handlers for API paths."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .exceptions import problem_response

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/health/")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


@never_cache
def health_live(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@never_cache
def health_ready(request):
    """The database and the cache answer; 503 naming the failing part otherwise."""
    failing: list[str] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("readiness: database check failed")
        failing.append("database")
    try:
        probe_key = f"health:ready:{uuid.uuid4().hex}"
        cache.set(probe_key, "1", timeout=5)
        if cache.get(probe_key) != "1":
            raise RuntimeError("cache did not return the value just written")
        cache.delete(probe_key)
    except Exception:
        logger.exception("readiness: cache check failed")
        failing.append("cache")
    checks = {part: ("fail" if part in failing else "ok") for part in ("database", "cache")}
    if failing:
        return problem_response(
            request,
            status_code=503,
            code="not_ready",
            detail=f"Not ready: {', '.join(failing)} unavailable.",
            extra={"checks": checks},
        )
    return JsonResponse({"status": "ok", "checks": checks})


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Any unknown path under /api/ answers a problem+json 404, whatever the method."""
    return problem_response(
        request,
        status_code=404,
        code="not_found",
        detail=f"No API endpoint at {request.path}. See /api/docs/ for the endpoints.",
    )


def handler400(request, exception=None):
    if _is_api(request):
        return problem_response(request, status_code=400, code="bad_request", detail="Bad request.")
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return problem_response(
            request,
            status_code=403,
            code="permission_denied",
            detail="You do not have permission to perform this action.",
        )
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return problem_response(
            request,
            status_code=500,
            code="server_error",
            detail="An unexpected error occurred. Quote the request id when reporting it.",
        )
    return defaults.server_error(request)
