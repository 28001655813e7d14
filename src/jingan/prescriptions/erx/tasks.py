"""Periodic and queued work of e-prescriptions; ids in, re-read, safe to run twice.

Polling is what makes a lost notification harmless: every uploaded prescription the
centre may still move (uploaded, approved, revoke pending) is re-queried, and one whose
upload answer was lost is reconciled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from huey.contrib.djhuey import db_task

from jingan.prescriptions.erx import services
from jingan.prescriptions.erx.errors import ErxError
from jingan.prescriptions.erx.models import CentreCall, Prescription, PrescriptionStatus

logger = logging.getLogger(__name__)


@dataclass
class PollResult:
    checked: int = 0
    changed: int = 0
    failed: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)


def _uncertain_upload_ids() -> list[int]:
    """Signed prescriptions whose upload may have reached the centre unanswered."""
    signed = Prescription.objects.unscoped().filter(status=PrescriptionStatus.SIGNED)
    candidates = (
        CentreCall.objects.unscoped()
        .filter(
            prescription__in=signed,
            operation="rxFileUpld",
            may_have_reached=True,
        )
        .values_list("prescription_id", flat=True)
        .distinct()
    )
    return sorted({pk for pk in candidates if pk is not None})


def poll_outstanding_prescriptions() -> PollResult:
    """Refresh every outstanding prescription from the centre, then expire overdue ones."""
    result = PollResult()
    for prescription_id in services.outstanding_prescription_ids() + _uncertain_upload_ids():
        before = (
            Prescription.objects.unscoped()
            .filter(pk=prescription_id)
            .values_list("status", flat=True)
            .first()
        )
        result.checked += 1
        try:
            after = services.refresh_from_centre(
                actor=services.SYSTEM_ACTOR, prescription_id=prescription_id
            )
        except ErxError as error:
            result.failed += 1
            result.errors.append(f"{prescription_id}: {error.message}")
            logger.warning("erx poll of %s failed: %s", prescription_id, error.message)
            continue
        if after.status != before:
            result.changed += 1
    result.expired = services.expire_overdue()
    return result


def poll_outstanding_job() -> None:
    """The periodic entry point (config/schedules.py)."""
    poll_outstanding_prescriptions()


@db_task(name="erx.refresh_prescription")
def refresh_prescription_task(prescription_id: int) -> str:
    """Refresh one prescription from the centre in the background; answers its status."""
    return services.refresh_from_centre(
        actor=services.SYSTEM_ACTOR, prescription_id=prescription_id
    ).status
