from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("enrollments", views.EnrollmentViewSet, basename="enrollment")
router.register("certificates", views.CertificateViewSet, basename="certificate")

urlpatterns = [
    # Public; listed before the router (whose certificate ids only match UUIDs anyway).
    path(
        "certificates/verify/<str:code>/",
        views.CertificateVerifyView.as_view(),
        name="certificate-verify",
    ),
    *router.urls,
]
