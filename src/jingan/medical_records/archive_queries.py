"""Scoped reads of the archive sync: admissions by person, sync status per institution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Count, Q

from jingan.core.public import blind_index
from jingan.medical_records.archive_models import (
    ArchivedAdmission,
    ArchivedSection,
    ArchiveSource,
    RejectedArchivePayload,
    UploadStatus,
)

VIEW_SOURCE = "medical_records.view_archivesource"
MANAGE_SOURCE = "medical_records.manage_archive_source"


def _institution_model() -> Any:
    # By registry, not import: business contexts reach core models only through its door.
    return apps.get_model("institutions", "Institution")


def institution_code_of(institution_id: int) -> str:
    code = (
        _institution_model()
        .objects.unscoped()
        .filter(pk=institution_id)
        .values_list("code", flat=True)
        .first()
    )
    if code is None:
        raise LookupError(institution_id)
    return str(code)


def institution_is_inpatient(institution_id: int) -> bool:
    return bool(
        _institution_model()
        .objects.unscoped()
        .filter(pk=institution_id, has_inpatient=True, is_active=True)
        .exists()
    )


def institution_by_code(code: str) -> Any | None:
    return _institution_model().objects.unscoped().filter(code=code).first()


def inpatient_institutions_for(user: Any, permission: str) -> Any:
    """Inpatient institutions in ``user``'s scope, for the onboarding form."""
    return (
        _institution_model()
        .objects.restrict(user, permission)
        .filter(has_inpatient=True, is_active=True)
        .order_by("code")
    )


def admissions_for_person(*, institution_id: int, id_number: str) -> list[ArchivedAdmission]:
    """The archived admissions of one person at one institution, newest discharge first."""
    index = blind_index(ArchivedAdmission, "patient_id_index", id_number)
    if not index:
        return []
    return list(
        ArchivedAdmission.objects.unscoped()
        .filter(institution_id=institution_id, patient_id_index=index)
        .prefetch_related("sections")
        .order_by("-discharged_on", "-pk")
    )


@dataclass(frozen=True)
class SourceStatus:
    """One row of the sync status page (MR-A1 sync, MR-A5 upload results)."""

    institution: Any
    source: ArchiveSource | None
    admissions: int
    pending: int
    uploaded: int
    failed: int
    rejected_open: int


def sync_status_for(user: Any) -> list[SourceStatus]:
    """Every inpatient institution in scope with its source and counts."""
    institutions = list(inpatient_institutions_for(user, VIEW_SOURCE))
    ids = [i.pk for i in institutions]
    sources = {
        s.institution_id: s
        for s in ArchiveSource.objects.restrict(user, VIEW_SOURCE).filter(institution_id__in=ids)
    }
    admissions = dict(
        ArchivedAdmission.objects.restrict(user, VIEW_SOURCE)
        .filter(institution_id__in=ids)
        .values_list("institution_id")
        .annotate(n=Count("pk"))
        .values_list("institution_id", "n")
    )
    sections: dict[int, dict[str, Any]] = {
        row["admission__institution_id"]: dict(row)
        for row in ArchivedSection.objects.filter(admission__institution_id__in=ids)
        .values("admission__institution_id")
        .annotate(
            pending=Count("pk", filter=Q(upload_status=UploadStatus.PENDING)),
            uploaded=Count("pk", filter=Q(upload_status=UploadStatus.UPLOADED)),
            failed=Count("pk", filter=Q(upload_status=UploadStatus.FAILED)),
        )
    }
    rejected = dict(
        RejectedArchivePayload.objects.restrict(user, VIEW_SOURCE)
        .filter(institution_id__in=ids, is_resolved=False)
        .values_list("institution_id")
        .annotate(n=Count("pk"))
        .values_list("institution_id", "n")
    )
    rows = []
    for institution in institutions:
        counts = sections.get(institution.pk, {})
        rows.append(
            SourceStatus(
                institution=institution,
                source=sources.get(institution.pk),
                admissions=admissions.get(institution.pk, 0),
                pending=counts.get("pending", 0),
                uploaded=counts.get("uploaded", 0),
                failed=counts.get("failed", 0),
                rejected_open=rejected.get(institution.pk, 0),
            )
        )
    return rows


def rejected_for(user: Any, *, only_open: bool = True) -> Any:
    queryset = RejectedArchivePayload.objects.restrict(user, VIEW_SOURCE).select_related(
        "institution"
    )
    if only_open:
        queryset = queryset.filter(is_resolved=False)
    return queryset.order_by("-received_at", "-pk")


def failed_sections_for(user: Any, institution_id: int) -> list[ArchivedSection]:
    admissions = ArchivedAdmission.objects.restrict(user, VIEW_SOURCE).filter(
        institution_id=institution_id
    )
    return list(
        ArchivedSection.objects.filter(admission__in=admissions, upload_status=UploadStatus.FAILED)
        .select_related("admission")
        .order_by("-updated_at")[:50]
    )
