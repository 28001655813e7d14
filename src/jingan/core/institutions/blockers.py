"""Open work this context itself declares (see ``jingan.lib.blockers``)."""

from __future__ import annotations

from django.urls import reverse

from jingan.core.institutions.models import Department
from jingan.lib.blockers import Blocker


def active_departments(institution_id: int, department_id: int | None) -> list[Blocker]:
    """An institution is closed only after its departments are; a department has none."""
    if department_id is not None:
        return []
    count = (
        Department.objects.unscoped().filter(institution_id=institution_id, is_active=True).count()
    )
    if not count:
        return []
    url = reverse("institutions:detail", args=[institution_id])
    return [Blocker("启用中的科室", count, url)]


INSTITUTION_BLOCKERS = [active_departments]
