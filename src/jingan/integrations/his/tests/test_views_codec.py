"""Dialect D codec: one view row → our event, exact values, exact rejection codes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from jingan.integrations.his.port import NODE_STATUSES, MessageRejected, PatientRef
from jingan.integrations.his.views.codec import HIS_ZONE, STATUS_TABLE, parse_row, translate
from jingan.integrations.his.views.simulator import VENDOR_CODES

ROW: dict[str, Any] = {
    "LSH": "ZT202611260001",
    "JGDM": "310106003",
    "JZHM": "MZ20261126017",
    "JDLX": "02",
    "ZTDM": "1",
    "XMBH": "",
    "FSSJ": "2026-11-26 09:12:30.250000",
    "GXSJ": "2026-11-26 09:12:31.000000",
    "CZLX": 0,
    "YLSH": None,
    "XM": "张秀英",
    "SFZH": "310106195001011238",
    "KH": "1002003004",
    "KSDM": "03",
    "KSMC": "内科",
    "YSXM": "陈立新",
    "MX": json.dumps(
        {
            "GHHM": "GH0017",
            "GHLB": "普通门诊",
            "GHJE": "25.00",
            "YBZF": "15.00",
            "GRZF": "10.00",
            "ZFFS": "医保+微信",
            "JSSJ": "2026-11-26 09:12:30",
            "QTZD": "厂商自用字段",
        },
        ensure_ascii=False,
    ),
}


def raw(**changes: Any) -> str:
    return json.dumps({**ROW, **changes}, ensure_ascii=False)


def test_a_registration_row_becomes_one_event_with_mapped_details() -> None:
    [event] = parse_row(raw())

    assert event.source == "his-d:310106003"
    assert event.source_event_id == "ZT202611260001"
    assert event.institution_code == "310106003"
    assert event.visit_key == "MZ20261126017"
    assert (event.node, event.status, event.kind, event.item) == (
        "registration",
        "registered",
        "event",
        "",
    )
    assert event.occurred_at == datetime(2026, 11, 26, 9, 12, 30, 250000, tzinfo=HIS_ZONE)
    assert event.emitted_at == datetime(2026, 11, 26, 9, 12, 31, tzinfo=HIS_ZONE)
    assert event.patient == PatientRef("张秀英", "310106195001011238", "1002003004")
    # The vendor's own extra field (QTZD) is not ours to guess at.
    assert event.payload == {
        "department_code": "03",
        "department_name": "内科",
        "doctor_name": "陈立新",
        "registration_no": "GH0017",
        "registration_type": "普通门诊",
        "fee": "25.00",
        "insurance_paid": "15.00",
        "self_paid": "10.00",
        "pay_mode": "医保+微信",
        "settled_at": "2026-11-26 09:12:30",
    }


def test_nested_details_map_vendor_keys_inside_objects_and_lists() -> None:
    detail = {
        "ZSMC": "内科第 2 诊室",
        "BL": {"ZS": "咳嗽三天", "ZD": "急性上呼吸道感染", "CLYJ": "多饮水"},
        "CF": [{"YPMC": "阿莫西林胶囊", "GG": "0.25g×24粒", "YF": "每次 2 粒", "SL": "1 盒"}],
    }
    [event] = parse_row(raw(JDLX="05", ZTDM="8", MX=json.dumps(detail, ensure_ascii=False)))

    assert (event.node, event.status) == ("consultation", "finished")
    assert event.payload["room"] == "内科第 2 诊室"
    assert event.payload["record"] == {
        "complaint": "咳嗽三天",
        "diagnosis": "急性上呼吸道感染",
        "advice": "多饮水",
    }
    assert event.payload["prescriptions"] == [
        {"drug": "阿莫西林胶囊", "spec": "0.25g×24粒", "usage": "每次 2 粒", "quantity": "1 盒"}
    ]


def test_corrections_and_voids_name_the_original_serial() -> None:
    [correction] = parse_row(raw(LSH="ZT2", CZLX="1", YLSH="ZT202611260001"))
    [void] = parse_row(raw(LSH="ZT3", CZLX=2, YLSH="ZT202611260001", MX=None))

    assert (correction.kind, correction.target_event_id) == ("correction", "ZT202611260001")
    assert (void.kind, void.target_event_id) == ("void", "ZT202611260001")


def test_a_time_with_a_zone_is_kept_and_lower_case_column_names_are_read() -> None:
    row = {key.lower(): value for key, value in ROW.items()}
    row["fssj"] = "2026-11-26T01:12:30+00:00"
    [event] = parse_row(json.dumps(row, ensure_ascii=False))

    assert event.occurred_at == datetime(2026, 11, 26, 9, 12, 30, tzinfo=HIS_ZONE)


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        ("{not json", "malformed_json", "视图行不是合法的 JSON"),
        ("[1, 2]", "malformed_row", "视图行必须是“列名 → 值”的 JSON 对象"),
        (raw(JZHM="", FSSJ=None), "missing_field", "视图行缺少必填列：JZHM、FSSJ"),
        (
            raw(ZTDM="6"),
            "unknown_status",
            "流水号 ZT202611260001 的节点类型/状态代码 JDLX=02、ZTDM=6 不在对照表中",
        ),
        (
            raw(CZLX=3),
            "unknown_operation",
            "流水号 ZT202611260001 的操作类型 CZLX=3 无法识别（只能是 0 新增、1 更正、2 作废）",
        ),
        (
            raw(CZLX=2),
            "missing_original",
            "流水号 ZT202611260001 是更正或作废记录，但没有原流水号 YLSH",
        ),
        (
            raw(FSSJ="26/11/2026 09:12"),
            "bad_time",
            "流水号 ZT202611260001 的 FSSJ 不是时间（应为 yyyy-MM-dd HH:mm:ss）：26/11/2026 09:12",
        ),
        (raw(MX="{GHHM"), "malformed_detail", "流水号 ZT202611260001 的明细 MX 不是合法的 JSON"),
        (raw(MX="[1]"), "malformed_detail", "流水号 ZT202611260001 的明细 MX 必须是 JSON 对象"),
        (raw(JZHM="M" * 65), "field_too_long", "列 JZHM 超过 64 个字符"),
    ],
)
def test_rows_we_cannot_take_are_rejected_with_a_code_and_a_reason(
    text: str, code: str, reason: str
) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_row(text)

    assert caught.value.code == code
    assert caught.value.reason.startswith(reason)


def test_the_status_table_covers_every_status_and_agrees_with_the_vendor_dictionary() -> None:
    ours = {(node, status) for node, statuses in NODE_STATUSES.items() for status, _ in statuses}

    assert set(STATUS_TABLE.values()) == ours
    assert len(STATUS_TABLE) == len(ours)
    assert {codes: pair for pair, codes in VENDOR_CODES.items()} == STATUS_TABLE


def test_translate_maps_both_ways() -> None:
    spec = {"items": ("SFXM", {"name": "XMMC", "amount": "JE"}), "total": "ZJE"}
    ours = {"items": [{"name": "挂号费", "amount": "25.00"}], "total": "25.00"}
    theirs = {"SFXM": [{"XMMC": "挂号费", "JE": "25.00"}], "ZJE": "25.00"}

    assert translate(ours, spec, reverse=True) == theirs
    assert translate(theirs, spec) == ours
