from django.apps import AppConfig


class EnrollmentsConfig(AppConfig):
    """Who is enrolled in what: capacity, cancellation, completion and certificates."""

    name = "enrollments"
    verbose_name = "Enrollments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)
