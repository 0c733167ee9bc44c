from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

# Assets and uploads (media/views.py) and playback, streaming and Mux (media/playback_urls.py).
# Asset routes only match UUID ids, so they never shadow the playback routes.
router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("media", views.MediaAssetViewSet, basename="media-asset")

urlpatterns: list = [
    *router.urls,
    path("", include("media.playback_urls")),
]
