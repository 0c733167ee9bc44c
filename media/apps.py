from django.apps import AppConfig


class MediaConfig(AppConfig):
    """Uploaded files: validation, image processing, video transcoding, secure playback, Mux."""

    name = "media"
    label = "media"
    verbose_name = "Media"
    default_auto_field = "django.db.models.BigAutoField"
