"""JSON API of the one-click medical record service (auto-discovered under /api/v1/)."""

from __future__ import annotations

from jingan.medical_records.archive_api import router as archive_router

ROUTERS = [("/archives", archive_router)]
