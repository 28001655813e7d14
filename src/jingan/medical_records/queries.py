"""Scoped reads of copy applications: a resident's own, a reviewer's institutions."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from jingan.medical_records.models import (
    ApplicationAdmission,
    ApplicationStatus,
    CopyApplication,
)

# The H5 "我的申请" tabs (MR-P4): key, label, statuses (None: all).
RESIDENT_TABS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("all", "全部", None),
    (
        "reviewing",
        "审核中",
        (
            ApplicationStatus.SUBMITTED,
            ApplicationStatus.UNDER_REVIEW,
            ApplicationStatus.SECOND_REVIEW,
        ),
    ),
    (
        "processing",
        "办理中",
        (
            ApplicationStatus.APPROVED,
            ApplicationStatus.PREPARING,
            ApplicationStatus.READY,
            ApplicationStatus.SHIPPED,
        ),
    ),
    ("completed", "已完成", (ApplicationStatus.COMPLETED,)),
    ("rejected", "已拒绝", (ApplicationStatus.REJECTED,)),
    ("cancelled", "已取消", (ApplicationStatus.CANCELLED,)),
]


def applications_of_resident(resident: Any, *, tab: str = "all") -> QuerySet[CopyApplication]:
    """A resident's own applications, newest first, optionally one tab's statuses."""
    queryset = (
        CopyApplication.objects.unscoped()
        .filter(resident_id=resident.pk)
        .select_related("institution")
        .order_by("-submitted_at", "-pk")
    )
    statuses = dict((key, statuses) for key, _, statuses in RESIDENT_TABS).get(tab)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    return queryset


def get_application_for_resident(resident: Any, number: str) -> CopyApplication:
    """The resident's own application by number, else 404 (never another resident's)."""
    application = (
        CopyApplication.objects.unscoped()
        .filter(resident_id=getattr(resident, "pk", None), number=number)
        .select_related("institution")
        .prefetch_related(
            "events",
            "materials",
            Prefetch(
                "admission_links",
                queryset=ApplicationAdmission.objects.select_related("admission"),
            ),
        )
        .first()
    )
    if application is None:
        raise Http404("申请不存在")
    return application


def applications_for_staff(user: Any, permission: str) -> QuerySet[CopyApplication]:
    """Applications of the institutions where ``user`` holds ``permission``."""
    return CopyApplication.objects.restrict(user, permission).select_related("institution")


def inpatient_institutions() -> list[Any]:
    """The active institutions with inpatient services: where copies can be asked for."""
    from django.apps import apps

    institution_model = apps.get_model("institutions", "Institution")
    return list(
        institution_model.objects.unscoped()
        .filter(is_active=True, has_inpatient=True)
        .order_by("code")
    )
