"""Assertion helpers shared by the accounts and core tests (no test functions here)."""

from __future__ import annotations

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code"}


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    request_id = response.headers["X-Request-ID"]
    assert request_id in body["instance"]
    return body
