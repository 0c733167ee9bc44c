from django.apps import AppConfig


class CoursesConfig(AppConfig):
    """Categories and courses with their life cycle (draft → published → archived)."""

    name = "courses"
    verbose_name = "Courses"
    default_auto_field = "django.db.models.BigAutoField"
