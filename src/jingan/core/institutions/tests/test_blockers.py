"""MR-A7: nothing with open work is deleted or disabled, and the page says what blocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.audit.models import AuditEntry
from jingan.core.institutions import services
from jingan.core.institutions.models import Department, Institution
from jingan.core.institutions.queries import blockers_for
from jingan.lib.blockers import Blocker

pytestmark = [pytest.mark.req("MR-A7")]


def test_active_departments_block_deleting_an_institution(
    district_admin: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    make_department(zhabei, "03", "内科")
    make_department(zhabei, "04", "外科")
    client = client_for(district_admin)
    url = f"/console/institutions/{zhabei.pk}/delete/"
    page = client.get(url)
    assert page.context["blockers"] == [
        Blocker("启用中的科室", 2, f"/console/institutions/{zhabei.pk}/")
    ]
    assert "确认删除" not in page.content.decode()

    response = client.post(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "未删除：该机构仍有未完结的工作" in body
    assert "启用中的科室" in body
    assert "<strong>2</strong> 项" in body
    assert Institution.objects.unscoped().filter(pk=zhabei.pk).exists()
    assert zhabei.departments.count() == 2
    entry = AuditEntry.objects.get(action="institutions.institution.delete")
    assert entry.outcome == "denied"


def test_active_departments_block_disabling_an_institution(
    district_admin: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    make_department(zhabei)
    response = client_for(district_admin).post(f"/console/institutions/{zhabei.pk}/toggle/")
    assert "未停用：该机构仍有未完结的工作" in response.content.decode()
    zhabei.refresh_from_db()
    assert zhabei.is_active is True


def test_the_service_refuses_too(
    district_admin: Any, zhabei: Any, make_department: Callable[..., Any]
) -> None:
    make_department(zhabei)
    with pytest.raises(services.OpenWorkError) as refused:
        services.delete_institution(actor=district_admin, institution_id=zhabei.pk)
    assert refused.value.blockers == [
        Blocker("启用中的科室", 1, f"/console/institutions/{zhabei.pk}/")
    ]
    with pytest.raises(services.OpenWorkError):
        services.set_institution_active(
            actor=district_admin, institution_id=zhabei.pk, active=False
        )
    zhabei.refresh_from_db()
    assert zhabei.is_active is True


def test_home_staff_block_their_institution_and_department(
    district_admin: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(zhabei, is_active=False)
    clerk = make_staff("records-clerk", institution=zhabei, department_id=department.pk)
    assert blockers_for(institution_id=zhabei.pk) == [
        Blocker("所属该机构的在岗工作人员账号", 1, None)
    ]
    assert blockers_for(institution_id=zhabei.pk, department_id=department.pk) == [
        Blocker("所属该科室的在岗工作人员账号", 1, None)
    ]
    response = client_for(district_admin).post(
        f"/console/institutions/{zhabei.pk}/departments/{department.pk}/delete/"
    )
    assert "所属该科室的在岗工作人员账号" in response.content.decode()
    assert Department.objects.unscoped().filter(pk=department.pk).exists()

    # A departed clerk's account no longer blocks, but still refers to both: the delete
    # is refused by the database reference, and the page says so instead of failing.
    clerk.is_active = False
    clerk.save(update_fields=["is_active"])
    assert blockers_for(institution_id=zhabei.pk) == []
    with pytest.raises(services.OpenWorkError) as refused:
        services.delete_institution(actor=district_admin, institution_id=zhabei.pk)
    assert [b.title for b in refused.value.blockers] == ["仍引用该机构的工作人员记录"]
    assert Institution.objects.unscoped().filter(pk=zhabei.pk).exists()


def test_disable_departments_then_institution_then_delete(
    district_admin: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(zhabei)
    client = client_for(district_admin)
    client.post(f"/console/institutions/{zhabei.pk}/departments/{department.pk}/toggle/")
    department.refresh_from_db()
    assert department.is_active is False
    response = client.post(f"/console/institutions/{zhabei.pk}/toggle/")
    assert response.status_code == 302
    zhabei.refresh_from_db()
    assert zhabei.is_active is False
    # Re-enabling a department of a disabled institution is refused with a reason.
    response = client.post(
        f"/console/institutions/{zhabei.pk}/departments/{department.pk}/toggle/",
        HTTP_HX_REQUEST="true",
    )
    assert "所属机构已停用，请先启用机构再启用科室" in response.content.decode()
    response = client.post(f"/console/institutions/{zhabei.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/console/institutions/"
    assert not Institution.objects.unscoped().filter(pk=zhabei.pk).exists()
    assert not Department.objects.unscoped().filter(pk=department.pk).exists()
    assert list(
        AuditEntry.objects.filter(action__startswith="institutions.")
        .order_by("sequence")
        .values_list("action", "outcome")
    ) == [
        ("institutions.department.disable", "success"),
        ("institutions.institution.disable", "success"),
        ("institutions.institution.delete", "success"),
    ]


def test_unblocked_department_is_deleted(
    central_admin: Any,
    central: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(central)
    response = client_for(central_admin).post(
        f"/console/institutions/{central.pk}/departments/{department.pk}/delete/"
    )
    assert response.status_code == 302
    assert not Department.objects.unscoped().filter(pk=department.pk).exists()


def test_blockers_declared_by_any_app_are_collected(
    monkeypatch: pytest.MonkeyPatch, zhabei: Any
) -> None:
    import jingan.core.institutions.queries as queries

    def open_applications(institution_id: int, department_id: int | None) -> list[Blocker]:
        return [Blocker("在办病案复印申请", 3, "/console/medical-records/"), Blocker("空", 0, None)]

    real = queries.declared
    monkeypatch.setattr(
        queries,
        "declared",
        lambda module, attribute: [
            *real(module, attribute),
            ("medical_records", open_applications),
        ],
    )
    assert blockers_for(institution_id=zhabei.pk) == [
        Blocker("在办病案复印申请", 3, "/console/medical-records/")
    ]
