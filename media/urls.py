from django.urls import include, path

# Assets and uploads (media/views.py) and playback, streaming and Mux (media/playback_urls.py).
urlpatterns: list = [
    path("", include("media.playback_urls")),
]
