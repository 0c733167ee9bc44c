from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views
from .playback import LessonPlaybackView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("modules", views.ModuleViewSet, basename="module")
router.register("lessons", views.LessonViewSet, basename="lesson")

urlpatterns = [
    # A course action, served here because it orders modules and lessons (courses must not
    # import lessons).
    path("courses/<uuid:pk>/reorder/", views.CourseReorderView.as_view(), name="course-reorder"),
    path("lessons/<uuid:pk>/playback/", LessonPlaybackView.as_view(), name="lesson-playback"),
    *router.urls,
]
