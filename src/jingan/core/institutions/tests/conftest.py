"""Institutions of the tender (from migration 0002) and the staff who look after them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

INSTITUTION_PERMISSIONS = (
    "institutions.view_institution",
    "institutions.add_institution",
    "institutions.change_institution",
    "institutions.delete_institution",
    "institutions.add_department",
    "institutions.change_department",
    "institutions.delete_department",
)
# What an institution's own administrator holds: everything but creating institutions.
LOCAL_PERMISSIONS = tuple(p for p in INSTITUTION_PERMISSIONS if p != "institutions.add_institution")


@pytest.fixture
def central(db: None) -> Any:
    from jingan.core.institutions.models import Institution

    return Institution.objects.unscoped().get(code="310106001")


@pytest.fixture
def zhabei(db: None) -> Any:
    from jingan.core.institutions.models import Institution

    return Institution.objects.unscoped().get(code="310106002")


@pytest.fixture
def district_admin(make_staff: Callable[..., Any]) -> Any:
    return make_staff("district-admin", permissions=INSTITUTION_PERMISSIONS)


@pytest.fixture
def central_admin(make_staff: Callable[..., Any], central: Any) -> Any:
    return make_staff("central-admin", permissions=LOCAL_PERMISSIONS, institution=central)


@pytest.fixture
def make_department() -> Callable[..., Any]:
    from jingan.core.institutions.models import Department

    def _make(institution: Any, code: str = "03", name: str = "内科", **fields: Any) -> Any:
        fields.setdefault("category", "outpatient")
        return Department.objects.create(institution=institution, code=code, name=name, **fields)

    return _make
