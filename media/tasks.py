"""Celery tasks of the media app (queue `media`). Each takes an asset id and is safe to rerun."""
