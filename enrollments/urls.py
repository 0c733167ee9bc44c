from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("enrollments", views.EnrollmentViewSet, basename="enrollment")

urlpatterns = router.urls
