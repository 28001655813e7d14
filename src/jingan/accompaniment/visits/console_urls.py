"""Console pages of the visit assistant under console/visits/ (the lead's ``urls.py``
adds them to the ``visits`` namespace)."""

from __future__ import annotations

from django.urls import URLPattern, path

from jingan.accompaniment.visits import console_views as console

_TEMPLATE = "console/visits/templates/<str:code>/"
_VERSION = f"{_TEMPLATE}versions/<int:version>/"
_CONNECTION = "console/visits/connections/<int:pk>/"
_REJECTED = "console/visits/rejected/<int:pk>/"

urlpatterns: list[URLPattern] = [
    path("console/visits/templates/", console.template_list, name="templates"),
    path(_TEMPLATE, console.template_detail, name="template"),
    path(f"{_TEMPLATE}edit/", console.template_edit, name="template-edit"),
    path(_VERSION, console.template_version, name="template-version"),
    path(f"{_VERSION}restore/", console.template_restore, name="template-restore"),
    path("console/visits/connections/", console.connection_list, name="connections"),
    path(f"{_CONNECTION}edit/", console.connection_edit, name="connection-edit"),
    path(f"{_CONNECTION}test/", console.connection_test, name="connection-test"),
    path(f"{_CONNECTION}reset/", console.connection_reset, name="connection-reset"),
    path("console/visits/rejected/", console.rejected_list, name="rejected"),
    path(_REJECTED, console.rejected_detail, name="rejected-detail"),
    path(f"{_REJECTED}reveal/", console.rejected_reveal, name="rejected-reveal"),
    path(f"{_REJECTED}replay/", console.rejected_replay, name="rejected-replay"),
    path(f"{_REJECTED}discard/", console.rejected_discard, name="rejected-discard"),
    path("console/visits/centre/", console.centre, name="centre"),
]
