"""Scoped reads of institutions and departments, and the open-work check (MR-A7)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from jingan.core.access.scoping import get_for_user
from jingan.core.institutions.models import Department, Institution
from jingan.lib.blockers import Blocker
from jingan.lib.discovery import declared


def institutions_for(user: Any, permission: str) -> QuerySet[Institution]:
    """The institutions where ``user`` holds ``permission`` (all for a district grant)."""
    return Institution.objects.restrict(user, permission)


def get_institution_for_user(user: Any, permission: str, institution_id: int) -> Institution:
    """One institution within ``user``'s scope for ``permission``; 404 otherwise."""
    return get_for_user(Institution.objects.all(), user, permission, pk=institution_id)


def get_department_for_user(
    user: Any, permission: str, institution_id: int, department_id: int
) -> Department:
    """One department of an institution within ``user``'s scope; 404 otherwise."""
    return get_for_user(
        Department.objects.select_related("institution"),
        user,
        permission,
        pk=department_id,
        institution_id=institution_id,
    )


def search_institutions(
    queryset: QuerySet[Institution],
    *,
    text: str = "",
    kind: str = "",
    inpatient: str = "",
    dialect: str = "",
    active: str = "",
) -> QuerySet[Institution]:
    """Filter the list page's queryset; empty arguments leave it as it is."""
    if text:
        queryset = queryset.filter(
            Q(name__icontains=text) | Q(short_name__icontains=text) | Q(code__icontains=text)
        )
    if kind:
        queryset = queryset.filter(kind=kind)
    if inpatient in ("yes", "no"):
        queryset = queryset.filter(has_inpatient=inpatient == "yes")
    if dialect:
        queryset = queryset.filter(his_dialect=dialect)
    if active in ("yes", "no"):
        queryset = queryset.filter(is_active=active == "yes")
    return queryset.annotate(
        department_count=Count("departments", filter=Q(departments__is_active=True))
    ).order_by("code")


def institution_counts(queryset: QuerySet[Institution]) -> dict[str, int]:
    """Totals shown above the list: all, active, with inpatient services."""
    return queryset.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(is_active=True)),
        inpatient=Count("pk", filter=Q(has_inpatient=True)),
    )


def active_institutions(*, inpatient_only: bool = False) -> list[Institution]:
    """Every active institution (public reference data, e.g. for resident pickers)."""
    queryset = Institution.objects.unscoped().filter(is_active=True)
    if inpatient_only:
        queryset = queryset.filter(has_inpatient=True)
    return list(queryset.order_by("code"))


def blockers_for(*, institution_id: int, department_id: int | None = None) -> list[Blocker]:
    """Open work that forbids deleting or disabling the institution (or one department)."""
    found: list[Blocker] = []
    for _, source in declared("blockers", "INSTITUTION_BLOCKERS"):
        found.extend(blocker for blocker in source(institution_id, department_id) if blocker.count)
    return found
