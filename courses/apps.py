from django.apps import AppConfig


class CoursesConfig(AppConfig):
    """Categories and courses with their life cycle (draft → published → archived)."""

    name = "courses"
    verbose_name = "Courses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from .catalog_cache import on_catalog_change, on_user_saved
        from .models import Category, Course

        # Every change to catalog rows makes the cached catalog answers stale.
        for model in (Category, Course):
            uid = f"courses.catalog_cache.{model.__name__}"
            post_save.connect(on_catalog_change, sender=model, dispatch_uid=f"{uid}.save")
            post_delete.connect(on_catalog_change, sender=model, dispatch_uid=f"{uid}.delete")
        post_save.connect(
            on_user_saved, sender=get_user_model(), dispatch_uid="courses.catalog_cache.user"
        )
