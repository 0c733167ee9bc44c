"""Small pieces for answers built without DRF serializers (the hot read paths)."""

from __future__ import annotations

from django.utils import timezone


def drf_datetime(value) -> str | None:
    """A datetime as DRF's DateTimeField writes it: in the current time zone, ISO 8601, `Z`
    for UTC; None stays None."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
