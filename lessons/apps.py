from django.apps import AppConfig


class LessonsConfig(AppConfig):
    """Modules (sections) and lessons of a course: their order and content."""

    name = "lessons"
    verbose_name = "Lessons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from courses.catalog_cache import on_catalog_change
        from media.playback import register_asset_access

        from . import receivers  # noqa: F401 (connects the signal receivers)
        from .models import Lesson, Module
        from .selectors import lesson_asset_access

        # Documents are downloadable by the audience of the lesson bodies using them.
        register_asset_access(lesson_asset_access)

        # Lesson counts and durations are part of the cached course answers.
        for model in (Module, Lesson):
            uid = f"lessons.catalog_cache.{model.__name__}"
            post_save.connect(on_catalog_change, sender=model, dispatch_uid=f"{uid}.save")
            post_delete.connect(on_catalog_change, sender=model, dispatch_uid=f"{uid}.delete")
