"""HIS connections (HI-1): all 26 institutions onboarded per dialect, connection tests kept
and audited, settings validated per dialect."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

from jingan.accompaniment.visits import connections
from jingan.accompaniment.visits.models import CircuitState, ConnectionTest, HisConnection
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.views.adapter import ViewsHis
from jingan.integrations.his.views.codec import HIS_ZONE
from jingan.integrations.his.views.simulator import ViewsHisSimulator

SIMULATOR_URL = "http://127.0.0.1:8106"


@pytest.fixture
def views_dir(settings: Any, tmp_path: Path) -> Path:
    directory = tmp_path / "his-views"
    settings.VISITS = {
        **settings.VISITS,
        "his_views_dir": directory,
        "his_simulator_url": SIMULATOR_URL,
    }
    return directory


@pytest.fixture
def admin(make_staff: Any) -> Any:
    return make_staff("his-admin", permissions=("visits.manage_hisconnection",))


def institutions() -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped()


def audit(action: str) -> list[Any]:
    return list(apps.get_model("audit", "AuditEntry").objects.filter(action=action))


def connection_of(dialect: str) -> HisConnection:
    return (
        HisConnection.objects.unscoped()
        .select_related("institution")
        .filter(institution__his_dialect=dialect)
        .order_by("institution__code")
        .first()
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_every_institution_is_onboarded_with_its_dialects_endpoint(views_dir: Path) -> None:
    created = connections.ensure_connections()
    again = connections.ensure_connections()

    assert (created, again) == (26, 0)
    assert institutions().count() == 26
    rows = HisConnection.objects.unscoped().select_related("institution")
    expected = {
        "A": lambda code: "127.0.0.1:8107",
        "B": lambda code: f"{SIMULATOR_URL}/rest/{code}",
        "C": lambda code: f"{SIMULATOR_URL}/hip/{code}",
        "D": lambda code: f"sqlite:///{views_dir}/{code}.sqlite",
    }
    assert {row.institution.his_dialect for row in rows} == {"A", "B", "C", "D"}
    for row in rows:
        code = row.institution.code
        assert row.endpoint == expected[row.institution.his_dialect](code)
        assert (row.is_enabled, row.circuit, row.watermark) == (True, "closed", "")


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_a_database_views_connection_test_reads_the_simulators_view_and_is_audited(
    views_dir: Path, admin: Any
) -> None:
    connections.ensure_connections()
    row = connection_of("D")
    simulator = ViewsHisSimulator(views_dir)
    simulator.start()
    simulator.emit(
        HisEvent(
            source=f"his-d:{row.institution.code}",
            source_event_id="ZT0001",
            institution_code=row.institution.code,
            visit_key="MZ0001",
            node="registration",
            status="registered",
            occurred_at=datetime(2026, 11, 26, 9, tzinfo=HIS_ZONE),
            patient=PatientRef("王建国"),
        )
    )

    test = connections.test_connection(actor=admin, connection_id=row.pk)

    assert (test.ok, test.message) == (
        True,
        "连接正常：视图 V_PT_JZZT 可读，本机构共有 1 条就诊状态记录",
    )
    assert (test.connection_id, test.tested_by_id) == (row.pk, admin.pk)
    [entry] = audit("visits.connection_tested")
    assert (entry.outcome, entry.actor_id, entry.object_id, entry.institution_id) == (
        "success",
        admin.pk,
        str(row.pk),
        row.institution_id,
    )
    assert entry.detail_data["dialect"] == "D"


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_a_missing_his_database_fails_the_test_with_a_chinese_message(
    views_dir: Path, admin: Any
) -> None:
    connections.ensure_connections()
    row = connection_of("D")

    test = connections.test_connection(actor=admin, connection_id=row.pk)

    path = views_dir / f"{row.institution.code}.sqlite"
    assert test.ok is False
    assert test.message == f"无法连接 HIS 数据库（{path}）：unable to open database file"
    assert ConnectionTest.objects.filter(connection=row).count() == 1
    [entry] = audit("visits.connection_tested")
    assert entry.outcome == "failure"


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_an_adapter_that_raises_becomes_a_failed_test_never_an_error(
    views_dir: Path, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections.ensure_connections()
    row = connection_of("D")

    def broken(self: ViewsHis, institution_code: str) -> Any:
        raise RuntimeError("driver crashed")

    monkeypatch.setattr(ViewsHis, "test_connection", broken)
    test = connections.test_connection(actor=admin, connection_id=row.pk)

    assert (test.ok, test.message) == (False, "连接测试出错：driver crashed")


@pytest.mark.req("HI-1")
@pytest.mark.django_db
@pytest.mark.parametrize("dialect", ["A", "B", "C"])
def test_an_unreachable_his_of_any_dialect_fails_the_test_and_keeps_the_result(
    views_dir: Path, admin: Any, dialect: str
) -> None:
    connections.ensure_connections()
    row = connection_of(dialect)
    port = closed_port()
    endpoint = {
        "A": f"127.0.0.1:{port}",
        "B": f"http://127.0.0.1:{port}/rest/{row.institution.code}",
        "C": f"http://127.0.0.1:{port}/hip/{row.institution.code}",
    }[dialect]
    HisConnection.objects.unscoped().filter(pk=row.pk).update(endpoint=endpoint)

    test = connections.test_connection(actor=admin, connection_id=row.pk)

    assert test.ok is False
    assert "无法连接" in test.message
    assert ConnectionTest.objects.get().pk == test.pk
    assert [e.outcome for e in audit("visits.connection_tested")] == ["failure"]


@pytest.mark.req("HI-1")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dialect", "endpoint", "message"),
    [
        ("A", "his.example.cn", "HL7 接口地址须写成“主机:端口”，如 10.1.2.3:2575"),
        ("A", "10.1.2.3:70000", "HL7 接口地址须写成“主机:端口”，如 10.1.2.3:2575"),
        ("B", "ftp://his/rest", "REST 服务地址须以 http:// 或 https:// 开头"),
        ("C", "his.example.cn/hip", "Web Service地址须以 http:// 或 https:// 开头"),
        ("D", "oracle://his/views", "数据库视图地址须以 sqlite:/// 或 postgresql:// 开头"),
        ("D", "  ", "请填写接口地址"),
    ],
)
def test_an_endpoint_of_the_wrong_form_is_refused_and_nothing_changes(
    views_dir: Path, admin: Any, dialect: str, endpoint: str, message: str
) -> None:
    connections.ensure_connections()
    row = connection_of(dialect)

    with pytest.raises(connections.ConnectionSettingsError) as caught:
        connections.update_connection(
            actor=admin,
            connection_id=row.pk,
            endpoint=endpoint,
            is_enabled=True,
            poll_interval_seconds=10,
        )

    assert str(caught.value).startswith(message)
    assert HisConnection.objects.unscoped().get(pk=row.pk).endpoint == row.endpoint
    assert audit("visits.connection_updated") == []


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_updating_a_connection_is_audited_without_the_database_password(
    views_dir: Path, admin: Any
) -> None:
    connections.ensure_connections()
    row = connection_of("D")
    HisConnection.objects.unscoped().filter(pk=row.pk).update(
        circuit=CircuitState.OPEN, consecutive_failures=6, last_error="无法连接"
    )

    with pytest.raises(connections.ConnectionSettingsError, match="轮询间隔须在 1 至 3600 秒之间"):
        connections.update_connection(
            actor=admin,
            connection_id=row.pk,
            endpoint=row.endpoint,
            is_enabled=True,
            poll_interval_seconds=0,
        )
    updated = connections.update_connection(
        actor=admin,
        connection_id=row.pk,
        endpoint="postgresql://platform_ro:S3cret!@10.8.0.12:5432/his",
        is_enabled=True,
        poll_interval_seconds=30,
    )

    assert (updated.endpoint, updated.poll_interval_seconds) == (
        "postgresql://platform_ro:S3cret!@10.8.0.12:5432/his",
        30,
    )
    # A new address starts afresh.
    assert (updated.circuit, updated.consecutive_failures, updated.last_error) == ("closed", 0, "")
    [entry] = audit("visits.connection_updated")
    assert entry.detail_data["after"] == {
        "endpoint": "postgresql://platform_ro:***@10.8.0.12:5432/his",
        "is_enabled": True,
        "poll_interval_seconds": 30,
    }
    assert "S3cret" not in entry.detail


@pytest.mark.req("HI-1")
@pytest.mark.django_db
def test_resetting_the_circuit_resumes_polling_at_once_and_is_audited(
    views_dir: Path, admin: Any
) -> None:
    connections.ensure_connections()
    row = connection_of("C")
    HisConnection.objects.unscoped().filter(pk=row.pk).update(
        circuit=CircuitState.OPEN, consecutive_failures=9, last_error="HTTP 503"
    )

    reset = connections.reset_circuit(actor=admin, connection_id=row.pk)

    assert (reset.circuit, reset.consecutive_failures, reset.next_poll_at, reset.last_error) == (
        "closed",
        0,
        None,
        "",
    )
    [entry] = audit("visits.connection_circuit_reset")
    assert entry.detail_data["before"] == {"circuit": "open", "consecutive_failures": 9}
