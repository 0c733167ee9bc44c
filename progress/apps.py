from django.apps import AppConfig


class ProgressConfig(AppConfig):
    """Learning progress: watched intervals, resume points, course completion, analytics."""

    name = "progress"
    verbose_name = "Progress"
    default_auto_field = "django.db.models.BigAutoField"
