"""What other contexts may ask about residents (types from ``contracts.py``)."""

from __future__ import annotations

from django.http import HttpRequest

from jingan.core.residents.auth import get_current_resident
from jingan.core.residents.contracts import ResidentSummary
from jingan.lib.masking import mask_name


def current_resident_summary(request: HttpRequest) -> ResidentSummary | None:
    """The signed-in resident as the H5 frame shows them (masked), or None."""
    resident = get_current_resident(request)
    if resident is None:
        return None
    return ResidentSummary(
        resident_id=resident.pk,
        nickname=resident.nickname,
        masked_name=mask_name(resident.name) if resident.is_verified else "",
        is_verified=resident.is_verified,
    )
