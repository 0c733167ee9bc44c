from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, pagination, permissions, throttles, logging, health."""

    name = "eduflow.core"
    label = "core"
    verbose_name = "Core"
