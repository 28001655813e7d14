"""Routes of the supervision platform's console pages (full paths, auto-discovered)."""

from __future__ import annotations

from django.urls import path

from jingan.supervision import console_views
from jingan.supervision.dashboards import views as dashboards

app_name = "supervision"

urlpatterns = [
    path(
        "console/supervision/registrations/",
        dashboards.registrations_page,
        name="dashboard-registrations",
    ),
    path(
        "console/supervision/registrations/export/",
        dashboards.registrations_export,
        name="dashboard-registrations-export",
    ),
    path("console/supervision/activity/", dashboards.activity_page, name="dashboard-activity"),
    path(
        "console/supervision/activity/export/",
        dashboards.activity_export,
        name="dashboard-activity-export",
    ),
    path("console/supervision/modules/", dashboards.modules_page, name="dashboard-modules"),
    path(
        "console/supervision/modules/export/",
        dashboards.modules_export,
        name="dashboard-modules-export",
    ),
    path("console/supervision/alerts/", console_views.alert_list, name="alerts"),
    path("console/supervision/alerts/<int:pk>/", console_views.alert_detail, name="alert"),
    path(
        "console/supervision/alerts/<int:pk>/actions/<slug:action>/",
        console_views.alert_action,
        name="alert-action",
    ),
    path("console/supervision/rules/", console_views.rule_list, name="rules"),
    path("console/supervision/rules/<int:pk>/", console_views.rule_edit, name="rule"),
    path("console/supervision/runs/", console_views.run_list, name="runs"),
    path("console/supervision/runs/rerun/", console_views.run_rerun, name="runs-rerun"),
    path("console/supervision/exchange/", console_views.exchange_list, name="exchange"),
    path("console/supervision/indicators/", console_views.catalogue_page, name="catalogue"),
]
