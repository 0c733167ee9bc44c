from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete


class ProgressConfig(AppConfig):
    """Learning progress: watched intervals, resume points, course completion, analytics."""

    name = "progress"
    verbose_name = "Progress"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lessons.models import Lesson

        from . import receivers

        post_delete.connect(
            receivers.erase_user_progress,
            sender=get_user_model(),
            dispatch_uid="progress.erase_user_progress",
        )
        post_delete.connect(
            receivers.erase_lesson_progress,
            sender=Lesson,
            dispatch_uid="progress.erase_lesson_progress",
        )
