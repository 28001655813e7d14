"""Dialect D end to end (HI-2): the HIS simulator writes its tables, the poller reads the
real SQLite view into the journal, the event centre folds it, the resident API shows it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

from jingan.accompaniment.visits import connections, services
from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.inputs import pollers
from jingan.accompaniment.visits.models import HisConnection, RejectedMessage, Visit, VisitEvent
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.integrations.his.views import codec
from jingan.integrations.his.views.simulator import ViewsHisSimulator

NAME = "王建国"
ID_NUMBER = "310106195001011238"
T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


@pytest.fixture
def views_dir(settings: Any, tmp_path: Path) -> Path:
    directory = tmp_path / "his-views"
    settings.VISITS = {**settings.VISITS, "his_views_dir": directory}
    return directory


@pytest.fixture
def institution(db: None) -> Any:
    return (
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(his_dialect="D", is_active=True)
        .order_by("code")
        .first()
    )


@pytest.fixture
def simulator(views_dir: Path) -> ViewsHisSimulator:
    simulator = ViewsHisSimulator(views_dir)
    simulator.start()
    return simulator


@pytest.fixture
def connection(institution: Any, views_dir: Path) -> HisConnection:
    connections.ensure_connections()
    return HisConnection.objects.unscoped().get(institution=institution)


def event(code: str, n: int, node: str, status: str, minutes: float, **payload: Any) -> HisEvent:
    return HisEvent(
        source=f"his-d:{code}",
        source_event_id=f"ZT{n:04d}",
        institution_code=code,
        visit_key="MZ0001",
        node=node,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        patient=PatientRef(NAME, ID_NUMBER, "1002003004"),
        payload={"department_name": "内科", "doctor_name": "陈立新", **payload},
    )


@pytest.mark.req("HI-2")
def test_a_visit_written_to_the_his_tables_reaches_the_resident_through_the_view(
    institution: Any,
    connection: HisConnection,
    simulator: ViewsHisSimulator,
    make_resident: Any,
    resident_client: Any,
) -> None:
    resident = make_resident(NAME, ID_NUMBER)
    rng = random.Random(11)
    plan = plan_visit(
        rng,
        institution_code=institution.code,
        dialect="D",
        visit_key="MZ20261126011",
        arrive_at=T0,
        patient=PatientRef(NAME, ID_NUMBER, "1002003004"),
    )
    script = visit_script(plan, rng)
    for item in script:
        simulator.emit(item)

    outcome = pollers.poll_connection(connection.pk)
    drain()

    assert (outcome.polled, outcome.ok, outcome.accepted, outcome.rejected) == (
        True,
        True,
        len(script),
        0,
    )
    rows = list(VisitEvent.objects.unscoped().order_by("occurred_at", "id"))
    assert {row.source for row in rows} == {f"his-d:{institution.code}"}
    assert sorted(row.source_event_id for row in rows) == sorted(e.source_event_id for e in script)
    connection.refresh_from_db()
    last_row = simulator.view_rows(institution.code)[-1]
    assert connection.watermark == f"{last_row['GXSJ']}|{last_row['LSH']}"
    assert connection.events_received == len(script)
    visit = Visit.objects.unscoped().get()
    assert (visit.resident_id, visit.visit_key) == (resident.pk, "MZ20261126011")
    client = resident_client(resident)
    page = client.get(f"/api/v1/visits/{visit.reference}/nodes/registration")
    assert page.status_code == 200
    [registration] = page.json()["items"]
    paid = next(e for e in script if (e.node, e.status) == ("registration", "registered"))
    assert registration["status"] == "registered"
    assert registration["details"]["fee"] == paid.payload["fee"]
    assert registration["details"]["pay_mode"] == paid.payload["pay_mode"]


@pytest.mark.req("HI-2")
def test_duplicates_are_no_ops_and_a_late_commit_is_caught_by_the_overlap(
    institution: Any, connection: HisConnection, simulator: ViewsHisSimulator
) -> None:
    code = institution.code
    simulator.emit(event(code, 1, "registration", "unpaid", 0, fee="25.00"))
    simulator.emit(event(code, 2, "registration", "registered", 2, fee="25.00"))
    first = pollers.poll_connection(connection.pk)

    # The interface program sends ZT0001 again, and ZT0003 commits 40 s late.
    simulator.emit(event(code, 1, "registration", "unpaid", 0, fee="25.00"))
    simulator.emit(
        event(code, 3, "check_in", "pending", 2, location="门诊楼 2 楼"), late_by_seconds=40
    )
    second = pollers.poll_connection(connection.pk)
    third = pollers.poll_connection(connection.pk)

    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates) == (1, 2)
    assert third.accepted == 0
    assert sorted(VisitEvent.objects.unscoped().values_list("source_event_id", flat=True)) == [
        "ZT0001",
        "ZT0002",
        "ZT0003",
    ]
    connection.refresh_from_db()
    assert connection.events_received == 3


@pytest.mark.req("HI-2")
def test_a_bad_row_is_kept_once_with_its_reason_and_replays_after_the_fix(
    institution: Any,
    connection: HisConnection,
    simulator: ViewsHisSimulator,
    make_staff: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = institution.code
    simulator.emit(event(code, 1, "registration", "registered", 0))
    # The HIS starts using a status code (02/3: 挂号已改签) that the table does not know yet.
    simulator.insert_log_row(
        code,
        {
            "LSH": "ZT0002",
            "JGDM": code,
            "JZHM": "MZ0001",
            "JDLX": "02",
            "ZTDM": "3",
            "FSSJ": "2026-11-26 09:35:00.000000",
            "GXSJ": simulator.view_rows(code)[0]["GXSJ"],
            "KSMC": "内科",
        },
    )
    simulator.emit(event(code, 3, "check_in", "pending", 6))

    outcomes = [pollers.poll_connection(connection.pk) for _ in range(3)]

    assert [(o.accepted, o.rejected) for o in outcomes] == [(2, 1), (0, 0), (0, 0)]
    kept = RejectedMessage.objects.unscoped().get()
    assert (kept.channel, kept.source, kept.institution_id, kept.code) == (
        "views",
        f"his-d:{code}",
        institution.pk,
        "unknown_status",
    )
    assert kept.reason == "流水号 ZT0002 的节点类型/状态代码 JDLX=02、ZTDM=3 不在对照表中"
    assert json.loads(kept.raw)["LSH"] == "ZT0002"
    assert VisitEvent.objects.unscoped().count() == 2

    # The fix: the status table learns the code; replaying the kept row takes it.
    monkeypatch.setitem(codec.STATUS_TABLE, ("02", "3"), ("registration", "registered"))
    admin = make_staff("his-admin", permissions=("visits.replay_rejectedmessage",))
    replayed = services.replay_rejected(actor=admin, rejected_id=kept.pk)

    assert (replayed.ok, replayed.accepted) == (True, 1)
    kept.refresh_from_db()
    assert kept.status == RejectedMessage.Status.REPLAYED
    assert VisitEvent.objects.unscoped().filter(source_event_id="ZT0002").count() == 1
