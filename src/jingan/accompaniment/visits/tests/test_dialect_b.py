"""Dialect B end to end: a HIS pushes signed vendor JSON to /api/v1/his/push (HI-2), and
the outsiders of that endpoint."""

# ruff: noqa: F811 - the shared fixture is imported by name

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.inputs.rest_clients import ensure_push_clients
from jingan.accompaniment.visits.models import HisConnection, RejectedMessage, VisitEvent
from jingan.accompaniment.visits.services import replay_rejected
from jingan.accompaniment.visits.tests.push_fixtures import (
    B_CODE,
    B_OTHER,
    PATIENT_ID,
    PATIENT_NAME,
    PUSH,
    api_client,  # noqa: F401 - fixture
    body_bytes,
    institution,
    post_signed,
)
from jingan.core.public import create_api_client
from jingan.integrations.his.port import PatientRef
from jingan.integrations.his.rest import codec
from jingan.integrations.his.rest.simulator import RestHisSimulator
from jingan.integrations.his.scenarios import plan_visit, visit_script

CST = timezone(timedelta(hours=8))


def vendor(n: int, event_type: str, minute: int, code: str = B_CODE, **data: Any) -> dict[str, Any]:
    return {
        "msgId": f"HIS9-{n:05d}",
        "hospCode": code,
        "eventType": event_type,
        "visitNo": "MZ2026112600017",
        "eventTime": f"2026-11-26 09:{minute:02d}:00",
        "patient": {"name": PATIENT_NAME, "idCard": PATIENT_ID, "cardNo": "0012345678"},
        "data": {"deptCode": "03", "deptName": "内科", "doctorName": "陈立新", **data},
    }


REGISTRATION = {
    "events": [
        vendor(1, "REG_UNPAID", 30, regNo="GH017", regFee="25.00"),
        vendor(2, "REG_PAID", 32, regNo="GH017", regFee="25.00", payWay="微信"),
        vendor(3, "SIGN_WAIT", 32, signPlace="门诊楼 2 楼内科诊区"),
    ]
}


def journal_rows() -> list[tuple[Any, ...]]:
    return list(
        VisitEvent.objects.unscoped()
        .order_by("pk")
        .values_list(
            "source", "source_event_id", "institution__code", "node", "status", "occurred_at"
        )
    )


def nothing_stored() -> bool:
    return (
        not VisitEvent.objects.unscoped().exists()
        and not RejectedMessage.objects.unscoped().exists()
    )


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_a_signed_push_lands_in_the_journal_and_moves_the_visit(
    api_client: Callable[..., tuple[str, str]],
    make_resident: Any,
    resident_client: Callable[[Any], Client],
) -> None:
    resident = make_resident(PATIENT_NAME, PATIENT_ID)
    connection = HisConnection.objects.unscoped().create(
        institution=institution(B_CODE), endpoint=f"http://127.0.0.1:8106/rest/{B_CODE}"
    )
    app_id, key = api_client(B_CODE)

    response = post_signed(PUSH, REGISTRATION, app_id=app_id, key=key)

    assert response.status_code == 200
    assert response.json() == {"code": "0", "message": "成功", "accepted": 3, "duplicates": 0}
    assert journal_rows() == [
        (
            "his-b:310106009",
            "HIS9-00001",
            B_CODE,
            "registration",
            "unpaid",
            datetime(2026, 11, 26, 1, 30, tzinfo=UTC),
        ),
        (
            "his-b:310106009",
            "HIS9-00002",
            B_CODE,
            "registration",
            "registered",
            datetime(2026, 11, 26, 1, 32, tzinfo=UTC),
        ),
        (
            "his-b:310106009",
            "HIS9-00003",
            B_CODE,
            "check_in",
            "pending",
            datetime(2026, 11, 26, 1, 32, tzinfo=UTC),
        ),
    ]
    connection.refresh_from_db()
    assert connection.events_received == 3
    assert connection.last_event_at is not None

    assert drain() == 3
    visits = resident_client(resident).get("/api/v1/visits/").json()
    assert [
        (v["visit"]["current_node_title"], v["visit"]["current_status_label"], v["open_todos"])
        for v in visits
    ] == [("签到", "待签到", 1)]
    reference = visits[0]["visit"]["reference"]
    page = resident_client(resident).get(f"/api/v1/visits/{reference}").json()
    assert [t["title"] for t in page["todos"]] == ["请到门诊楼 2 楼内科诊区签到"]


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_a_repeated_push_changes_nothing(api_client: Callable[..., tuple[str, str]]) -> None:
    app_id, key = api_client(B_CODE)
    post_signed(PUSH, REGISTRATION, app_id=app_id, key=key)
    before = journal_rows()

    again = post_signed(PUSH, REGISTRATION, app_id=app_id, key=key)
    one = post_signed(PUSH, REGISTRATION["events"][1], app_id=app_id, key=key)

    assert again.json() == {"code": "0", "message": "成功", "accepted": 0, "duplicates": 3}
    assert one.json() == {"code": "0", "message": "成功", "accepted": 0, "duplicates": 1}
    assert journal_rows() == before


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_malformed_json_is_kept_with_its_reason(
    api_client: Callable[..., tuple[str, str]], make_staff: Any
) -> None:
    app_id, key = api_client(B_CODE)
    raw = '{"msgId": "HIS9-1", "hospCode": "310106009", '

    response = post_signed(PUSH, raw, app_id=app_id, key=key)

    kept = RejectedMessage.objects.unscoped().get()
    assert response.status_code == 422
    assert response.json() == {
        "code": "malformed_json",
        "message": kept.reason,
        "rejectedId": kept.pk,
    }
    assert kept.reason.startswith("请求体不是合法的 JSON：")
    assert (kept.channel, kept.source, kept.institution.code, kept.raw, kept.status) == (
        "rest",
        "his-b:310106009",
        B_CODE,
        raw,
        "pending",
    )
    assert not VisitEvent.objects.unscoped().exists()

    outcome = replay_rejected(actor=make_staff(), rejected_id=kept.pk)

    assert (outcome.ok, outcome.message) == (False, f"仍被拒绝：{kept.reason}")


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_an_unknown_event_type_is_kept_and_taken_on_replay_once_the_table_knows_it(
    api_client: Callable[..., tuple[str, str]], make_staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id, key = api_client(B_CODE)
    body = vendor(7, "QUEUE_RECALL", 50, queueNo="03-017", waitCount=0)

    response = post_signed(PUSH, body, app_id=app_id, key=key)

    assert response.status_code == 422
    assert response.json()["code"] == "unknown_event_type"
    assert response.json()["message"] == "事件：未知的事件类型 QUEUE_RECALL"
    kept = RejectedMessage.objects.unscoped().get()
    assert kept.raw == body_bytes(body).decode()

    # The fix: the vendor's new "recalled to the room" event joins the status table.
    monkeypatch.setitem(codec.STATUS_TABLE, "QUEUE_RECALL", ("waiting", "called"))
    outcome = replay_rejected(actor=make_staff(), rejected_id=kept.pk)

    assert (outcome.ok, outcome.accepted) == (True, 1)
    assert journal_rows() == [
        (
            "his-b:310106009",
            "HIS9-00007",
            B_CODE,
            "waiting",
            "called",
            datetime(2026, 11, 26, 1, 50, tzinfo=UTC),
        )
    ]
    kept.refresh_from_db()
    assert kept.status == "replayed"


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_another_institutions_client_cannot_push_for_this_one(
    api_client: Callable[..., tuple[str, str]],
) -> None:
    app_id, key = api_client(B_OTHER)
    body = vendor(1, "REG_PAID", 30)

    response = post_signed(PUSH, body, app_id=app_id, key=key)

    kept = RejectedMessage.objects.unscoped().get()
    assert response.status_code == 403
    assert response.json() == {
        "code": "foreign_institution",
        "message": "消息中的机构编码 310106009 与发送方机构 310106010 不符",
        "rejectedId": kept.pk,
    }
    # Kept for the sender's institution (its administrators see what their HIS sent).
    assert (kept.institution.code, kept.source) == (B_OTHER, "his-b:310106010")
    assert not VisitEvent.objects.unscoped().exists()


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_unsigned_forged_and_session_requests_are_refused_and_nothing_is_stored(
    api_client: Callable[..., tuple[str, str]], make_staff: Any, client_for: Any
) -> None:
    app_id, _ = api_client(B_CODE)
    _, stranger_key = create_api_client(actor=None, app_id="stranger", name="陌生系统")
    raw = body_bytes(REGISTRATION)
    staff = make_staff(
        permissions=("visits.manage_hisconnection",), institution=institution(B_CODE)
    )

    unsigned = Client().post(PUSH, data=raw, content_type="application/json")
    forged = post_signed(PUSH, REGISTRATION, app_id=app_id, key=stranger_key)
    session = client_for(staff).post(PUSH, data=raw, content_type="application/json")

    assert [(r.status_code, r.json()["code"]) for r in (unsigned, forged, session)] == [
        (401, "missing_header"),
        (401, "bad_signature"),
        (401, "missing_header"),
    ]
    assert nothing_stored()


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_a_client_of_no_institution_or_a_disabled_one_is_refused(
    api_client: Callable[..., tuple[str, str]],
) -> None:
    from django.apps import apps

    loose_id, loose_key = api_client(None, app_id="district-tool")
    app_id, key = api_client(B_CODE)
    apps.get_model("crypto", "ApiClient").objects.filter(app_id=app_id).update(is_active=False)

    loose = post_signed(PUSH, REGISTRATION, app_id=loose_id, key=loose_key)
    disabled = post_signed(PUSH, REGISTRATION, app_id=app_id, key=key)

    assert loose.status_code == 403
    assert loose.json() == {
        "code": "client_without_institution",
        "message": "接入应用未绑定医疗机构，不能报告就诊事件",
        "rejectedId": None,
    }
    assert (disabled.status_code, disabled.json()["code"]) == (401, "app_disabled")
    assert nothing_stored()


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_push_clients_are_registered_for_every_dialect_b_institution(tmp_path: Path) -> None:
    from django.apps import apps

    store = tmp_path / "his-push-credentials.json"

    first = ensure_push_clients(path=store)
    again = ensure_push_clients(path=store)

    b_codes = sorted(
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(his_dialect="B")
        .values_list("code", flat=True)
    )
    assert sorted(first) == b_codes
    assert len(b_codes) == 11
    assert again == first
    assert first[B_CODE][0] == "his-b-310106009"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    stored = json.loads(store.read_text("utf-8"))
    assert stored[B_CODE] == {"app_id": first[B_CODE][0], "private_key_hex": first[B_CODE][1]}

    # A data directory without the keys: fresh clients the simulator can sign with.
    store.unlink()
    renewed = ensure_push_clients(path=store, codes=[B_CODE])
    assert list(renewed) == [B_CODE]
    assert renewed[B_CODE][0] == "his-b-310106009-2"


@pytest.mark.req("HI-2")
def test_the_simulated_his_pushes_a_whole_visit_through_the_real_api(
    live_server_url: str, tmp_path: Path
) -> None:
    import random

    credentials = ensure_push_clients(path=tmp_path / "keys.json", codes=[B_CODE])
    rng = random.Random(5)
    plan = plan_visit(
        rng,
        institution_code=B_CODE,
        dialect="B",
        visit_key="MZ2026112600042",
        arrive_at=datetime(2026, 11, 26, 9, 0, tzinfo=CST),
        patient=PatientRef(name=PATIENT_NAME, id_number=PATIENT_ID, card_number="0012345678"),
    )
    script = visit_script(plan, rng)
    # The default signer is the hospital side's own implementation of the published scheme.
    simulator = RestHisSimulator(live_server_url, credentials)
    simulator.start()
    try:
        for event in script[:4]:
            simulator.emit(event)
        simulator.emit(script[1])  # a re-sent message: same msgId
        assert simulator.flush(30)
        simulator.set_outage(B_CODE, True)
        for event in script[4:]:
            simulator.emit(event)
        assert simulator.flush(5)
        held = simulator.pending()
        stored_during_outage = VisitEvent.objects.unscoped().count()
        simulator.set_outage(B_CODE, False)
        assert simulator.flush(30)
    finally:
        simulator.stop()

    assert (held, stored_during_outage) == (len(script) - 4, 4)
    assert {a.status for a in simulator.answers} == {200}
    assert sum(a.body["accepted"] for a in simulator.answers) == len(script)
    assert sum(a.body["duplicates"] for a in simulator.answers) == 1
    assert sorted(
        VisitEvent.objects.unscoped().values_list("source_event_id", flat=True)
    ) == sorted(e.source_event_id for e in script)
    assert set(VisitEvent.objects.unscoped().values_list("source", flat=True)) == {
        "his-b:310106009"
    }
