"""Routes for streaming, downloads and Mux (see media/playback_views.py)."""

from django.urls import path

from . import playback_views as views

urlpatterns = [
    path("media/uploads/mux/", views.MuxUploadView.as_view(), name="media-mux-upload"),
    path("media/webhooks/mux/", views.MuxWebhookView.as_view(), name="media-mux-webhook"),
    path("media/<uuid:asset_id>/hls/<path:path>", views.HlsFileView.as_view(), name="media-hls"),
    path("media/<uuid:asset_id>/key/", views.HlsKeyView.as_view(), name="media-hls-key"),
    path("media/<uuid:asset_id>/poster/", views.PosterView.as_view(), name="media-poster"),
    path(
        "media/<uuid:asset_id>/download/",
        views.AssetDownloadView.as_view(),
        name="media-download",
    ),
]
