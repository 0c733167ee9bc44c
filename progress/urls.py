"""Progress routes, plus the course and lesson analytics (served here because they read the
progress store; the courses and lessons routers do not define `analytics`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("progress/heartbeat/", views.HeartbeatView.as_view(), name="progress-heartbeat"),
    path(
        "progress/lessons/<uuid:pk>/complete/",
        views.LessonCompleteView.as_view(),
        name="progress-lesson-complete",
    ),
    path(
        "progress/courses/<uuid:pk>/",
        views.CourseProgressView.as_view(),
        name="progress-course",
    ),
    path("progress/dashboard/", views.DashboardView.as_view(), name="progress-dashboard"),
    path("progress/history/", views.HistoryView.as_view(), name="progress-history"),
    path(
        "courses/<uuid:pk>/analytics/",
        views.CourseAnalyticsView.as_view(),
        name="course-analytics",
    ),
    path(
        "lessons/<uuid:pk>/analytics/retention/",
        views.LessonRetentionView.as_view(),
        name="lesson-retention",
    ),
]
