from django.apps import AppConfig


class LessonsConfig(AppConfig):
    """Modules (sections) and lessons of a course: their order and content."""

    name = "lessons"
    verbose_name = "Lessons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from media.playback import register_asset_access

        from . import receivers  # noqa: F401 (connects the signal receivers)
        from .selectors import lesson_asset_access

        # Documents are downloadable by the audience of the lesson bodies using them.
        register_asset_access(lesson_asset_access)
