"""Journeys in the console (VA-1): an institution admin edits which nodes, their order,
titles and to-do wording; each save is a new version, a visit keeps the version it
started on, and outsiders can neither see nor change another institution's journey."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.fold import default_template_nodes
from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.models import NodeTemplate, Visit
from jingan.accompaniment.visits.tests.console_helpers import (
    audit_entries,
    event,
    form_data,
    institutions,
)


@pytest.fixture
def places(db: None) -> tuple[Any, Any]:
    central, other = institutions(2)
    return central, other


@pytest.fixture
def admin(places: tuple[Any, Any], make_staff: Any, client_for: Any) -> tuple[Any, Client]:
    user = make_staff(
        "inst-admin", roles=("institution_admin",), institution=places[0], display_name="赵管理"
    )
    return user, client_for(user)


def edit_url(code: str) -> str:
    return f"/console/visits/templates/{code}/edit/"


def edited_journey(client: Client, code: str) -> dict[str, str]:
    """The editor's own form with: check-in dropped, payment moved before consultation,
    waiting renamed, the registration to-do reworded."""
    page = client.get(edit_url(code))
    assert page.status_code == 200
    data = form_data(page.content.decode(), "journey-form")
    assert data["check_in-include"] == "on"
    data.pop("check_in-include")
    assert (data["consultation-order"], data["payment-order"]) == ("5", "6")
    data["payment-order"] = "5"
    data["consultation-order"] = "6"
    data["waiting-title"] = "候诊叫号"
    data["registration-todo-unpaid"] = "请在自助机或手机上支付挂号费"
    data["note"] = "取消签到，先缴费后就诊"
    return data


def todos(visit: Visit) -> list[tuple[str, str, bool]]:
    return [(t.key, t.title, t.is_open) for t in visit.todos.order_by("opened_at", "pk")]


@pytest.mark.req("VA-1")
@pytest.mark.django_db
def test_an_edited_journey_is_a_new_version_and_running_visits_keep_theirs(
    places: tuple[Any, Any], admin: tuple[Any, Client]
) -> None:
    central, _ = places
    user, client = admin
    code = central.code
    journal.ingest([event(code, "MZ-OLD", 1, "registration", "unpaid", 0, fee="25.00")])
    drain()
    old = Visit.objects.unscoped().get(visit_key="MZ-OLD")
    assert old.template.version == 1
    assert todos(old) == [("registration::unpaid", "挂号费待支付", True)]

    response = client.post(edit_url(code), edited_journey(client, code))

    assert response.status_code == 302
    assert response["Location"] == f"/console/visits/templates/{code}/"
    v2 = NodeTemplate.objects.unscoped().get(institution=central, version=2)
    defaults = {entry["node"]: entry for entry in default_template_nodes()}
    assert [(n["node"], n["title"]) for n in v2.nodes] == [
        ("appointment", "预约"),
        ("registration", "挂号"),
        ("waiting", "候诊叫号"),
        ("payment", "缴费"),
        ("consultation", "就诊"),
        ("lab_exam", "检验检查"),
        ("pharmacy", "取药"),
        ("follow_up", "诊后随访"),
    ]
    assert v2.nodes[1]["todos"] == {"unpaid": "请在自助机或手机上支付挂号费"}
    assert v2.nodes[0]["todos"] == defaults["appointment"]["todos"]
    assert (v2.note, v2.created_by_id) == ("取消签到，先缴费后就诊", user.pk)
    assert (
        audit_entries()
        .filter(action="visits.template_saved", object_id=str(v2.pk), actor_id=user.pk)
        .exists()
    )
    page = client.get(response["Location"]).content.decode()
    assert 'data-field="current-version">2<' in page
    assert "未显示的节点：签到" in page

    # The running visit keeps version 1: its check-in still counts, its wording is v1's.
    journal.ingest(
        [
            event(code, "MZ-OLD", 2, "check_in", "pending", 3, location="门诊楼 2 楼"),
            event(code, "MZ-NEW", 1, "registration", "unpaid", 5, fee="25.00"),
            event(code, "MZ-NEW", 2, "check_in", "pending", 6, location="门诊楼 2 楼"),
        ]
    )
    drain()
    old.refresh_from_db()
    assert old.template.version == 1
    assert todos(old) == [
        ("registration::unpaid", "挂号费待支付", True),
        ("check_in::pending", "请到门诊楼 2 楼签到", True),
    ]
    new = Visit.objects.unscoped().get(visit_key="MZ-NEW")
    assert new.template.version == 2
    assert [n["node"] for n in new.template.nodes] == [n["node"] for n in v2.nodes]
    assert todos(new) == [("registration::unpaid", "请在自助机或手机上支付挂号费", True)]

    history = client.get(f"/console/visits/templates/{code}/").content.decode()
    assert '<div class="small text-secondary"><span data-field="visit-count">1</span>' in history


@pytest.mark.req("VA-1")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("drop_all", "至少要保留一个节点"),
        ("blank_title", "显示的节点须填写标题"),
        ("long_wording", "待办提示不能超过 60 个字"),
        ("bad_order", "顺序须为 1 至 99 的整数"),
        ("unchanged", "与当前版本相同，无需保存"),
    ],
)
def test_an_invalid_journey_shows_the_reason_and_saves_nothing(
    places: tuple[Any, Any], admin: tuple[Any, Client], change: str, error: str
) -> None:
    code = places[0].code
    _, client = admin
    data = form_data(client.get(edit_url(code)).content.decode(), "journey-form")
    if change == "drop_all":
        data = {k: v for k, v in data.items() if not k.endswith("-include")}
    elif change == "blank_title":
        data["pharmacy-title"] = "  "
    elif change == "long_wording":
        data["payment-todo-unpaid"] = "缴" * 61
    elif change == "bad_order":
        data["waiting-order"] = "0"

    response = client.post(edit_url(code), data)

    assert response.status_code == 422
    assert error in response.content.decode()
    assert not NodeTemplate.objects.unscoped().filter(institution=places[0], version=2).exists()


@pytest.mark.req("VA-1")
@pytest.mark.django_db
def test_an_old_version_can_be_viewed_and_restored_as_a_new_one(
    places: tuple[Any, Any], admin: tuple[Any, Client]
) -> None:
    code = places[0].code
    _, client = admin
    assert client.post(edit_url(code), edited_journey(client, code)).status_code == 302
    v1 = NodeTemplate.objects.unscoped().get(institution=places[0], version=1)

    page = client.get(f"/console/visits/templates/{code}/versions/1/")
    assert page.status_code == 200
    assert "恢复此版本" in page.content.decode()
    response = client.post(f"/console/visits/templates/{code}/versions/1/restore/")

    assert response.status_code == 302
    v3 = NodeTemplate.objects.unscoped().get(institution=places[0], version=3)
    assert (v3.nodes, v3.note) == (v1.nodes, "恢复第 1 版")
    # Restoring what is already current is refused with the reason.
    again = client.post(f"/console/visits/templates/{code}/versions/3/restore/", follow=True)
    assert "与当前版本相同，无需保存" in again.content.decode()
    assert NodeTemplate.objects.unscoped().filter(institution=places[0]).count() == 3


@pytest.mark.req("VA-1")
@pytest.mark.django_db
def test_district_viewers_list_every_journey_and_an_institution_admin_goes_to_theirs(
    places: tuple[Any, Any], admin: tuple[Any, Client], make_staff: Any, client_for: Any
) -> None:
    _, client = admin
    response = client.get("/console/visits/templates/")
    assert (response.status_code, response["Location"]) == (
        302,
        f"/console/visits/templates/{places[0].code}/",
    )
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    page = regulator.get("/console/visits/templates/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count("<tr data-institution=") == 26
    assert 'data-count="customised">0<' in body
    detail = regulator.get(f"/console/visits/templates/{places[0].code}/").content.decode()
    assert 'data-action="edit"' not in detail


@pytest.mark.req("VA-1")
@pytest.mark.django_db
def test_outsiders_cannot_see_or_change_a_journey(
    places: tuple[Any, Any],
    admin: tuple[Any, Client],
    make_staff: Any,
    client_for: Any,
    make_resident: Any,
    resident_client: Any,
) -> None:
    central, other = places
    _, own = admin
    data = edited_journey(own, central.code)
    foreign = client_for(make_staff("other-admin", roles=("institution_admin",), institution=other))
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    resident = resident_client(make_resident())
    anonymous = Client()
    base = f"/console/visits/templates/{central.code}/"

    for path in (base, edit_url(central.code), f"{base}versions/1/"):
        assert foreign.get(path).status_code == 404
    assert foreign.post(edit_url(central.code), data).status_code == 404
    assert foreign.post(f"{base}versions/1/restore/").status_code == 404
    assert regulator.get(base).status_code == 200
    assert regulator.post(edit_url(central.code), data).status_code == 403
    assert regulator.post(f"{base}versions/1/restore/").status_code == 403
    for client in (anonymous, resident):
        response = client.post(edit_url(central.code), data)
        assert (response.status_code, response["Location"].split("?")[0]) == (
            302,
            "/console/login/",
        )
        assert client.get(base).status_code == 302
    assert not NodeTemplate.objects.unscoped().filter(institution=central).exists()
