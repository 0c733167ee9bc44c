"""Reactions of the lessons app to other apps' signals (connected in LessonsConfig.ready())."""

from __future__ import annotations

from django.dispatch import receiver

from media.signals import asset_ready

from . import services


@receiver(asset_ready, dispatch_uid="lessons.fill_duration_from_asset")
def fill_duration_from_asset(sender, *, asset_id, duration=None, **kwargs) -> None:
    """A processed video's measured length becomes the duration of lessons that have none."""
    if duration:
        services.lessons_fill_duration_from_asset(
            asset_id=asset_id, duration_seconds=max(1, int(float(duration) + 0.5))
        )
