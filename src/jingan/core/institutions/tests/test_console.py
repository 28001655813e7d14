from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.audit.models import AuditEntry
from jingan.core.institutions.models import Department, Institution

pytestmark = [pytest.mark.req("MR-A7")]


def _institution(code: str) -> Institution:
    return Institution.objects.unscoped().get(code=code)


NEW_INSTITUTION = {
    "code": "310106027",
    "name": "上海市静安区示例护理院",
    "short_name": "示例护理院",
    "kind": "rehabilitation",
    "has_inpatient": "on",
    "his_dialect": "D",
    "address": "上海市静安区示例路 1 号",
    "phone": "021-61234567",
}


# -- list ---------------------------------------------------------------------------


def test_district_admin_lists_all_institutions_with_counts(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    response = client_for(district_admin).get("/console/institutions/")
    assert response.status_code == 200
    assert response.context["counts"] == {"total": 26, "active": 26, "inpatient": 18}
    assert response.context["matched"] == 26
    assert "上海市静安区南京西路街道社区卫生服务中心" in response.content.decode()


def test_list_filters_combine(district_admin: Any, client_for: Callable[..., Any]) -> None:
    client = client_for(district_admin)
    response = client.get(
        "/console/institutions/", {"kind": "community_health_centre", "inpatient": "yes"}
    )
    assert response.context["matched"] == 9
    response = client.get("/console/institutions/", {"q": "康复", "dialect": "D"})
    assert [i.code for i in response.context["page"]] == ["310106007", "310106008"]
    response = client.get("/console/institutions/", {"q": "310106026"})
    assert [i.name for i in response.context["page"]] == [
        "上海市静安区南京西路街道社区卫生服务中心"
    ]


def test_htmx_search_returns_only_the_table(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    response = client_for(district_admin).get(
        "/console/institutions/", {"q": "中医"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="institution-table">')
    assert "<html" not in body
    assert "上海市静安区中医医院" in body
    assert "上海市静安区中心医院" not in body


def test_institution_admin_sees_only_their_institution(
    central_admin: Any, client_for: Callable[..., Any]
) -> None:
    response = client_for(central_admin).get("/console/institutions/")
    assert response.context["counts"] == {"total": 1, "active": 1, "inpatient": 1}
    assert [i.code for i in response.context["page"]] == ["310106001"]
    assert response.context["can_add"] is False


# -- create and edit ----------------------------------------------------------------


def test_district_admin_creates_an_institution(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    response = client_for(district_admin).post("/console/institutions/new/", NEW_INSTITUTION)
    created = _institution("310106027")
    assert response.status_code == 302
    assert response["Location"] == f"/console/institutions/{created.pk}/"
    assert (
        created.name,
        created.kind,
        created.has_inpatient,
        created.his_dialect,
        created.phone,
    ) == (
        "上海市静安区示例护理院",
        "rehabilitation",
        True,
        "D",
        "021-61234567",
    )
    entry = AuditEntry.objects.get(action="institutions.institution.create")
    assert (entry.actor_id, entry.institution_id, entry.outcome) == (
        district_admin.pk,
        created.pk,
        "success",
    )


def test_duplicate_code_is_refused_with_the_holders_name(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    data = {**NEW_INSTITUTION, "code": "310106005"}
    response = client_for(district_admin).post("/console/institutions/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "code": ["机构编码 310106005 已被「上海市静安区中医医院」使用"]
    }
    assert "机构编码 310106005 已被「上海市静安区中医医院」使用" in response.content.decode()
    assert Institution.objects.unscoped().count() == 26
    assert not AuditEntry.objects.filter(action="institutions.institution.create").exists()


def test_bad_input_gets_chinese_messages(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    data = {**NEW_INSTITUTION, "code": "a b", "name": "", "phone": "call me"}
    response = client_for(district_admin).post("/console/institutions/new/", data)
    errors = response.context["form"].errors
    assert errors["code"] == ["编码只能包含字母、数字、点、下划线和连字符，且以字母或数字开头"]
    assert errors["name"] == ["此项为必填项"]
    assert errors["phone"] == ["请填写总机号码，例如 021-61234567（可含区号、空格、连字符）"]


def test_institution_admin_cannot_create_institutions(
    central_admin: Any, make_staff: Callable[..., Any], central: Any, client_for: Callable[..., Any]
) -> None:
    scoped_adder = make_staff(
        "scoped-adder", permissions=("institutions.add_institution",), institution=central
    )
    for user in (central_admin, scoped_adder):
        response = client_for(user).post("/console/institutions/new/", NEW_INSTITUTION)
        assert response.status_code == 403
    assert Institution.objects.unscoped().count() == 26


def test_institution_admin_changes_their_his_dialect(
    central_admin: Any, central: Any, client_for: Callable[..., Any]
) -> None:
    data = {
        "code": central.code,
        "name": central.name,
        "short_name": central.short_name,
        "kind": central.kind,
        "has_inpatient": "on",
        "his_dialect": "B",
        "address": "上海市静安区西康路 259 号",
        "phone": "",
    }
    response = client_for(central_admin).post(f"/console/institutions/{central.pk}/edit/", data)
    assert response.status_code == 302
    central.refresh_from_db()
    assert (central.his_dialect, central.address) == ("B", "上海市静安区西康路 259 号")
    entry = AuditEntry.objects.get(action="institutions.institution.update")
    assert '"his_dialect"' in entry.detail


def test_renaming_to_another_institutions_name_is_refused(
    district_admin: Any, central: Any, client_for: Callable[..., Any]
) -> None:
    data = {
        "code": central.code,
        "name": "上海市公惠医院",
        "kind": central.kind,
        "his_dialect": central.his_dialect,
        "has_inpatient": "on",
    }
    response = client_for(district_admin).post(f"/console/institutions/{central.pk}/edit/", data)
    assert response.context["form"].errors == {
        "name": ["机构名称「上海市公惠医院」已被编码为 310106006 的机构使用"]
    }
    central.refresh_from_db()
    assert central.name == "上海市静安区中心医院"


# -- outsiders ----------------------------------------------------------------------


def _institution_urls(pk: int, department_pk: int) -> list[tuple[str, str]]:
    base = f"/console/institutions/{pk}"
    return [
        ("get", f"{base}/"),
        ("post", f"{base}/edit/"),
        ("post", f"{base}/toggle/"),
        ("post", f"{base}/delete/"),
        ("post", f"{base}/departments/new/"),
        ("post", f"{base}/departments/{department_pk}/edit/"),
        ("post", f"{base}/departments/{department_pk}/toggle/"),
        ("post", f"{base}/departments/{department_pk}/delete/"),
    ]


def _snapshot() -> list[tuple[Any, ...]]:
    return list(
        Institution.objects.unscoped().values_list("pk", "name", "his_dialect", "is_active")
    ) + list(Department.objects.unscoped().values_list("pk", "name", "code", "is_active"))


def test_other_institution_is_404_and_unchanged(
    central_admin: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(zhabei)
    before = _snapshot()
    client = client_for(central_admin)
    for method, url in _institution_urls(zhabei.pk, department.pk):
        response = getattr(client, method)(
            url, {"code": "X1", "name": "改名", "category": "outpatient"}
        )
        assert response.status_code == 404, url
        assert "上海市静安区闸北中心医院" not in response.content.decode()
    assert _snapshot() == before
    assert not AuditEntry.objects.filter(action__startswith="institutions.").exists()


def test_department_of_another_institution_under_own_url_is_404(
    central_admin: Any,
    central: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    theirs = make_department(zhabei)
    before = _snapshot()
    client = client_for(central_admin)
    for action in ("edit", "toggle", "delete"):
        response = client.post(
            f"/console/institutions/{central.pk}/departments/{theirs.pk}/{action}/"
        )
        assert response.status_code == 404
    assert _snapshot() == before


def test_anonymous_goes_to_login_and_nothing_changes(
    central: Any, make_department: Callable[..., Any], client: Any
) -> None:
    department = make_department(central)
    before = _snapshot()
    for method, url in [
        ("get", "/console/institutions/"),
        ("post", "/console/institutions/new/"),
    ] + _institution_urls(central.pk, department.pk):
        response = getattr(client, method)(url, NEW_INSTITUTION)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/console/login/"), url
    assert _snapshot() == before


def test_wrong_role_is_403_and_nothing_changes(
    make_staff: Callable[..., Any],
    central: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(central)
    viewer = make_staff("viewer", permissions=("institutions.view_institution",))
    before = _snapshot()
    client = client_for(viewer)
    assert client.get("/console/institutions/").status_code == 200
    for method, url in [("post", "/console/institutions/new/")] + _institution_urls(
        central.pk, department.pk
    )[1:]:
        assert getattr(client, method)(url, NEW_INSTITUTION).status_code == 403, url
    nobody = make_staff("nobody", permissions=("dictionary.view_dictionaryentry",))
    assert client_for(nobody).get("/console/institutions/").status_code == 403
    assert client_for(nobody).get(f"/console/institutions/{central.pk}/").status_code == 403
    assert _snapshot() == before


# -- departments --------------------------------------------------------------------


def test_institution_admin_creates_and_edits_a_department(
    central_admin: Any, central: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(central_admin)
    response = client.post(
        f"/console/institutions/{central.pk}/departments/new/",
        {"code": "04", "name": "外科", "category": "outpatient", "has_inpatient": "on"},
    )
    assert response.status_code == 302
    department = central.departments.get(code="04")
    assert (department.name, department.has_inpatient, department.is_active) == ("外科", True, True)
    response = client.post(
        f"/console/institutions/{central.pk}/departments/{department.pk}/edit/",
        {"code": "04", "name": "普外科", "category": "outpatient"},
    )
    assert response.status_code == 302
    department.refresh_from_db()
    assert (department.name, department.has_inpatient) == ("普外科", False)
    detail = client.get(f"/console/institutions/{central.pk}/")
    assert "普外科" in detail.content.decode()
    actions = list(AuditEntry.objects.order_by("sequence").values_list("action", flat=True))
    assert actions[-2:] == ["institutions.department.create", "institutions.department.update"]


def test_duplicate_department_code_within_an_institution_is_refused(
    central_admin: Any,
    central: Any,
    zhabei: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    make_department(central, "03", "内科")
    make_department(zhabei, "05", "妇产科")
    client = client_for(central_admin)
    response = client.post(
        f"/console/institutions/{central.pk}/departments/new/",
        {"code": "03", "name": "心内科", "category": "outpatient"},
    )
    assert response.context["form"].errors == {"code": ["科室编码 03 已被本机构的「内科」使用"]}
    # The same code in another institution is fine.
    response = client.post(
        f"/console/institutions/{central.pk}/departments/new/",
        {"code": "05", "name": "妇产科", "category": "outpatient"},
    )
    assert response.status_code == 302
    assert central.departments.count() == 2


def test_no_ward_in_an_institution_without_inpatient_services(
    district_admin: Any, client_for: Callable[..., Any]
) -> None:
    station = _institution("310106009")
    response = client_for(district_admin).post(
        f"/console/institutions/{station.pk}/departments/new/",
        {"code": "06", "name": "妇女保健科", "category": "outpatient", "has_inpatient": "on"},
    )
    assert response.context["form"].errors == {
        "has_inpatient": ["本机构未开展住院业务，科室不能设有住院病区"]
    }


def test_htmx_toggle_returns_the_row(
    central_admin: Any,
    central: Any,
    make_department: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    department = make_department(central)
    url = f"/console/institutions/{central.pk}/departments/{department.pk}/toggle/"
    response = client_for(central_admin).post(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="department-{department.pk}">')
    assert "停用</span>" in body
    department.refresh_from_db()
    assert department.is_active is False
    client_for(central_admin).post(url, HTTP_HX_REQUEST="true")
    department.refresh_from_db()
    assert department.is_active is True
