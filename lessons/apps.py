from django.apps import AppConfig


class LessonsConfig(AppConfig):
    """Modules (sections) and lessons of a course: their order and content."""

    name = "lessons"
    verbose_name = "Lessons"
    default_auto_field = "django.db.models.BigAutoField"
