"""Console routes of the archive sync (MR-A1, MR-A5, MR-C1)."""

from __future__ import annotations

from django.urls import path

from jingan.medical_records import archive_views as views

archive_urlpatterns = [
    path("console/records/archives/", views.archive_status, name="archive-status"),
    path("console/records/archives/configure/", views.archive_configure, name="archive-configure"),
    path(
        "console/records/archives/<int:institution_id>/configure/",
        views.archive_configure,
        name="archive-configure-institution",
    ),
    path(
        "console/records/archives/<int:institution_id>/sync/",
        views.archive_sync_now,
        name="archive-sync",
    ),
    path(
        "console/records/archives/<int:institution_id>/failures/",
        views.archive_failures,
        name="archive-failures",
    ),
    path("console/records/archives/rejected/", views.rejected_list, name="archive-rejected"),
    path(
        "console/records/archives/rejected/<int:pk>/replay/",
        views.rejected_replay,
        name="archive-rejected-replay",
    ),
]
