"""URL map: the JSON API under /api/v1/, its schema and docs, health checks, admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from eduflow.core import views as core_views

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("courses.urls")),
    path("", include("lessons.urls")),
    path("", include("enrollments.urls")),
    path("", include("progress.urls")),
    path("", include("media.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("health/live/", core_views.health_live, name="health-live"),
    path("health/ready/", core_views.health_ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    re_path(r"^api/", core_views.api_not_found),
]

handler400 = "eduflow.core.views.handler400"
handler403 = "eduflow.core.views.handler403"
handler404 = "eduflow.core.views.handler404"
handler500 = "eduflow.core.views.handler500"

admin.site.site_header = "EduFlow administration"
admin.site.site_title = "EduFlow admin"
