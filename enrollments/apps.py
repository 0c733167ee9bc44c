from django.apps import AppConfig


class EnrollmentsConfig(AppConfig):
    """Who is enrolled in what: capacity, cancellation and completion."""

    name = "enrollments"
    verbose_name = "Enrollments"
    default_auto_field = "django.db.models.BigAutoField"
