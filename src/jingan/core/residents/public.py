"""What other contexts may ask about residents (types from ``contracts.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.http import HttpRequest
from django.utils import timezone

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


def verified_residents_by_id_number(id_numbers: Iterable[str]) -> dict[str, int]:
    """ID number -> the (first) verified resident holding it, for many numbers in one query."""
    from jingan.core.crypto.fields import blind_index
    from jingan.core.residents.models import Resident

    by_index: dict[str, str] = {}
    for number in set(id_numbers):
        index = blind_index(Resident, "id_number_index", number or "")
        if index:
            by_index[index] = number
    if not by_index:
        return {}
    found: dict[str, int] = {}
    for index, pk in (
        Resident.objects.filter(id_number_index__in=list(by_index), is_verified=True)
        .order_by("pk")
        .values_list("id_number_index", "pk")
    ):
        found.setdefault(by_index[index], pk)
    return found


# GB/T 2261.1 sex codes, the coding the supervision lake uses for every source.
_GENDER_CODES = {"M": "1", "F": "2"}
# Separates this pseudonym from every other HMAC under the blind-index key.
_ACCOUNT_PSEUDONYM_DOMAIN = "supervision.platform_account"


def resident_account_pseudonym(openid: str) -> str:
    """A stable pseudonym for a resident account (HMAC-SM3, never the openid itself)."""
    from jingan.core.crypto.fields import BLIND_INDEX_PURPOSE
    from jingan.core.crypto.macs import mac_hex

    return mac_hex(BLIND_INDEX_PURPOSE, f"{_ACCOUNT_PSEUDONYM_DOMAIN}\x1f{openid}".encode())


def resident_rows_for_day(day: date) -> list[dict[str, object]]:
    """Residents created on local ``day``, as rows of the ``platform_residents`` dataset.

    Only what supervision needs: a pseudonymous account id, when the account was
    registered and verified (local wall-clock time), gender and birth year.
    """
    from jingan.core.residents.models import Resident

    zone = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    residents = (
        Resident.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "pk")
        .only("openid", "created_at", "verified_at", "sex", "birth_date")
    )

    def local(moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        return timezone.localtime(moment, zone).replace(tzinfo=None, microsecond=0)

    return [
        {
            "account_id": resident_account_pseudonym(resident.openid),
            "registered_at": local(resident.created_at),
            "verified_at": local(resident.verified_at),
            "gender": _GENDER_CODES.get(resident.sex),
            "birth_year": resident.birth_date.year if resident.birth_date else None,
        }
        for resident in residents
    ]
