"""Resident H5 routes of the copy service (full paths; included by ``urls.py``)."""

from __future__ import annotations

from django.urls import path

from jingan.medical_records import copy_views, h5_views

h5_urlpatterns = [
    path("h5/records/", h5_views.intro, name="h5-intro"),
    path("h5/records/apply/", h5_views.apply_institution, name="h5-apply"),
    path("h5/records/apply/applicant/", h5_views.apply_applicant, name="h5-apply-applicant"),
    path("h5/records/apply/admissions/", h5_views.apply_admissions, name="h5-apply-admissions"),
    path("h5/records/apply/details/", h5_views.apply_details, name="h5-apply-details"),
    path("h5/records/apply/confirm/", h5_views.apply_confirm, name="h5-apply-confirm"),
    path("h5/records/applications/", h5_views.applications, name="h5-applications"),
    path(
        "h5/records/applications/<str:number>/",
        h5_views.application_detail,
        name="h5-application",
    ),
    path(
        "h5/records/applications/<str:number>/cancel/",
        h5_views.application_cancel,
        name="h5-application-cancel",
    ),
    path(
        "h5/records/applications/<str:number>/download/",
        copy_views.download_start,
        name="h5-copy-download-start",
    ),
    path("h5/records/copies/<str:token>/", copy_views.download, name="h5-copy-download"),
]
