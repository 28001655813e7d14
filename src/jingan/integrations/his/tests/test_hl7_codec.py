"""Dialect A codec: HL7 v2.5 messages written by hand (as the vendor's HIS writes them) →
our events with exact values; rejections with exact codes; every status round-trips
through the vendor-side encoder; ACKs."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jingan.integrations.his.hl7.codec import (
    STATUS_TABLE,
    VENDOR_MESSAGES,
    build_ack,
    build_message,
    build_test_message,
    format_ts,
    parse_message,
    parse_ts,
    read_ack,
    read_header,
)
from jingan.integrations.his.port import (
    NODE_STATUSES,
    EventKind,
    HisEvent,
    MessageRejected,
    PatientRef,
)
from jingan.integrations.his.scenarios import plan_visit, visit_script

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE = "310106001"
VISIT = "MZ20261126001"
PATIENT = PatientRef(name="张建国", id_number="310106195803124417", card_number="JK00012345")


def seg(name: str, fields: Mapping[int, str]) -> str:
    last = max(fields)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def msh(message_type: str, control_id: str = "MSG0001", at: str = "20261126093015") -> str:
    return (
        f"MSH|^~\\&|WINNING-HIS|{CODE}|JINGAN|JINGAN-CLOUD|{at}||{message_type}|{control_id}"
        "|P|2.5|||AL|NE|CHN|UNICODE UTF-8"
    )


PID = seg(
    "PID",
    {
        1: "1",
        2: "JK00012345",
        3: f"JK00012345^^^{CODE}^PI~310106195803124417^^^^NNCHN",
        5: "张建国^ZHANG JIAN GUO",
        7: "19580312",
        8: "M",
        19: "310106195803124417",
    },
)
PV1 = seg(
    "PV1",
    {1: "1", 2: "O", 3: "0301^^^^^^^^心血管内科", 7: "D1021^王立平", 19: VISIT},
)


def hl7(*segments: str, separator: str = "\r") -> str:
    return separator.join(segments) + separator


def expected(
    node: str,
    status: str,
    at: datetime,
    *,
    event_id: str = "MSG0001",
    item: str = "",
    payload: Mapping[str, Any] | None = None,
    emitted_at: datetime | None = None,
    patient: PatientRef = PATIENT,
    kind: str = EventKind.EVENT,
    target: str = "",
) -> HisEvent:
    return HisEvent(
        source=f"his-a:{CODE}",
        source_event_id=event_id,
        institution_code=CODE,
        visit_key=VISIT,
        node=node,
        status=status,
        occurred_at=at,
        item=item,
        kind=kind,
        target_event_id=target,
        patient=patient,
        payload={
            "department_code": "0301",
            "department_name": "心血管内科",
            "doctor_name": "王立平",
            **(payload or {}),
        },
        emitted_at=emitted_at or datetime(2026, 11, 26, 9, 30, 15, tzinfo=SHANGHAI),
    )


def rejection(raw: str) -> MessageRejected:
    with pytest.raises(MessageRejected) as caught:
        parse_message(raw)
    return caught.value


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, second, tzinfo=SHANGHAI)


# --- appointments ---------------------------------------------------------------------


@pytest.mark.req("HI-2")
def test_siu_s12_is_a_booked_appointment_with_crlf_segments_and_a_reversed_name() -> None:
    pid = PID.replace("张建国^ZHANG JIAN GUO", "zhangjianguo^张建国").replace(
        "|310106195803124417", "|", 1
    )
    raw = hl7(
        msh("SIU^S12^SIU_S12"),
        "EVN|S12|20261125201000",
        seg(
            "SCH",
            {
                1: "YY0001",
                2: "YY20261126001",
                11: "^^^20261126093000+0800",
                20: "^本人",
                22: "健康静安公众号",
                25: "Booked^Booked^HL70278",
            },
        ),
        pid,
        seg("PV1", {1: "1", 2: "O", 19: VISIT, 39: "1"}),
        "RGS|1",
        "AIS|1||0301^心血管内科",
        "AIL|1||0301^^^^^^^^心血管内科",
        "AIP|1||D1021^王立平",
        separator="\r\n",
    )
    assert parse_message(raw) == [
        expected(
            "appointment",
            "booked",
            datetime(2026, 11, 25, 20, 10, tzinfo=SHANGHAI),
            payload={
                "appointment_time": "2026-11-26T09:30:00+08:00",
                "period": "上午",
                "booked_by": "本人",
                "channel": "健康静安公众号",
                "appointment_no": "YY20261126001",
            },
        )
    ]


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(
    ("trigger", "filler_status", "status"),
    [
        ("S12", "Overbook", "booked"),
        ("S13", "Booked", "booked"),
        ("S14", "Complete", "fulfilled"),
        ("S14", "", "booked"),
        ("S15", "Cancelled", "cancelled"),
        ("S15", "Deleted", "cancelled"),
        ("S26", "Noshow", "no_show"),
    ],
)
def test_siu_triggers_and_filler_status_map_through_the_table(
    trigger: str, filler_status: str, status: str
) -> None:
    raw = hl7(
        msh(f"SIU^{trigger}^SIU_S12"),
        seg("SCH", {2: "YY1", 25: filler_status}),
        PID,
        PV1,
    )
    (event,) = parse_message(raw)
    assert (event.node, event.status, event.item) == ("appointment", status, "")
    # No EVN: the message time (MSH-7) is when it happened.
    assert event.occurred_at == at(9, 30, 15)


@pytest.mark.req("HI-2")
def test_siu_filler_status_contradicting_the_trigger_is_rejected() -> None:
    error = rejection(hl7(msh("SIU^S15^SIU_S12"), seg("SCH", {25: "Booked"}), PID, PV1))
    assert (error.code, error.reason) == (
        "unknown_status",
        "SIU^S15 消息的 SCH-25 状态码“Booked”无法识别",
    )


# --- registration, check-in, queue, consultation --------------------------------------


@pytest.mark.req("HI-2")
def test_adt_a04_with_zrg_settles_the_registration() -> None:
    pv1 = seg(
        "PV1", {1: "1", 2: "O", 3: "0301^^^^^^^^心血管内科", 7: "D1021^王立平", 10: "4", 19: VISIT}
    )
    unpaid = hl7(
        msh("ADT^A04^ADT_A01"),
        "EVN|A04|20261126091000",
        PID,
        pv1,
        "ZRG|GH0001|25.00||||0",
    )
    paid = hl7(
        msh("ADT^A04^ADT_A01", "MSG0002"),
        "EVN|A04|20261126091230",
        PID,
        pv1,
        "ZRG|GH0001|25|15.00|10.00|41|1|20261126091230",
    )
    assert parse_message(unpaid) == [
        expected(
            "registration",
            "unpaid",
            at(9, 10),
            payload={"registration_type": "专家门诊", "registration_no": "GH0001", "fee": "25.00"},
        )
    ]
    assert parse_message(paid) == [
        expected(
            "registration",
            "registered",
            at(9, 12, 30),
            event_id="MSG0002",
            payload={
                "registration_type": "专家门诊",
                "registration_no": "GH0001",
                "fee": "25.00",
                "insurance_paid": "15.00",
                "self_paid": "10.00",
                "pay_mode": "医保+微信",
                "settled_at": "2026-11-26T09:12:30+08:00",
            },
        )
    ]


@pytest.mark.req("HI-2")
def test_registration_cancel_and_a_missing_settlement_segment() -> None:
    (event,) = parse_message(hl7(msh("ADT^A11^ADT_A09"), "EVN|A11|20261126100000", PID, PV1))
    assert (event.node, event.status, event.occurred_at) == (
        "registration",
        "cancelled",
        at(10, 0),
    )
    error = rejection(hl7(msh("ADT^A04^ADT_A01"), "EVN|A04|20261126091000", PID, PV1))
    assert (error.code, error.reason) == ("missing_segment", "ADT^A04 消息缺少 ZRG 段（挂号结算）")


@pytest.mark.req("HI-2")
def test_adt_a10_check_in_pending_and_arrived() -> None:
    pending = hl7(
        msh("ADT^A10^ADT_A09"),
        "EVN|A10|20261126091300",
        PID,
        PV1,
        "ZCI|0|门诊楼 2 楼 内科分诊台|乘 2 号电梯到 2 楼右转",
    )
    arrived = hl7(msh("ADT^A10^ADT_A09", "MSG0002"), "EVN|A10|20261126091800", PID, PV1)
    assert parse_message(pending) == [
        expected(
            "check_in",
            "pending",
            at(9, 13),
            payload={"location": "门诊楼 2 楼 内科分诊台", "floor_guide": "乘 2 号电梯到 2 楼右转"},
        )
    ]
    assert parse_message(arrived) == [
        expected("check_in", "checked_in", at(9, 18), event_id="MSG0002")
    ]


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(("code", "status"), [("W", "waiting"), ("C", "called"), ("P", "passed")])
def test_zqu_queue_positions(code: str, status: str) -> None:
    raw = hl7(
        msh("ZQU^Z01^ZQU_Z01"),
        "EVN|Z01|20261126092000",
        PID,
        PV1,
        f"ZQU|{code}|03-017|4|内科第 2 诊室",
    )
    assert parse_message(raw) == [
        expected(
            "waiting",
            status,
            at(9, 20),
            payload={"queue_no": "03-017", "ahead": 4, "room": "内科第 2 诊室"},
        )
    ]


@pytest.mark.req("HI-2")
def test_zqu_with_a_non_numeric_ahead_is_rejected() -> None:
    error = rejection(hl7(msh("ZQU^Z01"), PID, PV1, "ZQU|W|03-017|四|诊室"))
    assert (error.code, error.reason) == ("bad_value", "ZQU-3（前方人数）应为非负整数，收到“四”")


@pytest.mark.req("HI-2")
def test_adt_a08_consultation_with_diagnosis_and_prescriptions() -> None:
    raw = hl7(
        msh("ADT^A08^ADT_A01"),
        "EVN|A08|20261126094500",
        PID,
        PV1,
        "ZCS|2|内科第 2 诊室|咳嗽三天，伴低热|多饮水\\X0A\\按时服药",
        "DG1|1||J06.900^急性上呼吸道感染^ICD10|急性上呼吸道感染||F",
        "ZRX|1|阿莫西林胶囊|0.25g×24粒|每次 2 粒，每日 3 次|1 盒",
        "ZRX|2|复方甘草片|100片|每次 3 片，每日 3 次|1 瓶",
    )
    assert parse_message(raw) == [
        expected(
            "consultation",
            "finished",
            at(9, 45),
            payload={
                "room": "内科第 2 诊室",
                "record": {
                    "complaint": "咳嗽三天，伴低热",
                    "diagnosis": "急性上呼吸道感染",
                    "advice": "多饮水\n按时服药",
                },
                "prescriptions": [
                    {
                        "drug": "阿莫西林胶囊",
                        "spec": "0.25g×24粒",
                        "usage": "每次 2 粒，每日 3 次",
                        "quantity": "1 盒",
                    },
                    {
                        "drug": "复方甘草片",
                        "spec": "100片",
                        "usage": "每次 3 片，每日 3 次",
                        "quantity": "1 瓶",
                    },
                ],
            },
        )
    ]
    started = hl7(msh("ADT^A08^ADT_A01"), "EVN|A08|20261126093500", PID, PV1, "ZCS|1|内科第 2 诊室")
    ended = hl7(msh("ADT^A03^ADT_A03"), "EVN|A03|20261126094600", PID, PV1)
    assert [(e.status, e.occurred_at) for e in parse_message(started)] == [
        ("in_progress", at(9, 35))
    ]
    assert [(e.status, e.occurred_at) for e in parse_message(ended)] == [("finished", at(9, 46))]


# --- charges, orders, results, pharmacy, follow-up ---------------------------------------


@pytest.mark.req("HI-2")
def test_dft_p03_gives_one_event_per_bill() -> None:
    raw = hl7(
        msh("DFT^P03^DFT_P03", "FEE0001"),
        "EVN|P03|20261126095000",
        PID,
        PV1,
        "FT1|1|F1||20261126094800||CG|X001^阿莫西林胶囊|药品费||1|28.60",
        "FT1|2|F1||20261126094800||CG|X002^复方甘草片|药品费||1|6.40",
        "FT1|3|F1||20261126095000|20261126095005|PY|41^医保+微信|药品费|||35.00",
        "FT1|1|F2||20261126094900||CG|L001^血常规|检查检验费||1|22.00",
    )
    assert parse_message(raw) == [
        expected(
            "payment",
            "paid",
            at(9, 50),
            event_id="FEE0001#1",
            item="F1",
            payload={
                "item_name": "药品费",
                "items": [
                    {"name": "阿莫西林胶囊", "amount": "28.60"},
                    {"name": "复方甘草片", "amount": "6.40"},
                ],
                "total": "35.00",
                "pay_mode": "医保+微信",
                "paid_at": "2026-11-26T09:50:05+08:00",
            },
        ),
        expected(
            "payment",
            "unpaid",
            at(9, 49),
            event_id="FEE0001#2",
            item="F2",
            payload={
                "item_name": "检查检验费",
                "items": [{"name": "血常规", "amount": "22.00"}],
                "total": "22.00",
            },
        ),
    ]


@pytest.mark.req("HI-2")
def test_dft_refund_in_the_numeric_dialect_and_an_unknown_transaction_type() -> None:
    raw = hl7(
        msh("DFT^P03^DFT_P03"),
        "EVN|P03|20261126110000",
        PID,
        PV1,
        "FT1|1|F1||20261126094800||1|^血常规|||1|22",
        "FT1|2|F1||20261126110000||-1|12^支付宝||||-22",
    )
    (event,) = parse_message(raw)
    assert (event.status, event.item, event.occurred_at) == ("refunded", "F1", at(11, 0))
    assert event.payload["pay_mode"] == "支付宝"
    error = rejection(raw.replace("||-1|", "||ZZ|"))
    assert (error.code, error.reason) == (
        "unknown_status",
        "DFT^P03 消息的 FT1-6 状态码“ZZ”无法识别",
    )


@pytest.mark.req("HI-2")
def test_orm_o01_orders_and_their_cancellation() -> None:
    raw = hl7(
        msh("ORM^O01^ORM_O01", "ORD0001"),
        "EVN|O01|20261126095100",
        PID,
        PV1,
        "ORC|NW|L1||||||^^^20261126095100|20261126095100",
        "OBR|1|L1||30001^血常规|||||||||||||||门诊楼 1 楼 检验科 采血窗口|约 1 小时后出报告||||LAB",
        "ORC|NW|L2||||||||20261126095100",
        "OBR|1|L2||50001^胸部 CT 平扫|||||||||||||||医技楼 1 楼 放射科 CT 室|||||CT",
    )
    assert parse_message(raw) == [
        expected(
            "lab_exam",
            "ordered",
            at(9, 51),
            event_id="ORD0001#1",
            item="L1",
            payload={
                "item_name": "血常规",
                "location": "门诊楼 1 楼 检验科 采血窗口",
                "report_eta": "约 1 小时后出报告",
                "category": "检验",
            },
        ),
        expected(
            "lab_exam",
            "ordered",
            at(9, 51),
            event_id="ORD0001#2",
            item="L2",
            payload={
                "item_name": "胸部 CT 平扫",
                "location": "医技楼 1 楼 放射科 CT 室",
                "category": "检查",
            },
        ),
    ]
    for control, status in (("CA", "cancelled"), ("SC", "in_progress"), ("DC", "cancelled")):
        single = hl7(msh("ORM^O01"), PID, PV1, f"ORC|{control}|L1", "OBR|1|L1||30001^血常规")
        assert [(e.status, e.item) for e in parse_message(single)] == [(status, "L1")]


@pytest.mark.req("HI-2")
def test_oru_r01_report_with_items_and_a_conclusion() -> None:
    raw = hl7(
        msh("ORU^R01^ORU_R01"),
        "EVN|R01|20261126110000",
        PID,
        PV1,
        "ORC|RE|L1",
        "OBR|1|L1||30001^血常规|||||||||||||||门诊楼 1 楼 检验科|||20261126105500||LAB|F",
        "OBX|1|NM|WBC^白细胞计数||6.8|10\\S\\9/L|3.5-9.5|N|||F",
        "OBX|2|NM|PLT^血小板计数||96|10\\S\\9/L|125-350|L|||F",
        "OBX|3|FT|CONCLUSION^结论||血小板偏低，请结合临床||||||F",
    )
    assert parse_message(raw) == [
        expected(
            "lab_exam",
            "reported",
            at(10, 55),
            item="L1",
            payload={
                "item_name": "血常规",
                "location": "门诊楼 1 楼 检验科",
                "category": "检验",
                "report": {
                    "items": [
                        {
                            "name": "白细胞计数",
                            "value": "6.8",
                            "unit": "10^9/L",
                            "range": "3.5-9.5",
                            "flag": "N",
                        },
                        {
                            "name": "血小板计数",
                            "value": "96",
                            "unit": "10^9/L",
                            "range": "125-350",
                            "flag": "L",
                        },
                    ],
                    "conclusion": "血小板偏低，请结合临床",
                },
            },
        )
    ]
    preliminary = raw.replace("|LAB|F", "|LAB|P")
    assert [e.status for e in parse_message(preliminary)] == ["in_progress"]
    error = rejection(raw.replace("|LAB|F", "|LAB|X"))
    assert (error.code, error.reason) == (
        "unknown_status",
        "ORU^R01 消息的 OBR-25 状态码“X”无法识别",
    )


@pytest.mark.req("HI-2")
def test_rds_o13_ready_with_window_and_pickup_code_then_dispensed() -> None:
    ready = hl7(
        msh("RDS^O13^RDS_O13"),
        "EVN|O13|20261126100500",
        PID,
        PV1,
        "ORC|RE|R1||||||||20261126100500",
        "RXD|1|Y0001^阿莫西林胶囊||2|HE^盒||R1",
        "RXD|2|Y0002^复方甘草片||1|PING^瓶||R1",
        "ZPH|2|门诊西药房 3 号窗口|482913",
    )
    assert parse_message(ready) == [
        expected(
            "pharmacy",
            "ready",
            at(10, 5),
            item="R1",
            payload={
                "drugs": ["阿莫西林胶囊 ×2盒", "复方甘草片 ×1瓶"],
                "window": "门诊西药房 3 号窗口",
                "pickup_code": "482913",
            },
        )
    ]
    # A plain RDS without the vendor segment means the drugs went out (RXD-3, no ORC-9).
    dispensed = hl7(
        msh("RDS^O13"), PID, PV1, "ORC|RE|R1", "RXD|1|^阿莫西林胶囊|20261126101500|||||R1"
    )
    assert [(e.status, e.item, e.occurred_at) for e in parse_message(dispensed)] == [
        ("dispensed", "R1", at(10, 15))
    ]


@pytest.mark.req("HI-2")
def test_zfu_follow_up_questionnaire_json_survives_escaping() -> None:
    questionnaire = {
        "title": "诊后随访",
        "questions": [{"text": "症状是否缓解?|^~&", "options": ["是", "否"]}],
    }
    encoded = (
        json.dumps(questionnaire, ensure_ascii=False)
        .replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    raw = hl7(
        msh("ZFU^Z01^ZFU_Z01"), "EVN|Z01|20261127090000", PID, PV1, f"ZFU|P|20261204|{encoded}"
    )
    assert parse_message(raw) == [
        expected(
            "follow_up",
            "pending",
            datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI),
            payload={"due_date": "2026-12-04", "questionnaire": questionnaire},
        )
    ]
    error = rejection(raw.replace(encoded, "{not json"))
    assert (error.code, error.reason) == ("bad_value", "ZFU-3（问卷） 不是合法的 JSON")


# --- corrections and voids --------------------------------------------------------------


@pytest.mark.req("HI-2")
def test_zcv_makes_a_correction_or_a_void_of_an_earlier_message() -> None:
    base = [msh("ZQU^Z01", "MSG0009"), "EVN|Z01|20261126092000", PID, PV1, "ZQU|W|03-017|3|诊室"]
    (correction,) = parse_message(hl7(*base, "ZCV|C|MSG0007"))
    (void,) = parse_message(hl7(*base, "ZCV|V|MSG0007"))
    assert (correction.kind, correction.target_event_id, correction.source_event_id) == (
        "correction",
        "MSG0007",
        "MSG0009",
    )
    assert (void.kind, void.target_event_id) == ("void", "MSG0007")
    error = rejection(hl7(*base, "ZCV|X|MSG0007"))
    assert (error.code, error.reason) == ("bad_value", "ZCV-1 应为 C（更正）或 V（作废），收到“X”")


@pytest.mark.req("HI-2")
def test_a_correction_must_carry_exactly_one_event() -> None:
    raw = hl7(
        msh("DFT^P03"),
        "EVN|P03|20261126095000",
        PID,
        PV1,
        "FT1|1|F1||||CG|^药|||1|1.00",
        "FT1|1|F2||||CG|^检|||1|2.00",
        "ZCV|C|FEE0001#1",
    )
    error = rejection(raw)
    assert (error.code, error.reason) == (
        "ambiguous_correction",
        "更正或作废消息只能包含一个事件，本消息含 2 个",
    )


# --- rejections, times, identity ---------------------------------------------------------


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        ("这不是 HL7", "not_hl7", "不是 HL7 v2 消息：报文应以 MSH 段开头"),
        ("MSH|", "not_hl7", "不是 HL7 v2 消息：报文应以 MSH 段开头"),
        (hl7(msh("ZQU^Z01"), "pid|1", PV1), "bad_segment", "第 2 段“pid|1”不是合法的 HL7 段"),
        (
            hl7(msh("ZQU^Z01").replace(f"|{CODE}|", "||", 1), PID, PV1, "ZQU|W"),
            "missing_field",
            "MSH-4（发送机构）为空：应为医疗机构编码",
        ),
        (hl7(msh("ZQU^Z01", ""), PID, PV1, "ZQU|W"), "missing_field", "MSH-10（消息控制号）为空"),
        (hl7(msh("ADT^A31^ADT_A05"), PID, PV1), "unsupported_message", "不支持的消息类型 ADT^A31"),
        (
            hl7(msh("ZQU^Z01").replace("|2.5|", "|3.0|"), PID, PV1, "ZQU|W"),
            "unsupported_version",
            "不支持的 HL7 版本 3.0（应为 2.x）",
        ),
        (hl7(msh("ZQU^Z01"), PV1, "ZQU|W"), "missing_segment", "消息缺少 PID 段（患者信息）"),
        (
            hl7(msh("ZQU^Z01"), PID, "ZQU|W"),
            "missing_segment",
            "消息缺少 PV1 段（就诊信息，PV1-19 为就诊流水号）",
        ),
        (hl7(msh("ZQU^Z01"), PID, "PV1|1|O", "ZQU|W"), "missing_field", "PV1-19（就诊流水号）为空"),
        (hl7(msh("ZQU^Z01"), PID, PV1), "missing_segment", "消息缺少 ZQU 段（候诊排队）"),
        (
            hl7(msh("ZQU^Z01"), PID, PV1, "ZQU|Q"),
            "unknown_status",
            "ZQU^Z01 消息的 ZQU-1 状态码“Q”无法识别",
        ),
        (hl7(msh("ZQU^Z01"), PID, PV1, "ZQU|"), "missing_field", "ZQU^Z01 消息缺少状态（ZQU-1）"),
        (
            hl7(msh("ZQU^Z01", at="2026/11/26"), PID, PV1, "ZQU|W"),
            "bad_time",
            "MSH-7 不是 HL7 时间（YYYYMMDDHHMMSS[+ZZZZ]）：2026/11/26",
        ),
        (
            hl7(msh("ZQU^Z01"), "EVN|Z01|20261131120000", PID, PV1, "ZQU|W"),
            "bad_time",
            "EVN-2 不是有效的日期时间：20261131120000",
        ),
        (
            hl7(msh("ORM^O01"), PID, PV1, "ORC|NW", "OBR|1||||"),
            "missing_field",
            "ORC-2 / OBR-2（申请单号）为空",
        ),
    ],
)
def test_malformed_messages_are_rejected_with_a_code_and_a_reason(
    raw: str, code: str, reason: str
) -> None:
    error = rejection(raw)
    assert (error.code, error.reason) == (code, reason)


@pytest.mark.req("HI-2")
def test_time_stamps_zones_precision_and_the_order_of_time_fields() -> None:
    assert parse_ts("20261126093015", "X") == at(9, 30, 15)
    assert parse_ts("20261126013015+0000", "X") == at(9, 30, 15)
    assert parse_ts("20261126093015.1234+0800", "X") == at(9, 30, 15) + timedelta(
        microseconds=123400
    )
    assert parse_ts("2026-11-26 09:30", "X") == at(9, 30)
    assert parse_ts("20261126", "X") == datetime(2026, 11, 26, tzinfo=SHANGHAI)
    moment = datetime(2026, 11, 26, 1, 30, 15, 123456, tzinfo=UTC)
    assert format_ts(moment) == "20261126013015.1234+0000"
    assert format_ts(at(9, 30)) == "20261126093000+0800"
    assert format_ts(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))) == (
        "20260101000000-0530"
    )
    # EVN-6 (event occurred) wins over EVN-2 (recorded), which wins over MSH-7.
    raw = hl7(msh("ZQU^Z01"), "EVN|Z01|20261126092000||||20261126091900", PID, PV1, "ZQU|W")
    assert parse_message(raw)[0].occurred_at == at(9, 19)


@pytest.mark.req("HI-2")
def test_identity_from_pid3_pid18_and_a_latin_name() -> None:
    pid = seg(
        "PID",
        {
            1: "1",
            3: "P778^^^HIS^PI~31010619580312441x^^^^NNCHN",
            5: "ZHANG^JIANGUO",
            18: "YB998877",
        },
    )
    (event,) = parse_message(hl7(msh("ZQU^Z01"), pid, PV1, "ZQU|W"))
    assert event.patient == PatientRef(
        name="ZHANG JIANGUO", id_number="31010619580312441X", card_number="YB998877"
    )


# --- the vendor's encoder, both ways -----------------------------------------------------

FULL_PAYLOADS: dict[str, dict[str, Any]] = {
    "appointment": {
        "appointment_time": "2026-11-26T09:30:00+08:00",
        "period": "上午",
        "booked_by": "家属（子女）",
        "channel": "随申办",
        "appointment_no": "YY0001",
    },
    "registration": {
        "registration_no": "GH0001",
        "registration_type": "普通门诊",
        "fee": "25.00",
        "insurance_paid": "15.00",
        "self_paid": "10.00",
        "pay_mode": "医保+微信",
        "settled_at": "2026-11-26T09:12:00+08:00",
    },
    "check_in": {"location": "门诊楼 2 楼 内科诊区 A 区", "floor_guide": "2 号电梯"},
    "waiting": {"queue_no": "03-017", "ahead": 0, "room": "内科第 2 诊室"},
    "consultation": {
        "room": "内科第 2 诊室",
        "record": {
            "complaint": "咳嗽|三天^",
            "diagnosis": "急性上呼吸道感染",
            "advice": "多饮水\n复诊",
        },
        "prescriptions": [
            {"drug": "阿莫西林胶囊", "spec": "0.25g×24粒", "usage": "每次 2 粒", "quantity": "1 盒"}
        ],
    },
    "payment": {
        "item_name": "药品费",
        "items": [
            {"name": "阿莫西林胶囊", "amount": "28.60"},
            {"name": "复方甘草片", "amount": "6.40"},
        ],
        "total": "35.00",
        "pay_mode": "微信",
        "paid_at": "2026-11-26T09:50:00+08:00",
    },
    "lab_exam": {
        "category": "检验",
        "item_name": "血常规",
        "location": "门诊楼 1 楼 检验科 采血窗口",
        "report_eta": "约 1 小时后出报告",
        "report": {
            "items": [
                {
                    "name": "血小板计数",
                    "value": "96",
                    "unit": "10^9/L",
                    "range": "125-350",
                    "flag": "L",
                }
            ],
            "conclusion": "请结合临床",
        },
    },
    "pharmacy": {
        "window": "门诊西药房 3 号窗口",
        "pickup_code": "482913",
        "drugs": ["阿莫西林胶囊", "复方甘草片 ×2盒"],
    },
    "follow_up": {
        "questionnaire": {
            "title": "诊后随访",
            "questions": [{"text": "是否缓解？", "options": ["是", "否"]}],
        },
        "due_date": "2026-12-03",
        "answers": {"q1": "是"},
    },
}
# What each status's message cannot carry (the vendor leaves those fields out).
NOT_CARRIED: dict[tuple[str, str], tuple[str, ...]] = {
    ("payment", "unpaid"): ("pay_mode", "paid_at"),
    ("payment", "refunded"): ("paid_at",),
    ("lab_exam", "ordered"): ("report",),
    ("lab_exam", "in_progress"): ("report",),
    ("lab_exam", "cancelled"): ("report",),
}
ITEMS = {"payment": "F1", "lab_exam": "L1", "pharmacy": "R1"}


def test_every_status_of_every_node_has_a_vendor_message_and_a_table_entry() -> None:
    ours = {(node, status) for node, statuses in NODE_STATUSES.items() for status, _ in statuses}
    assert set(VENDOR_MESSAGES) == ours
    assert set(STATUS_TABLE.values()) == ours


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(("node", "status"), sorted(VENDOR_MESSAGES))
def test_build_then_parse_gives_the_event_back(node: str, status: str) -> None:
    dropped = NOT_CARRIED.get((node, status), ())
    payload = {
        "department_code": "0301",
        "department_name": "心血管内科",
        "doctor_name": "王立平",
        **{k: v for k, v in FULL_PAYLOADS[node].items() if k not in dropped},
    }
    if (node, status) == ("registration", "cancelled"):
        payload = {k: v for k, v in payload.items() if k not in ("settled_at",)}
    event = HisEvent(
        source=f"his-a:{CODE}",
        source_event_id=f"E-{node}-{status}",
        institution_code=CODE,
        visit_key=VISIT,
        node=node,
        status=status,
        occurred_at=datetime(2026, 11, 26, 1, 50, tzinfo=UTC),
        item=ITEMS.get(node, ""),
        patient=PATIENT,
        payload=payload,
        emitted_at=datetime(2026, 11, 26, 1, 50, 1, 250000, tzinfo=UTC),
    )
    raw = build_message(event, message_id=event.source_event_id)
    assert raw.startswith(f"MSH|^~\\&|HIS|{CODE}|JINGAN|JINGAN-CLOUD|20261126015001.2500+0000||")
    assert "\n" not in raw
    (back,) = parse_message(raw)
    if (node, status) == ("pharmacy", "dispensed"):
        # "复方甘草片 ×2盒" travels as RXD-2 name, RXD-4 amount and RXD-5 unit.
        assert "RXD|1|^复方甘草片|20261126015000+0000|2|^盒||R1" in raw
    assert back == event


@pytest.mark.req("HI-2")
def test_build_message_writes_corrections_voids_and_gb18030_declarations() -> None:
    event = HisEvent(
        source=f"his-a:{CODE}",
        source_event_id="E2",
        institution_code=CODE,
        visit_key=VISIT,
        node="waiting",
        status="waiting",
        occurred_at=at(9, 20),
        kind="correction",
        target_event_id="E1",
        patient=PATIENT,
        payload={"ahead": 2},
    )
    raw = build_message(event, message_id="E2", charset="GB 18030-2000")
    assert raw.split("\r")[0].endswith("|P|2.5|||AL|NE|CHN|GB 18030-2000")
    assert raw.split("\r")[-2] == "ZCV|C|E1"
    (back,) = parse_message(raw)
    assert (back.kind, back.target_event_id, back.payload) == ("correction", "E1", {"ahead": 2})
    with pytest.raises(ValueError, match="needs its bill number"):
        build_message(
            HisEvent(**{**event.__dict__, "node": "payment", "status": "unpaid", "kind": "event"}),
            message_id="E3",
        )


@pytest.mark.req("HI-2")
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_scenario_visits_round_trip_through_hl7(seed: int) -> None:
    rng = random.Random(seed)
    plan = plan_visit(
        rng,
        institution_code=CODE,
        dialect="A",
        visit_key=f"MZ{seed:08d}",
        arrive_at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC),
    )
    for event in visit_script(plan, rng):
        (back,) = parse_message(build_message(event, message_id=event.source_event_id))
        assert (back.source, back.source_event_id, back.node, back.status, back.item) == (
            event.source,
            event.source_event_id,
            event.node,
            event.status,
            event.item,
        )
        # HL7 TS carries 1/10 000 s; an empty list has no segments to travel in.
        assert abs(back.occurred_at - event.occurred_at) < timedelta(microseconds=100)
        assert back.patient == event.patient
        assert back.payload == _comparable(event.payload)


def _comparable(payload: Mapping[str, Any]) -> dict[str, Any]:
    def fix(value: Any) -> Any:
        if isinstance(value, str) and len(value) > 25 and value[10:11] == "T":
            moment = datetime.fromisoformat(value)
            return moment.replace(microsecond=moment.microsecond // 100 * 100).isoformat()
        return value

    return {k: fix(v) for k, v in payload.items() if v not in ([], "", None)}


# --- acknowledgements ---------------------------------------------------------------------


@pytest.mark.req("HI-2")
def test_ack_echoes_the_control_id_and_carries_err_on_errors() -> None:
    raw = hl7(msh("ZQU^Z01^ZQU_Z01", "MSG0042"), PID, PV1, "ZQU|Q")
    now = datetime(2026, 11, 26, 9, 30, 16, tzinfo=SHANGHAI)
    error = MessageRejected("unknown_status", "ZQU^Z01 消息的 ZQU-1 状态码“Q”无法识别")
    ack = build_ack(raw, "AE", error, message_id="ACK0001", now=now)
    assert ack.split("\r") == [
        f"MSH|^~\\&|JINGAN|JINGAN-CLOUD|WINNING-HIS|{CODE}|20261126093016+0800||ACK^Z01^ACK|ACK0001|P|2.5||||||UNICODE UTF-8",
        "MSA|AE|MSG0042",
        # ERR-8 is text: the "^" of the message type travels escaped.
        "ERR|||103^Table value not found^HL70357^unknown_status^^L|E||||ZQU\\S\\Z01 消息的 ZQU-1 状态码“Q”无法识别",
        "",
    ]
    parsed = read_ack(ack)
    assert (parsed.code, parsed.control_id, parsed.sending_facility, parsed.accepted) == (
        "AE",
        "MSG0042",
        "JINGAN-CLOUD",
        False,
    )
    assert (parsed.error_code, parsed.error_text) == ("unknown_status", error.reason)
    accepted = read_ack(build_ack(raw, "AA"))
    assert (accepted.code, accepted.control_id, accepted.accepted) == ("AA", "MSG0042", True)
    # Something that is not HL7 at all still gets an answer, with nothing to echo.
    garbage = build_ack("GET / HTTP/1.1", "AR", MessageRejected("not_hl7", "不是 HL7"))
    assert garbage.split("\r")[1] == "MSA|AR"
    assert read_header(garbage).message_type == "ACK"


def test_connection_test_message_is_an_nmq_with_the_clock() -> None:
    raw = build_test_message(CODE, message_id="T1", now=at(9, 0))
    header = read_header(raw)
    assert (header.message_type, header.receiving_facility, header.control_id) == (
        "NMQ^N01",
        CODE,
        "T1",
    )
    assert raw.split("\r")[1] == "NCK|20261126090000+0800"
