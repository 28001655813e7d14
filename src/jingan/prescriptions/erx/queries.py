"""Scoped reads of the e-prescription console and the resident's "我的处方" (RX-M1, RX-M2,
RX-C1).

Every staff read starts from ``.restrict(user, permission)``: a district grant sees every
institution, an institution grant its own, nothing else; anything outside is a 404. A
resident sees only the prescriptions written for their own (verified) ID number, found
through the blind index, never by name.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from jingan.core.public import blind_index
from jingan.integrations.erx_centre.port import (
    DEFAULT_RX_REVIEW_STATUS,
    DEFAULT_RX_STATUS,
    DEFAULT_RX_USED_STATUS,
)
from jingan.prescriptions.erx.models import (
    CallOutcome,
    CentreCall,
    CentreConnection,
    CentreNotification,
    DrugCatalogueEntry,
    NotificationOutcome,
    Prescription,
    PrescriptionEvent,
    PrescriptionStatus,
)

VIEW_PERMISSION = "erx.view_prescription"
ADD_PERMISSION = "erx.add_prescription"
CHANGE_PERMISSION = "erx.change_prescription"
DELETE_PERMISSION = "erx.delete_prescription"
PRESCRIBE_PERMISSION = "erx.prescribe_prescription"
REVIEW_PERMISSION = "erx.review_prescription"
VIEW_CALL_PERMISSION = "erx.view_centrecall"
REPLAY_PERMISSION = "erx.replay_centrecall"
VIEW_NOTIFICATION_PERMISSION = "erx.view_centrenotification"
VIEW_CATALOGUE_PERMISSION = "erx.view_drugcatalogueentry"
SYNC_CATALOGUE_PERMISSION = "erx.change_drugcatalogueentry"
VIEW_CONNECTION_PERMISSION = "erx.view_centreconnection"
MANAGE_CONNECTION_PERMISSION = "erx.manage_centreconnection"

# One Tabler colour per status, used by the console badges and the H5 chips alike.
STATUS_COLOURS: dict[str, str] = {
    PrescriptionStatus.DRAFT: "secondary",
    PrescriptionStatus.VERIFIED: "azure",
    PrescriptionStatus.PENDING_REVIEW: "orange",
    PrescriptionStatus.REVIEW_REJECTED: "red",
    PrescriptionStatus.REVIEWED: "teal",
    PrescriptionStatus.SIGNED: "indigo",
    PrescriptionStatus.UPLOADED: "blue",
    PrescriptionStatus.CENTRE_APPROVED: "green",
    PrescriptionStatus.CENTRE_REJECTED: "red",
    PrescriptionStatus.REVOKE_PENDING: "yellow",
    PrescriptionStatus.REVOKED: "dark",
    PrescriptionStatus.DISPENSED: "lime",
    PrescriptionStatus.EXPIRED: "secondary",
}

# What the pickup-result page follows: sent to the centre and not yet gone for good.
PICKUP_STATUSES = (
    PrescriptionStatus.UPLOADED,
    PrescriptionStatus.CENTRE_APPROVED,
    PrescriptionStatus.REVOKE_PENDING,
    PrescriptionStatus.DISPENSED,
)

# A prescription becomes the resident's business once it reached the centre: drafts and
# in-hospital steps may still be deleted by the doctor and mean nothing to a pharmacy.
RESIDENT_STATUSES = (
    PrescriptionStatus.UPLOADED,
    PrescriptionStatus.CENTRE_APPROVED,
    PrescriptionStatus.CENTRE_REJECTED,
    PrescriptionStatus.REVOKE_PENDING,
    PrescriptionStatus.REVOKED,
    PrescriptionStatus.DISPENSED,
    PrescriptionStatus.EXPIRED,
)


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "secondary")


def _institution_model() -> Any:
    # By registry, not import: business contexts reach core models only through its door.
    return apps.get_model("institutions", "Institution")


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def institutions_for(user: Any, permission: str = VIEW_PERMISSION) -> list[Any]:
    """The active institutions where ``user`` holds ``permission`` (filters, pickers)."""
    return list(
        _institution_model()
        .objects.restrict(user, permission)
        .filter(is_active=True)
        .order_by("code")
    )


# -- prescriptions --------------------------------------------------------------------


@dataclass(frozen=True)
class PrescriptionFilters:
    """The list's filter bar."""

    status: str = ""
    rxno: str = ""  # our hosp_rxno or the centre's hi_rxno (prefix)
    id_number: str = ""  # the patient's ID number, exact, through the blind index
    doctor: str = ""  # doctor name or code (prefix)
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    institution_id: int | None = None


def filter_prescriptions(
    queryset: QuerySet[Prescription], filters: PrescriptionFilters, *, with_status: bool = True
) -> QuerySet[Prescription]:
    """``queryset`` narrowed by ``filters`` (the status left out for the per-status counts)."""
    if with_status and filters.status:
        queryset = queryset.filter(status=filters.status)
    rxno = filters.rxno.strip()
    if rxno:
        queryset = queryset.filter(Q(hosp_rxno__istartswith=rxno) | Q(hi_rxno__istartswith=rxno))
    if filters.id_number.strip():
        # An ID number that normalises to nothing gives "", which matches no row.
        index = blind_index(Prescription, "patient_id_index", filters.id_number)
        queryset = queryset.filter(patient_id_index=index) if index else queryset.none()
    doctor = filters.doctor.strip()
    if doctor:
        queryset = queryset.filter(
            Q(doctor_name__startswith=doctor) | Q(doctor_code__istartswith=doctor)
        )
    if filters.date_from:
        queryset = queryset.filter(prescribed_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        end = _day_start(filters.date_to + datetime.timedelta(days=1))
        queryset = queryset.filter(prescribed_at__lt=end)
    if filters.institution_id:
        queryset = queryset.filter(institution_id=filters.institution_id)
    return queryset


def prescriptions_for_user(
    user: Any, filters: PrescriptionFilters | None = None, *, permission: str = VIEW_PERMISSION
) -> QuerySet[Prescription]:
    """The prescriptions ``user`` may see, filtered, newest first (RX-M1)."""
    queryset = Prescription.objects.restrict(user, permission).select_related("institution")
    return filter_prescriptions(queryset, filters or PrescriptionFilters()).order_by(
        "-created_at", "-pk"
    )


@dataclass(frozen=True)
class StatusCount:
    code: str
    label: str
    colour: str
    count: int


def status_counts_for_user(user: Any, filters: PrescriptionFilters) -> list[StatusCount]:
    """How many prescriptions of each status match the other filters (the status tabs)."""
    queryset = filter_prescriptions(
        Prescription.objects.restrict(user, VIEW_PERMISSION), filters, with_status=False
    )
    counts = dict(
        queryset.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return [
        StatusCount(status.value, status.label, status_colour(status), counts.get(status, 0))
        for status in PrescriptionStatus
    ]


def get_prescription_for_user(
    user: Any, reference: Any, permission: str = VIEW_PERMISSION
) -> Prescription:
    """One prescription in ``user``'s scope for ``permission``, else 404."""
    try:
        return (
            Prescription.objects.restrict(user, permission)
            .select_related("institution", "pharmacist", "created_by")
            .get(reference=reference)
        )
    except (Prescription.DoesNotExist, ValueError, TypeError):
        raise Http404("处方不存在或不在您的数据范围内") from None


def get_prescription_for_any(user: Any, reference: Any, permissions: Iterable[str]) -> Prescription:
    """One prescription ``user`` may act on through any of ``permissions``.

    No such permission at all is a 403; holding one but not for this institution a 404.
    """
    held = [permission for permission in permissions if user.has_perm(permission)]
    if not held:
        raise PermissionDenied
    for permission in held:
        try:
            return get_prescription_for_user(user, reference, permission)
        except Http404:
            continue
    raise Http404("处方不存在或不在您的数据范围内")


def review_queue_for_user(user: Any) -> QuerySet[Prescription]:
    """Prescriptions waiting for the in-hospital pharmacist (RX-M2), oldest first."""
    return (
        Prescription.objects.restrict(user, REVIEW_PERMISSION)
        .filter(status=PrescriptionStatus.PENDING_REVIEW)
        .select_related("institution")
        .prefetch_related("items")
        .order_by("created_at", "pk")
    )


def pickups_for_user(user: Any, status: str = "") -> QuerySet[Prescription]:
    """Sent prescriptions with their centre review and pickup state (RX-M2)."""
    statuses = [status] if status in PICKUP_STATUSES else list(PICKUP_STATUSES)
    return (
        Prescription.objects.restrict(user, VIEW_PERMISSION)
        .filter(status__in=statuses)
        .select_related("institution")
        .order_by("-uploaded_at", "-pk")
    )


def calls_of(user: Any, prescription: Prescription) -> list[CentreCall]:
    """The centre calls made for one prescription, when ``user`` may read the journal."""
    return list(
        CentreCall.objects.restrict(user, VIEW_CALL_PERMISSION)
        .filter(prescription=prescription)
        .order_by("-attempted_at", "-pk")
    )


def events_of(prescription: Prescription) -> list[PrescriptionEvent]:
    return list(prescription.events.order_by("occurred_at", "pk"))


def diagnoses_of(prescription: Prescription) -> list[dict[str, Any]]:
    """The stored diagnoses (a JSON list); an unreadable value shows as none."""
    try:
        value = json.loads(prescription.diagnoses or "[]")
    except (TypeError, ValueError):
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def dispense_details_of(prescription: Prescription) -> list[dict[str, Any]]:
    try:
        value = json.loads(prescription.dispense_details or "[]")
    except (TypeError, ValueError):
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass(frozen=True)
class CentreCode:
    code: str
    label: str

    def __str__(self) -> str:
        if not self.code:
            return "—"
        return f"{self.label}（{self.code}）" if self.label else self.code


@dataclass(frozen=True)
class CentreLabels:
    """The centre's status codes of a prescription with their Chinese names."""

    rx_status: CentreCode
    used_status: CentreCode
    review_status: CentreCode


def _dictionary(name: str, default: dict[str, str]) -> dict[str, str]:
    # Regions differ: settings.ERX_CENTRE["dictionaries"] may override the national values.
    configured = (getattr(settings, "ERX_CENTRE", {}) or {}).get("dictionaries") or {}
    return {**default, **dict(configured.get(name) or {})}


def centre_labels(prescription: Prescription) -> CentreLabels:
    def code(value: str, name: str, default: dict[str, str]) -> CentreCode:
        return CentreCode(value, _dictionary(name, default).get(value, "未知代码") if value else "")

    return CentreLabels(
        rx_status=code(prescription.rx_status_code, "rx_status", DEFAULT_RX_STATUS),
        used_status=code(
            prescription.rx_used_status_code, "rx_used_status", DEFAULT_RX_USED_STATUS
        ),
        review_status=code(
            prescription.review_status_code, "rx_review_status", DEFAULT_RX_REVIEW_STATUS
        ),
    )


# -- the journal and notifications -----------------------------------------------------


def calls_for_user(user: Any, *, failed_only: bool = False) -> QuerySet[CentreCall]:
    """The centre calls of ``user``'s institutions; failed and refused ones on request."""
    queryset = CentreCall.objects.restrict(user, VIEW_CALL_PERMISSION).select_related(
        "institution", "prescription"
    )
    if failed_only:
        queryset = queryset.filter(outcome__in=(CallOutcome.FAILED, CallOutcome.REFUSED))
    return queryset.order_by("-attempted_at", "-pk")


def notifications_for_user(
    user: Any, *, rejected_only: bool = False
) -> QuerySet[CentreNotification]:
    """Received notifications; ones that could not be tied to an institution only for
    district viewers (``restrict`` keeps rows of the caller's institutions)."""
    queryset = CentreNotification.objects.restrict(
        user, VIEW_NOTIFICATION_PERMISSION
    ).select_related("institution", "prescription")
    if rejected_only:
        queryset = queryset.filter(outcome=NotificationOutcome.REJECTED)
    return queryset.order_by("-received_at", "-pk")


def get_call_for_user(user: Any, pk: int, permission: str) -> CentreCall:
    try:
        return CentreCall.objects.restrict(user, permission).get(pk=pk)
    except (CentreCall.DoesNotExist, ValueError, TypeError):
        raise Http404("调用记录不存在或不在您的数据范围内") from None


def get_notification_for_user(user: Any, pk: int, permission: str) -> CentreNotification:
    try:
        return CentreNotification.objects.restrict(user, permission).get(pk=pk)
    except (CentreNotification.DoesNotExist, ValueError, TypeError):
        raise Http404("通知记录不存在或不在您的数据范围内") from None


# -- connections and the catalogue ----------------------------------------------------


@dataclass(frozen=True)
class ConnectionRow:
    """One institution and its centre connection (None: not configured)."""

    institution: Any
    connection: CentreConnection | None


def connections_for_user(user: Any) -> list[ConnectionRow]:
    """Every institution in ``user``'s scope with its connection, configured or not (RX-C1)."""
    institutions = (
        _institution_model().objects.restrict(user, VIEW_CONNECTION_PERMISSION).order_by("code")
    )
    connections = {
        connection.institution_id: connection
        for connection in CentreConnection.objects.restrict(user, VIEW_CONNECTION_PERMISSION)
    }
    return [ConnectionRow(i, connections.get(i.pk)) for i in institutions]


def get_connection_for_user(user: Any, pk: int, permission: str) -> CentreConnection:
    try:
        return (
            CentreConnection.objects.restrict(user, permission)
            .select_related("institution")
            .get(pk=pk)
        )
    except (CentreConnection.DoesNotExist, ValueError, TypeError):
        raise Http404("接入配置不存在或不在您的数据范围内") from None


def catalogue_entries(keyword: str = "") -> QuerySet[DrugCatalogueEntry]:
    """The synced circulation catalogue, by code, generic or product name."""
    queryset = DrugCatalogueEntry.objects.all()
    keyword = keyword.strip()
    if keyword:
        queryset = queryset.filter(
            Q(med_list_codg__istartswith=keyword)
            | Q(generic_name__contains=keyword)
            | Q(product_name__contains=keyword)
        )
    return queryset.order_by("generic_name", "med_list_codg")


def drug_labels(codes: Iterable[str]) -> dict[str, str]:
    """Catalogue code -> "通用名 规格" for the codes given (the editor's drug lines)."""
    wanted = [code for code in codes if code]
    if not wanted:
        return {}
    return {
        entry.med_list_codg: f"{entry.generic_name} {entry.specification}"
        for entry in DrugCatalogueEntry.objects.filter(med_list_codg__in=wanted)
    }


def catalogue_synced_at() -> datetime.datetime | None:
    latest = DrugCatalogueEntry.objects.order_by("-synced_at").values_list("synced_at", flat=True)
    return latest.first()


# -- the resident -----------------------------------------------------------------------


def _resident_index(resident: Any) -> str:
    if not getattr(resident, "is_verified", False) or not getattr(resident, "id_number", ""):
        return ""
    return blind_index(Prescription, "patient_id_index", str(resident.id_number))


def prescriptions_for_resident(resident: Any) -> QuerySet[Prescription]:
    """The resident's own prescriptions that reached the centre, newest first.

    Found by the blind index of the verified ID number (as medical records finds a
    resident's admissions); an unverified resident has none.
    """
    index = _resident_index(resident)
    if not index:
        return Prescription.objects.unscoped().none()
    return (
        Prescription.objects.unscoped()
        .filter(patient_id_index=index, status__in=RESIDENT_STATUSES)
        .select_related("institution")
        .order_by("-prescribed_at", "-pk")
    )


def get_prescription_for_resident(resident: Any, reference: Any) -> Prescription:
    """The resident's own prescription, else 404 (never another resident's)."""
    try:
        return (
            prescriptions_for_resident(resident).prefetch_related("items").get(reference=reference)
        )
    except (Prescription.DoesNotExist, ValueError, TypeError):
        raise Http404("处方不存在") from None


def resident_id_for(prescription: Prescription) -> int | None:
    """The platform resident whose verified ID number the prescription carries, if any
    (for the audit row of a staff read)."""
    resident_model = apps.get_model("residents", "Resident")
    index = blind_index(resident_model, "id_number_index", str(prescription.patient_id_number))
    if not index:
        return None
    return resident_model.objects.filter(id_number_index=index).values_list("pk", flat=True).first()
