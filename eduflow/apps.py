from django.apps import AppConfig


class EduflowConfig(AppConfig):
    """The project package as an app: it holds commands that span every app (seed_demo)."""

    name = "eduflow"
    verbose_name = "EduFlow"
