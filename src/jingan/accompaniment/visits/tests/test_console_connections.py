"""The 26 HIS connections in the console (HI-1): listed with their dialect, circuit and
last test; a connection test really reaches the HIS (here the dialect B simulator over
loopback HTTP) and is kept; edits and circuit resets are audited; outsiders see and
change nothing."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits import connections
from jingan.accompaniment.visits.models import CircuitState, ConnectionTest, HisConnection
from jingan.accompaniment.visits.tests.console_helpers import audit_entries, institution
from jingan.integrations.his.rest.simulator import RestHisSimulator

CENTRAL = "310106009"  # dialect B
OTHER = "310106010"  # dialect B


@pytest.fixture
def onboarded(db: None) -> dict[str, HisConnection]:
    assert connections.ensure_connections() == 26
    return {
        row.institution.code: row
        for row in HisConnection.objects.unscoped().select_related("institution")
    }


@pytest.fixture
def his() -> Iterator[str]:
    simulator = RestHisSimulator("http://127.0.0.1:9", credentials=dict)
    url = simulator.start("127.0.0.1", 0)
    try:
        yield url.rstrip("/")
    finally:
        simulator.stop()


@pytest.fixture
def operator(make_staff: Any, client_for: Any) -> tuple[Any, Client]:
    user = make_staff("sysadmin", roles=("system_admin",))
    return user, client_for(user)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def point(connection: HisConnection, endpoint: str) -> None:
    HisConnection.objects.unscoped().filter(pk=connection.pk).update(endpoint=endpoint)


def count(page: str, key: str) -> str:
    match = re.search(rf'data-count="{re.escape(key)}">(\d+)<', page)
    assert match, key
    return match.group(1)


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_every_institution_is_listed_with_its_dialect_and_state(
    onboarded: dict[str, HisConnection], operator: tuple[Any, Client]
) -> None:
    _, client = operator
    HisConnection.objects.unscoped().filter(pk=onboarded[CENTRAL].pk).update(
        circuit=CircuitState.OPEN, consecutive_failures=5, last_error="连接被拒绝"
    )

    page = client.get("/console/visits/connections/").content.decode()

    assert page.count('<tr id="connection-') == 26
    assert [count(page, key) for key in ("connections", "dialect-A", "dialect-B")] == [
        "26",
        "3",
        "11",
    ]
    assert [count(page, key) for key in ("dialect-C", "dialect-D", "open-circuits")] == [
        "9",
        "3",
        "1",
    ]
    assert count(page, "rejected-pending") == "0"
    row = re.search(rf'<tr id="connection-{onboarded[CENTRAL].pk}".*?</tr>', page, re.S)
    assert row is not None
    assert 'data-circuit="open">熔断中<' in row.group(0)
    assert "连续失败 5 次" in row.group(0)
    assert "B · REST/JSON 推送" in row.group(0)
    assert "尚未测试" in row.group(0)

    dialect_b = client.get("/console/visits/connections/?dialect=B").content.decode()
    assert dialect_b.count('<tr id="connection-') == 11
    tripped = client.get(
        "/console/visits/connections/?circuit=open", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert tripped.lstrip().startswith('<div id="connection-table">')
    assert re.findall(r'<tr id="connection-(\d+)"', tripped) == [str(onboarded[CENTRAL].pk)]
    assert (
        "没有符合条件的对接"
        in client.get("/console/visits/connections/?circuit=half_open").content.decode()
    )


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_the_test_button_reaches_the_his_and_keeps_the_result(
    onboarded: dict[str, HisConnection], operator: tuple[Any, Client], his: str
) -> None:
    user, client = operator
    good, bad = onboarded[CENTRAL], onboarded[OTHER]
    point(good, f"{his}/rest/{CENTRAL}")
    point(bad, f"http://127.0.0.1:{closed_port()}/rest/{OTHER}")

    row = client.post(
        f"/console/visits/connections/{good.pk}/test/", HTTP_HX_REQUEST="true"
    ).content.decode()

    test = ConnectionTest.objects.get(connection=good)
    assert (test.ok, test.tested_by_id) == (True, user.pk)
    assert test.message.startswith("连接正常，HIS 服务器时间 ")
    assert row.lstrip().startswith(f'<tr id="connection-{good.pk}"')
    assert "连接测试成功" in row
    assert test.message in row

    response = client.post(f"/console/visits/connections/{bad.pk}/test/", follow=True)
    failed = ConnectionTest.objects.get(connection=bad)
    assert failed.ok is False
    assert failed.message.startswith("无法连接 HIS 接口服务")
    assert "连接测试失败" in response.content.decode()
    assert list(
        audit_entries()
        .filter(action="visits.connection_tested")
        .order_by("pk")
        .values_list("object_id", "outcome")
    ) == [(str(good.pk), "success"), (str(bad.pk), "failure")]
    page = client.get("/console/visits/connections/").content.decode()
    listed = re.search(rf'<tr id="connection-{bad.pk}".*?</tr>', page, re.S)
    assert listed is not None
    assert ">失败</span>" in listed.group(0)


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_a_connection_is_edited_and_its_circuit_reset_from_the_console(
    onboarded: dict[str, HisConnection], operator: tuple[Any, Client], his: str
) -> None:
    _, client = operator
    connection = onboarded[CENTRAL]
    url = f"/console/visits/connections/{connection.pk}/edit/"
    assert client.get(url).status_code == 200

    refused = client.post(
        url, {"endpoint": "ftp://his", "is_enabled": "on", "poll_interval_seconds": "10"}
    )
    assert refused.status_code == 422
    assert "REST 服务地址须以 http:// 或 https:// 开头" in refused.content.decode()
    too_fast = client.post(url, {"endpoint": f"{his}/rest/{CENTRAL}", "poll_interval_seconds": "0"})
    assert too_fast.status_code == 422
    assert "轮询间隔须为 1 至 3600 的整数" in too_fast.content.decode()
    connection.refresh_from_db()
    assert connection.endpoint == connections.default_endpoint(connection.institution)

    saved = client.post(url, {"endpoint": f" {his}/rest/{CENTRAL} ", "poll_interval_seconds": "30"})
    assert (saved.status_code, saved["Location"]) == (302, "/console/visits/connections/")
    connection.refresh_from_db()
    assert (connection.endpoint, connection.is_enabled, connection.poll_interval_seconds) == (
        f"{his}/rest/{CENTRAL}",
        False,
        30,
    )
    assert (
        audit_entries()
        .filter(action="visits.connection_updated", object_id=str(connection.pk))
        .exists()
    )

    HisConnection.objects.unscoped().filter(pk=connection.pk).update(
        circuit=CircuitState.OPEN, consecutive_failures=6, last_error="超时"
    )
    row = client.post(
        f"/console/visits/connections/{connection.pk}/reset/", HTTP_HX_REQUEST="true"
    ).content.decode()
    connection.refresh_from_db()
    assert (connection.circuit, connection.consecutive_failures, connection.last_error) == (
        CircuitState.CLOSED,
        0,
        "",
    )
    assert 'data-circuit="closed">正常<' in row
    assert "已恢复轮询" in row
    assert audit_entries().filter(action="visits.connection_circuit_reset").count() == 1


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_outsiders_cannot_see_test_edit_or_reset_another_institutions_connection(
    onboarded: dict[str, HisConnection],
    make_staff: Any,
    client_for: Any,
    make_resident: Any,
    resident_client: Any,
) -> None:
    central, other = onboarded[CENTRAL], onboarded[OTHER]
    HisConnection.objects.unscoped().filter(pk=central.pk).update(circuit=CircuitState.OPEN)
    own = client_for(
        make_staff("admin", roles=("institution_admin",), institution=institution(CENTRAL))
    )
    foreign = client_for(
        make_staff("other-admin", roles=("institution_admin",), institution=institution(OTHER))
    )
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    resident = resident_client(make_resident())
    anonymous = Client()
    before = list(HisConnection.objects.unscoped().order_by("pk").values())
    edit = {
        "endpoint": "http://127.0.0.1:1/rest/x",
        "is_enabled": "on",
        "poll_interval_seconds": "5",
    }

    mine = own.get("/console/visits/connections/").content.decode()
    assert re.findall(r'<tr id="connection-(\d+)"', mine) == [str(central.pk)]
    assert count(mine, "connections") == "1"
    theirs = foreign.get("/console/visits/connections/").content.decode()
    assert re.findall(r'<tr id="connection-(\d+)"', theirs) == [str(other.pk)]
    for action in ("test/", "reset/", "edit/"):
        assert (
            foreign.post(f"/console/visits/connections/{central.pk}/{action}", edit).status_code
            == 404
        )
    assert foreign.get(f"/console/visits/connections/{central.pk}/edit/").status_code == 404

    listed = regulator.get("/console/visits/connections/").content.decode()
    assert listed.count('<tr id="connection-') == 26
    assert 'data-action="test"' not in listed
    for action in ("test/", "reset/", "edit/"):
        assert (
            regulator.post(f"/console/visits/connections/{central.pk}/{action}", edit).status_code
            == 403
        )
    for client in (anonymous, resident):
        for action in ("test/", "reset/", "edit/"):
            response = client.post(f"/console/visits/connections/{central.pk}/{action}", edit)
            assert response.status_code == 302
            assert response["Location"].startswith("/console/login/")
        assert client.get("/console/visits/connections/").status_code == 302

    assert list(HisConnection.objects.unscoped().order_by("pk").values()) == before
    assert not ConnectionTest.objects.exists()
    assert not audit_entries().filter(action__startswith="visits.connection").exists()
