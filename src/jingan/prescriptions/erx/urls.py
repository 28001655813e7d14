"""Pages of the e-prescription centre: the console under console/erx/, the resident's
"我的处方" under h5/erx/ (full paths, auto-discovered by the root URLconf)."""

from __future__ import annotations

from django.urls import path

from jingan.prescriptions.erx import console_views as console
from jingan.prescriptions.erx import h5_views as h5

app_name = "erx"

_RX = "console/erx/prescriptions/<uuid:reference>/"

urlpatterns = [
    path("console/erx/prescriptions/", console.prescription_list, name="prescriptions"),
    path("console/erx/prescriptions/new/", console.prescription_create, name="prescription-create"),
    path(_RX, console.prescription_detail, name="prescription"),
    path(f"{_RX}edit/", console.prescription_edit, name="prescription-edit"),
    path(f"{_RX}delete/", console.prescription_delete, name="prescription-delete"),
    path(f"{_RX}reveal/", console.prescription_reveal, name="prescription-reveal"),
    path(f"{_RX}pdf/", console.prescription_pdf, name="prescription-pdf"),
    path(f"{_RX}slip/", console.prescription_slip, name="prescription-slip"),
    path(f"{_RX}actions/<slug:action>/", console.prescription_action, name="prescription-action"),
    path("console/erx/drugs/search/", console.drug_search, name="drug-search"),
    path("console/erx/review/", console.review_queue, name="review-queue"),
    path("console/erx/catalogue/", console.catalogue, name="catalogue"),
    path("console/erx/catalogue/sync/", console.catalogue_sync, name="catalogue-sync"),
    path("console/erx/pickups/", console.pickups, name="pickups"),
    path("console/erx/exceptions/", console.exceptions, name="exceptions"),
    path("console/erx/calls/<int:pk>/replay/", console.call_replay, name="call-replay"),
    path(
        "console/erx/notifications/<int:pk>/replay/",
        console.notification_replay,
        name="notification-replay",
    ),
    path("console/erx/connections/", console.connections, name="connections"),
    path("console/erx/connections/<int:pk>/test/", console.connection_test, name="connection-test"),
    path("h5/erx/prescriptions/", h5.prescription_list, name="h5-prescriptions"),
    path("h5/erx/prescriptions/<uuid:reference>/", h5.prescription_detail, name="h5-prescription"),
    path("h5/erx/prescriptions/<uuid:reference>/slip/", h5.prescription_slip, name="h5-slip"),
]
