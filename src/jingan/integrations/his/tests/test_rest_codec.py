"""Dialect B codec: vendor JSON pushes onto HisEvent, exact values and rejection codes."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jingan.integrations.his.port import EventKind, HisEvent, MessageRejected, PatientRef
from jingan.integrations.his.rest.codec import (
    STATUS_TABLE,
    encode_push,
    parse_push,
    push_body,
)
from jingan.integrations.his.scenarios import plan_visit, visit_script

CST = timezone(timedelta(hours=8))
CODE = "310106009"


def push(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "msgId": "B0009-000123",
        "hospCode": CODE,
        "eventType": "REG_PAID",
        "visitNo": "MZ2026112600017",
        "eventTime": "2026-11-26 09:31:05",
        "createTime": "2026-11-26 09:31:06.250",
        "patient": {"name": "李秀英", "idCard": "31010619500101123x", "cardNo": "0012345678"},
        "data": {
            "deptCode": "03",
            "deptName": "内科",
            "doctorName": "陈立新",
            "regNo": "GH00017",
            "regFee": "25.00",
            "medicarePay": "15.00",
            "selfPay": "10.00",
            "payWay": "医保+微信",
            "settleTime": "2026-11-26 09:31:05",
            "hisInternalFlag": "Y",
        },
    }
    body.update(overrides)
    return body


@pytest.mark.req("HI-2")
def test_a_registration_push_becomes_our_registered_event() -> None:
    (event,) = parse_push(json.dumps(push(), ensure_ascii=False))

    assert event == HisEvent(
        source="his-b:310106009",
        source_event_id="B0009-000123",
        institution_code=CODE,
        visit_key="MZ2026112600017",
        node="registration",
        status="registered",
        occurred_at=datetime(2026, 11, 26, 9, 31, 5, tzinfo=CST),
        patient=PatientRef(name="李秀英", id_number="31010619500101123X", card_number="0012345678"),
        payload={
            "department_code": "03",
            "department_name": "内科",
            "doctor_name": "陈立新",
            "registration_no": "GH00017",
            "fee": "25.00",
            "insurance_paid": "15.00",
            "self_paid": "10.00",
            "pay_mode": "医保+微信",
            "settled_at": "2026-11-26T09:31:05+08:00",
        },
        emitted_at=datetime(2026, 11, 26, 9, 31, 6, 250000, tzinfo=CST),
    )


@pytest.mark.req("HI-2")
def test_a_batch_maps_queue_lab_and_pharmacy_fields() -> None:
    batch = {
        "events": [
            push(
                msgId="m1",
                eventType="QUEUE_UPDATE",
                data={"queueNo": "03-017", "waitCount": "4", "roomName": "内科第 2 诊室"},
            ),
            push(
                msgId="m2",
                eventType="PACS_REPORT",
                itemNo="L2",
                data={
                    "itemName": "胸部 CT 平扫",
                    "execPlace": "医技楼 1 楼 CT 室",
                    "report": {
                        "items": [
                            {
                                "itemName": "影像所见",
                                "result": "未见异常",
                                "unit": "",
                                "refRange": "",
                                "abnormalFlag": "",
                            }
                        ],
                        "conclusion": "未见明显异常",
                    },
                },
            ),
            push(
                msgId="m3",
                eventType="DRUG_READY",
                itemNo="R1",
                data={
                    "windowName": "西药房 3 号窗口",
                    "takeCode": "042917",
                    "drugs": ["阿莫西林胶囊"],
                },
            ),
        ]
    }

    events = parse_push(json.dumps(batch, ensure_ascii=False))

    assert [(e.source_event_id, e.node, e.status, e.item, dict(e.payload)) for e in events] == [
        (
            "m1",
            "waiting",
            "waiting",
            "",
            {"queue_no": "03-017", "ahead": 4, "room": "内科第 2 诊室"},
        ),
        (
            "m2",
            "lab_exam",
            "reported",
            "L2",
            {
                "item_name": "胸部 CT 平扫",
                "location": "医技楼 1 楼 CT 室",
                "report": {
                    "items": [
                        {
                            "name": "影像所见",
                            "value": "未见异常",
                            "unit": "",
                            "range": "",
                            "flag": "",
                        }
                    ],
                    "conclusion": "未见明显异常",
                },
                "category": "检查",
            },
        ),
        (
            "m3",
            "pharmacy",
            "ready",
            "R1",
            {"window": "西药房 3 号窗口", "pickup_code": "042917", "drugs": ["阿莫西林胶囊"]},
        ),
    ]


@pytest.mark.req("HI-2")
def test_correct_and_void_name_the_message_they_amend() -> None:
    correction = push(
        msgId="m9", action="CORRECT", refMsgId="B0009-000123", data={"regFee": "35.00"}
    )
    void = {
        "msgId": "m10",
        "hospCode": CODE,
        "action": "VOID",
        "refMsgId": "m9",
        "visitNo": "MZ2026112600017",
        "eventTime": "2026-11-26 09:40:00",
    }

    corrected, voided = parse_push(json.dumps({"events": [correction, void]}))

    assert (
        corrected.kind,
        corrected.target_event_id,
        corrected.status,
        dict(corrected.payload),
    ) == (
        EventKind.CORRECTION,
        "B0009-000123",
        "registered",
        {"fee": "35.00"},
    )
    assert (voided.kind, voided.target_event_id, voided.node, voided.status) == (
        EventKind.VOID,
        "m9",
        "",
        "",
    )


REJECTIONS = [
    ("{not json", "malformed_json"),
    ("[]", "malformed_message"),
    (json.dumps({"events": {}}), "malformed_message"),
    (json.dumps({"events": []}), "empty"),
    (json.dumps({"events": [push()] * 201}), "too_many"),
    (json.dumps(push(eventType="REG_MAYBE")), "unknown_event_type"),
    (json.dumps(push(action="DELETE")), "unknown_action"),
    (json.dumps(push(action="CORRECT")), "missing_reference"),
    (json.dumps(push(eventTime="2026/11/26 09:31")), "bad_time"),
    (json.dumps(push(createTime="yesterday")), "bad_time"),
    (json.dumps(push(patient="李秀英")), "malformed_event"),
    (json.dumps(push(eventType="QUEUE_UPDATE", data={"waitCount": "很多"})), "malformed_event"),
    (
        json.dumps(push(eventType="DIAG_END", data={"recipes": {"drugName": "x"}})),
        "malformed_event",
    ),
    (json.dumps(push(msgId=12.5)), "malformed_event"),
]


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(("raw", "code"), REJECTIONS)
def test_bad_pushes_are_rejected_with_a_stable_code(raw: str, code: str) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_push(raw)
    assert caught.value.code == code


@pytest.mark.req("HI-2")
def test_rejection_reasons_say_what_and_where_in_chinese() -> None:
    missing = {k: v for k, v in push().items() if k not in ("visitNo", "eventType")}
    reasons = []
    for raw in (
        json.dumps(missing),
        json.dumps({"events": [push(), push(eventType="REG_MAYBE")]}),
        json.dumps(push(eventTime="2026/11/26 09:31")),
    ):
        with pytest.raises(MessageRejected) as caught:
            parse_push(raw)
        reasons.append(caught.value.reason)
    assert reasons == [
        "事件：缺少字段：visitNo, eventType",
        "第 2 个事件：未知的事件类型 REG_MAYBE",
        "事件：eventTime 应为 yyyy-MM-dd HH:mm:ss，收到 2026/11/26 09:31",
    ]


@pytest.mark.req("HI-2")
def test_every_status_of_every_node_has_one_vendor_event_type() -> None:
    from jingan.integrations.his.port import NODE_STATUSES

    ours = {(node, status) for node, statuses in NODE_STATUSES.items() for status, _ in statuses}
    assert set(STATUS_TABLE.values()) == ours


@pytest.mark.req("HI-2")
def test_what_the_simulator_encodes_parses_back_to_the_same_events() -> None:
    rng = random.Random(7)
    events: list[HisEvent] = []
    for index in range(12):
        plan = plan_visit(
            rng,
            institution_code=CODE,
            dialect="B",
            visit_key=f"MZ20261126{index:05d}",
            arrive_at=datetime(2026, 11, 26, 8, 30, tzinfo=CST) + timedelta(minutes=9 * index),
        )
        events.extend(visit_script(plan, rng))
    created = datetime(2026, 11, 26, 12, 0, 0, 125000, tzinfo=CST)
    extra = HisEvent(
        source="his-b:310106009",
        source_event_id="x1",
        institution_code=CODE,
        visit_key="MZ1",
        node="waiting",
        status="waiting",
        occurred_at=created,
        payload={"ahead": 3, "screen_text": "请 03-017 号到 2 诊室"},
    )
    for event in [*events, extra]:
        (back,) = parse_push(push_body([encode_push(event, created_at=created)]))
        assert back == HisEvent(**{**event.__dict__, "emitted_at": created})
    assert {e.node for e in events} >= {"appointment", "lab_exam", "pharmacy", "follow_up"}
