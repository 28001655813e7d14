"""Console routes of the record room: applications, review, statistics (MR-A2..A5)."""

from __future__ import annotations

from django.urls import path

from jingan.medical_records import console_views as views

console_urlpatterns = [
    path("console/records/applications/", views.application_list, name="console-applications"),
    path(
        "console/records/applications/export/",
        views.applications_export,
        name="console-applications-export",
    ),
    path(
        "console/records/applications/<int:pk>/",
        views.application_detail,
        name="console-application",
    ),
    path(
        "console/records/applications/<int:pk>/reveal/",
        views.application_reveal,
        name="console-application-reveal",
    ),
    path(
        "console/records/applications/<int:pk>/actions/<slug:action>/",
        views.application_action,
        name="console-application-action",
    ),
    path(
        "console/records/applications/<int:pk>/copy/",
        views.copy_file,
        name="console-application-copy",
    ),
    path("console/records/materials/<int:pk>/", views.material_file, name="console-material"),
    path("console/records/review/", views.review_queue_page, name="console-review"),
    path("console/records/statistics/", views.statistics_page, name="console-statistics"),
    path(
        "console/records/statistics/export/",
        views.statistics_export,
        name="console-statistics-export",
    ),
]
