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


def verified_resident_ids_for_id_number(id_number: str) -> list[int]:
    """The verified residents whose ID number is ``id_number`` (for notifications by ID)."""
    from jingan.core.crypto.fields import blind_index
    from jingan.core.residents.models import Resident

    index = blind_index(Resident, "id_number_index", id_number or "")
    if not index:
        return []
    return list(
        Resident.objects.filter(id_number_index=index, is_verified=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
