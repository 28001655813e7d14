"""Routes of the one-click medical record service (full paths, auto-discovered)."""

from __future__ import annotations

from jingan.medical_records.archive_urls import archive_urlpatterns
from jingan.medical_records.console_urls import console_urlpatterns
from jingan.medical_records.h5_urls import h5_urlpatterns

app_name = "medical_records"

urlpatterns = [*archive_urlpatterns, *console_urlpatterns, *h5_urlpatterns]
