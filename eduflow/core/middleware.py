"""Request id and access log middleware."""

from __future__ import annotations

import logging
import re
import time
import uuid

from .context import request_id_var, user_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

access_logger = logging.getLogger("eduflow.access")


def _incoming_request_id(request) -> str:
    candidate = request.META.get("HTTP_X_REQUEST_ID", "")
    if candidate and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Reads `X-Request-ID` (or makes one), exposes it to logs and echoes it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = _incoming_request_id(request)
        request.request_id = request_id
        rid_token = request_id_var.set(request_id)
        uid_token = user_id_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(rid_token)
            user_id_var.reset(uid_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class AccessLogMiddleware:
    """Writes one JSON access log line per request (method, path, status, duration, user)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        # DRF authenticates inside the view; it records the user on the underlying request.
        user_id = getattr(request, "authenticated_user_id", None)
        if user_id is None and user is not None and user.is_authenticated:
            user_id = str(user.pk)
        if user_id is not None:
            user_id_var.set(user_id)
        status = response.status_code
        level = logging.ERROR if status >= 500 else logging.INFO
        access_logger.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "user_id": user_id,
            },
        )
        return response
