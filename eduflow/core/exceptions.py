"""RFC 9457 problem details for every error the API returns.

Services raise `ProblemError` subclasses with a stable `code`; DRF and Django errors are mapped
here too, so clients always get `application/problem+json` with `type`, `title`, `status`,
`detail`, `instance`, `code` and (for validation) `errors`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:eduflow:problem:"


class ProblemError(exceptions.APIException):
    """A domain error with a stable machine-readable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail or self.default_detail, code or self.default_code)
        self.problem_code = code or self.default_code


class Conflict(ProblemError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state of the resource."


class PaymentRequired(ProblemError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_required"
    default_detail = "This course must be purchased before enrolling."


class Forbidden(ProblemError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class UnprocessableEntity(ProblemError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"


def request_id_of(request) -> str | None:
    return getattr(request, "request_id", None) if request is not None else None


def problem_body(
    *,
    status_code: int,
    code: str,
    detail: str,
    request=None,
    errors: dict[str, list[str]] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "instance": None,
        "code": code,
    }
    rid = request_id_of(request)
    if request is not None:
        body["instance"] = f"{request.path}#request-{rid}" if rid else request.path
    if rid:
        body["request_id"] = rid
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    request, *, status_code: int, code: str, detail: str, extra: dict[str, Any] | None = None
) -> JsonResponse:
    """A problem+json response for plain Django views (health checks, error handlers)."""
    body = problem_body(status_code=status_code, code=code, detail=detail, request=request)
    body.update(extra or {})
    return JsonResponse(
        body,
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                name = f"{prefix}.{index}" if prefix else str(index)
                out.update(_flatten(item, name))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _first_message(errors: dict[str, list[str]]) -> str:
    for field, messages in errors.items():
        if messages:
            return messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
    return "Invalid input."


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, ProblemError):
        return exc.problem_code
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def _detail_and_code(exc: exceptions.APIException) -> tuple[str, str]:
    """A readable message and a stable code, also for errors whose detail is a dict.

    simplejwt's errors carry `{"detail": ..., "code": ..., "messages": [...]}`; the message and
    code in it are what a client needs, not the dict's repr.
    """
    detail = exc.detail
    if isinstance(detail, dict) and "detail" in detail:
        code = detail.get("code")
        return str(detail["detail"]), str(code) if code else _code_of(exc)
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail) or str(exc.default_detail), _code_of(exc)
    return str(detail), _code_of(exc)


def problem_exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF exception handler producing problem+json."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, IntegrityError):
        # A database constraint caught what validation did not: report a conflict, not a 500.
        exc = Conflict("The change conflicts with existing data.", code="constraint_violation")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        body = problem_body(
            status_code=response.status_code,
            code="validation_error",
            detail=_first_message(errors),
            request=request,
            errors=errors,
            title="Invalid input",
        )
    else:
        detail, code = _detail_and_code(exc)
        body = problem_body(
            status_code=response.status_code, code=code, detail=detail, request=request
        )
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            body["retry_after"] = int(exc.wait) + (0 if exc.wait == int(exc.wait) else 1)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
