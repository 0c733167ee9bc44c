"""EduFlow: a REST backend for online courses."""

from .celery import app as celery_app

__all__ = ["celery_app"]
