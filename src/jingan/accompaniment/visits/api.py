"""JSON API of the visit assistant: HIS pushes and third-party events under /api/v1/his/,
the resident's visits under /api/v1/visits/."""

from __future__ import annotations

from jingan.accompaniment.visits.inputs.push_api import router as his_router
from jingan.accompaniment.visits.resident_api import router as resident_router

ROUTERS = [("/his/", his_router), ("/visits/", resident_router)]
