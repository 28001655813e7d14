"""Outsiders of the record-room console: anonymous, no permission, other institution,
the read-only regulator, a resident's H5 session (MR-A3)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import archive, inpatient
from jingan.medical_records.tests.console_fixtures import ConsoleData, console_data

__all__ = ["archive", "console_data", "inpatient"]

ACTIONS = (
    "start-review",
    "approve",
    "second-review",
    "reject",
    "prepare",
    "ready",
    "ship",
    "complete",
)


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


def _pages(data: ConsoleData) -> list[str]:
    application = data.agent_application
    material = application.materials.get(kind="id_card_front")
    return [
        "/console/records/applications/",
        f"/console/records/applications/{application.pk}/",
        f"/console/records/materials/{material.pk}/",
        "/console/records/review/",
        "/console/records/statistics/",
    ]


def _posts(data: ConsoleData, application: CopyApplication | None = None) -> list[str]:
    application = application or data.agent_application
    base = f"/console/records/applications/{application.pk}/"
    return [
        *(f"{base}actions/{action}/" for action in ACTIONS),
        f"{base}reveal/",
        "/console/records/applications/export/",
        "/console/records/statistics/export/",
    ]


def _state(data: ConsoleData) -> list[tuple[str, str, int]]:
    return [
        (a.number, a.status, a.events.count())
        for a in CopyApplication.objects.unscoped().order_by("pk")
    ]


def _console_audit() -> list[str]:
    entries = _model("audit.AuditEntry").objects.exclude(
        action="medical_records.application.submit"
    )
    return sorted(
        e.action
        for e in entries
        if e.action.startswith(("medical_records.", "resident.personal_data"))
    )


def _all_denied(data: ConsoleData, client: Client, *, status: int | None, login: str = "") -> None:
    before = _state(data)
    responses = [(path, client.get(path)) for path in _pages(data)] + [
        (path, client.post(path, {"reason": "other", "tracking_no": "SF1234567890"}))
        for path in _posts(data)
    ]
    for path, response in responses:
        if login:
            assert response.status_code == 302, path
            assert response["Location"].startswith(login), path
        else:
            assert response.status_code == status, path
    assert _state(data) == before
    assert _console_audit() == []


@pytest.mark.req("MR-A3")
def test_anonymous_visitors_are_sent_to_the_console_sign_in(console_data: ConsoleData) -> None:
    _all_denied(console_data, Client(), status=None, login="/console/login/")


@pytest.mark.req("MR-A3")
def test_a_resident_session_has_no_console_access(
    console_data: ConsoleData, resident_client: Any
) -> None:
    client = resident_client(console_data.self_application.resident)
    _all_denied(console_data, client, status=None, login="/console/login/")


@pytest.mark.req("MR-A3")
def test_staff_without_the_permissions_are_refused(
    console_data: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    clerk = make_staff(
        "clerk", permissions=("institutions.view_institution",), institution=console_data.central
    )
    _all_denied(console_data, client_for(clerk), status=403)


@pytest.mark.req("MR-A3")
def test_a_reviewer_of_another_institution_gets_404_and_sees_nothing_listed(
    console_data: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    data = console_data
    stranger = make_staff("stranger", roles=("record_room_checker",), institution=data.other)
    client = client_for(stranger)
    before = _state(data)
    for path in _pages(data)[1:3]:
        assert client.get(path).status_code == 404, path
    for path in _posts(data)[:-2]:
        response = client.post(path, {"reason": "other", "tracking_no": "SF1234567890"})
        assert response.status_code == 404, path
    for path in ("/console/records/applications/", "/console/records/review/"):
        html = client.get(path).content.decode()
        assert data.agent_application.number not in html, path
        assert data.self_application.number not in html, path
        assert data.other_application.number in html, path
    statistics = client.get("/console/records/statistics/").content.decode()
    assert data.central.short_name not in statistics
    assert 'data-count="total">1<' in statistics
    exported = client.post(
        "/console/records/applications/export/", {"q": data.agent_application.number}
    )
    assert exported.status_code == 200
    assert _state(data) == before
    assert _console_audit() == ["medical_records.application.export"]
    assert _model("audit.AuditEntry").objects.get(
        action="medical_records.application.export"
    ).detail_data == {"rows": 0, "filters": {"query": "(given)"}}


@pytest.mark.req("MR-A3")
def test_the_regulator_reads_the_whole_district_but_cannot_act(
    console_data: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    data = console_data
    regulator = make_staff("regulator", roles=("district_regulator",))
    client = client_for(regulator)
    listing = client.get("/console/records/applications/").content.decode()
    for application in (data.self_application, data.agent_application, data.other_application):
        assert application.number in listing
    assert 'id="filter-institution"' in listing or 'name="institution"' in listing
    detail = client.get(f"/console/records/applications/{data.agent_application.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "您可以查看本申请，但没有审核与处理权限" in html
    assert "显示完整信息" not in html
    assert "/console/records/materials/" not in html
    assert client.get("/console/records/statistics/").status_code == 200
    assert client.get("/console/records/review/").status_code == 403
    material = data.agent_application.materials.get(kind="id_card_front")
    assert client.get(f"/console/records/materials/{material.pk}/").status_code == 403
    before = _state(data)
    for application in (data.self_application, data.agent_application, data.other_application):
        for path in _posts(data, application)[:-2]:
            response = client.post(path, {"reason": "other", "tracking_no": "SF1234567890"})
            assert response.status_code == 403, path
    assert _state(data) == before
    assert _console_audit() == ["resident.personal_data.read"]  # the one detail view


@pytest.mark.req("MR-A3")
def test_an_institution_admin_reads_its_own_applications_only(
    console_data: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    data = console_data
    admin = make_staff("admin", roles=("institution_admin",), institution=data.central)
    client = client_for(admin)
    listing = client.get("/console/records/applications/").content.decode()
    assert data.agent_application.number in listing
    assert data.other_application.number not in listing
    assert 'name="institution"' not in listing
    assert (
        client.get(f"/console/records/applications/{data.other_application.pk}/").status_code == 404
    )
    assert (
        client.post(
            f"/console/records/applications/{data.self_application.pk}/actions/approve/"
        ).status_code
        == 403
    )
