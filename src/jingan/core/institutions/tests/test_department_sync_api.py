"""PUT /api/v1/institutions/{code}/departments from the institution's own HIS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from jingan.core.audit.models import AuditEntry
from jingan.core.crypto.keyring import Keyring, use_keyring
from jingan.core.crypto.requests import create_api_client, sign_request
from jingan.core.institutions.models import Department, Institution

pytestmark = [pytest.mark.req("MR-A7")]


@pytest.fixture(autouse=True)
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    ring = Keyring(tmp_path / "keyring.json", may_create=True)
    with use_keyring(ring):
        yield ring


@pytest.fixture
def central_his(central: Institution) -> tuple[str, str]:
    client, private_key = create_api_client(
        actor=None, app_id="his-central", name="中心医院 HIS", institution_id=central.pk
    )
    return client.app_id, private_key


def _put(his: tuple[str, str], code: str, payload: dict[str, Any]) -> Any:
    app_id, private_key = his
    path = f"/api/v1/institutions/{code}/departments"
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = sign_request(
        app_id=app_id, private_key_hex=private_key, method="PUT", path=path, body=body
    )
    return Client().put(path, data=body, content_type="application/json", headers=headers)


def _departments(institution: Institution) -> list[tuple[str, str, bool]]:
    return list(institution.departments.order_by("code").values_list("code", "name", "is_active"))


LIST = {
    "departments": [
        {"code": "03", "name": "内科", "category": "outpatient", "has_inpatient": True},
        {"code": "04", "name": "外科", "category": "outpatient", "has_inpatient": True},
        {"code": "A02", "name": "病案室", "category": "administrative"},
    ]
}


def test_his_pushes_its_department_list(
    central: Institution, central_his: tuple[str, str], make_department: Callable[..., Any]
) -> None:
    make_department(central, "04", "普外科")
    make_department(central, "99", "旧科室")
    response = _put(central_his, central.code, LIST)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "institution_code": "310106001",
        "created": ["03", "A02"],
        "updated": ["04"],
        "unchanged": [],
        "deactivated": ["99"],
        "kept_active": [],
    }
    assert _departments(central) == [
        ("03", "内科", True),
        ("04", "外科", True),
        ("99", "旧科室", False),
        ("A02", "病案室", True),
    ]
    entry = AuditEntry.objects.get(action="institutions.department.sync")
    assert '"source":"his-central"' in entry.detail.replace(" ", "")

    again = _put(central_his, central.code, LIST)
    assert again.json()["unchanged"] == ["03", "04", "A02"]
    assert again.json()["created"] == []


def test_a_missing_department_with_open_work_stays_active(
    central: Institution,
    central_his: tuple[str, str],
    make_department: Callable[..., Any],
    make_staff: Callable[..., Any],
) -> None:
    records = make_department(central, "A09", "病案统计室")
    make_staff("clerk", institution=central, department_id=records.pk)
    response = _put(central_his, central.code, LIST)
    assert response.json()["kept_active"] == [
        {"code": "A09", "blockers": [{"title": "所属该科室的在岗工作人员账号", "count": 1}]}
    ]
    records.refresh_from_db()
    assert records.is_active is True


def test_another_institutions_code_is_404_and_changes_nothing(
    central_his: tuple[str, str], zhabei: Institution
) -> None:
    response = _put(central_his, zhabei.code, LIST)
    assert response.status_code == 404
    assert response.json()["code"] == "institution_not_found"
    assert not Department.objects.unscoped().exists()
    assert _put(central_his, "no-such-code", LIST).status_code == 404


def test_unsigned_requests_are_refused(central: Institution) -> None:
    response = Client().put(
        f"/api/v1/institutions/{central.code}/departments",
        data=json.dumps(LIST),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert not Department.objects.unscoped().exists()


def test_invalid_lists_change_nothing(
    central: Institution, central_his: tuple[str, str], make_department: Callable[..., Any]
) -> None:
    make_department(central, "03", "内科")
    duplicate = {"departments": [LIST["departments"][0], LIST["departments"][0]]}
    response = _put(central_his, central.code, duplicate)
    assert response.status_code == 422
    assert response.json() == {"code": "invalid_departments", "message": "科室编码重复：03"}
    station = Institution.objects.unscoped().get(code="310106009")
    his, key = create_api_client(
        actor=None, app_id="his-station", name="妇幼所", institution_id=station.pk
    )
    response = _put((his.app_id, key), station.code, LIST)
    assert response.status_code == 422
    assert response.json()["message"] == "科室 03：本机构未开展住院业务，科室不能设有住院病区"
    assert not station.departments.exists()
    assert _departments(central) == [("03", "内科", True)]
