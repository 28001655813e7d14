"""Demo departments for every institution.

Departments are demo data, not a migration: in a real deployment each institution's
departments arrive from its HIS (PUT /api/v1/institutions/{code}/departments) or are
kept in the console, and a made-up standard set would leave phantom departments behind
that someone would have to disable by hand. The institutions themselves are reference
data from the tender and come with migration 0002.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from jingan.core.institutions.models import Department, Institution
from jingan.core.institutions.reference import standard_departments
from jingan.lib.demo import DemoStep, Scale


def _institutions() -> list[Institution]:
    return list(Institution.objects.unscoped().order_by("code"))


def _load_departments(scale: Scale, advance: Callable[[int], None]) -> None:
    for institution in _institutions():
        with transaction.atomic():
            existing = set(institution.departments.values_list("code", flat=True))
            for record in standard_departments(
                institution_code=institution.code, kind=institution.kind
            ):
                if record["code"] in existing:
                    continue
                Department.objects.create(
                    institution=institution,
                    code=record["code"],
                    name=record["name"],
                    category=record["category"],
                    has_inpatient=bool(record["inpatient"]) and institution.has_inpatient,
                    is_active=institution.is_active,
                )
        advance(1)


STEPS = [
    DemoStep(
        "departments",
        "各机构标准科室",
        lambda scale: Institution.objects.unscoped().count(),
        _load_departments,
    )
]
