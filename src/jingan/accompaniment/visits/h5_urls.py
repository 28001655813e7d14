"""Resident H5 pages of the visit assistant (the lead's notification links use these names)."""

from __future__ import annotations

from django.urls import URLPattern, path

from jingan.accompaniment.visits import h5_views

urlpatterns: list[URLPattern] = [
    path("h5/visits/", h5_views.visit_list, name="h5-visits"),
    path("h5/visits/<uuid:reference>/", h5_views.visit_detail, name="h5-visit"),
    path(
        "h5/visits/<uuid:reference>/nodes/<slug:node>/",
        h5_views.visit_node,
        name="h5-visit-node",
    ),
]
