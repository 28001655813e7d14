"""Dialect D codec: one row of the HIS view ``V_PT_JZZT`` (就诊状态) → our events.

The view has one row per status change of an outpatient visit, as the HIS's interface
log records it (column names are the vendor's pinyin abbreviations)::

    LSH   流水号 (serial, unique: the event id)     JGDM  机构代码
    JZHM  就诊号码 (the HIS visit number)           JDLX  节点类型 (vendor code)
    ZTDM  状态代码 (vendor code, per JDLX)          XMBH  项目编号 (order, charge, Rx no.)
    FSSJ  发生时间 (local time, no zone)            GXSJ  更新时间 (when the row was written)
    CZLX  操作类型 0 新增 / 1 更正 / 2 作废         YLSH  原流水号 (the row corrected/voided)
    XM, SFZH, KH  patient name, ID number, card    KSDM, KSMC, YSXM  department, doctor
    MX    明细 (JSON text: the node's details under vendor keys, see ``NODE_DETAILS``)

Cancels arrive as rows too (a status such as 退号, or ``CZLX=2`` voiding an earlier row),
never as deletes. The adapter hands each row over as JSON text (column → value), so a row
we cannot take is kept whole and can be replayed after a fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from jingan.integrations.his.port import EventKind, HisEvent, MessageRejected, PatientRef
from jingan.integrations.his.simulation import source_for

__all__ = [
    "COLUMNS",
    "COMMON_DETAILS",
    "HIS_ZONE",
    "NODE_DETAILS",
    "OPERATION_KINDS",
    "STATUS_TABLE",
    "his_time",
    "parse_row",
    "translate",
]

# HIS databases keep local wall-clock time without a zone.
HIS_ZONE = ZoneInfo("Asia/Shanghai")

# The view's columns, in the order the adapter selects them.
COLUMNS: tuple[str, ...] = (
    "LSH",
    "JGDM",
    "JZHM",
    "JDLX",
    "ZTDM",
    "XMBH",
    "FSSJ",
    "GXSJ",
    "CZLX",
    "YLSH",
    "XM",
    "SFZH",
    "KH",
    "KSDM",
    "KSMC",
    "YSXM",
    "MX",
)

# (JDLX 节点类型, ZTDM 状态代码) → (our node, our status). The one table of this dialect.
STATUS_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("01", "0"): ("appointment", "booked"),  # 预约 已预约
    ("01", "1"): ("appointment", "fulfilled"),  # 已取号
    ("01", "7"): ("appointment", "cancelled"),  # 取消预约
    ("01", "9"): ("appointment", "no_show"),  # 爽约
    ("02", "0"): ("registration", "unpaid"),  # 挂号 待支付
    ("02", "1"): ("registration", "registered"),  # 正常挂号
    ("02", "7"): ("registration", "cancelled"),  # 退号
    ("03", "0"): ("check_in", "pending"),  # 签到 未签到
    ("03", "1"): ("check_in", "checked_in"),  # 已签到
    ("04", "0"): ("waiting", "waiting"),  # 候诊 候诊中
    ("04", "1"): ("waiting", "called"),  # 已叫号
    ("04", "2"): ("waiting", "passed"),  # 过号
    ("05", "5"): ("consultation", "in_progress"),  # 就诊 接诊
    ("05", "8"): ("consultation", "finished"),  # 诊毕
    ("06", "0"): ("payment", "unpaid"),  # 收费 未收费
    ("06", "1"): ("payment", "paid"),  # 已收费
    ("06", "2"): ("payment", "refunded"),  # 已退费
    ("07", "0"): ("lab_exam", "ordered"),  # 医技 已开单
    ("07", "1"): ("lab_exam", "in_progress"),  # 检查中
    ("07", "2"): ("lab_exam", "reported"),  # 已出报告
    ("07", "7"): ("lab_exam", "cancelled"),  # 作废
    ("08", "0"): ("pharmacy", "preparing"),  # 药房 配药中
    ("08", "1"): ("pharmacy", "ready"),  # 配药完成待取
    ("08", "2"): ("pharmacy", "dispensed"),  # 已发药
    ("09", "0"): ("follow_up", "pending"),  # 随访 待随访
    ("09", "1"): ("follow_up", "completed"),  # 已完成
}

# CZLX 操作类型 → event kind.
OPERATION_KINDS: dict[str, str] = {
    "0": EventKind.EVENT,
    "1": EventKind.CORRECTION,
    "2": EventKind.VOID,
}

# Our payload key → the vendor's key in MX; ``(key, spec)`` for an object or a list of
# objects whose keys are mapped by ``spec`` in turn. Keys the table does not name are
# not ours to guess at: they are left out.
DetailSpec: TypeAlias = Mapping[str, "str | tuple[str, DetailSpec]"]

NODE_DETAILS: dict[str, DetailSpec] = {
    "appointment": {
        "appointment_time": "YYSJ",  # 预约时间
        "period": "SJD",  # 时间段（上午/下午）
        "booked_by": "YYR",  # 预约人
        "channel": "YYQD",  # 预约渠道
        "appointment_no": "YYH",  # 预约号
    },
    "registration": {
        "registration_no": "GHHM",  # 挂号号码
        "registration_type": "GHLB",  # 挂号类别
        "fee": "GHJE",  # 挂号金额
        "insurance_paid": "YBZF",  # 医保支付
        "self_paid": "GRZF",  # 个人支付
        "pay_mode": "ZFFS",  # 支付方式
        "settled_at": "JSSJ",  # 结算时间
    },
    "check_in": {"location": "JZDD", "floor_guide": "LCZY"},  # 就诊地点, 楼层指引
    "waiting": {"queue_no": "PDHM", "ahead": "QMRS", "room": "ZSMC"},  # 排队号, 前面人数, 诊室
    "consultation": {
        "room": "ZSMC",
        "record": ("BL", {"complaint": "ZS", "diagnosis": "ZD", "advice": "CLYJ"}),  # 病历
        "prescriptions": (  # 处方
            "CF",
            {"drug": "YPMC", "spec": "GG", "usage": "YF", "quantity": "SL"},
        ),
    },
    "payment": {
        "item_name": "SFLB",  # 收费类别
        "items": ("SFXM", {"name": "XMMC", "amount": "JE"}),  # 收费项目
        "total": "ZJE",  # 总金额
        "pay_mode": "ZFFS",
        "paid_at": "ZFSJ",  # 支付时间
    },
    "lab_exam": {
        "category": "LB",  # 类别（检验/检查）
        "item_name": "XMMC",  # 项目名称
        "location": "JCDD",  # 检查地点
        "report_eta": "YJCBGSJ",  # 预计出报告时间
        "report": (  # 报告
            "BG",
            {
                "items": (
                    "JGMX",  # 结果明细
                    {"name": "XMMC", "value": "JG", "unit": "DW", "range": "CKFW", "flag": "YCBZ"},
                ),
                "conclusion": "JL",  # 结论
            },
        ),
    },
    "pharmacy": {"window": "FYCK", "pickup_code": "QYM", "drugs": "YPMC"},  # 发药窗口, 取药码
    "follow_up": {
        "questionnaire": (
            "WJ",
            {"title": "BT", "questions": ("TM", {"text": "NR", "options": "XX"})},
        ),
        "due_date": "YQWCRQ",  # 要求完成日期
        "answers": "DA",  # 答案
    },
}

# View columns that fill the payload keys every node shares.
COMMON_DETAILS: dict[str, str] = {
    "department_code": "KSDM",
    "department_name": "KSMC",
    "doctor_name": "YSXM",
}

_LIMITS = {"LSH": 128, "JZHM": 64, "XMBH": 64, "YLSH": 128, "JGDM": 32}


def parse_row(raw: str) -> list[HisEvent]:
    """The event of one view row (JSON text: column → value); ``MessageRejected`` if unusable."""
    try:
        row = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise MessageRejected("malformed_json", f"视图行不是合法的 JSON：{error}") from None
    if not isinstance(row, dict):
        raise MessageRejected("malformed_row", "视图行必须是“列名 → 值”的 JSON 对象")
    row = {str(key).upper(): value for key, value in row.items()}
    missing = [
        column
        for column in ("LSH", "JGDM", "JZHM", "JDLX", "ZTDM", "FSSJ")
        if _text(row.get(column)) == ""
    ]
    if missing:
        raise MessageRejected("missing_field", f"视图行缺少必填列：{'、'.join(missing)}")
    for column, limit in _LIMITS.items():
        if len(_text(row.get(column))) > limit:
            raise MessageRejected("field_too_long", f"列 {column} 超过 {limit} 个字符")
    serial = _text(row["LSH"])
    operation = _text(row.get("CZLX")) or "0"
    kind = OPERATION_KINDS.get(operation)
    if kind is None:
        raise MessageRejected(
            "unknown_operation",
            f"流水号 {serial} 的操作类型 CZLX={operation} 无法识别（只能是 0 新增、1 更正、2 作废）",
        )
    original = _text(row.get("YLSH"))
    if kind != EventKind.EVENT and not original:
        raise MessageRejected(
            "missing_original", f"流水号 {serial} 是更正或作废记录，但没有原流水号 YLSH"
        )
    node_type, status_code = _text(row["JDLX"]), _text(row["ZTDM"])
    mapped = STATUS_TABLE.get((node_type, status_code))
    if mapped is None:
        raise MessageRejected(
            "unknown_status",
            f"流水号 {serial} 的节点类型/状态代码 JDLX={node_type}、ZTDM={status_code} 不在对照表中",
        )
    node, status = mapped
    occurred_at = _time(row["FSSJ"], "FSSJ", serial)
    updated = row.get("GXSJ")
    emitted_at = _time(updated, "GXSJ", serial) if _text(updated) else None
    payload = {
        key: _text(row.get(column))
        for key, column in COMMON_DETAILS.items()
        if _text(row.get(column))
    }
    payload.update(_details(node, row.get("MX"), serial))
    code = _text(row["JGDM"])
    return [
        HisEvent(
            source=source_for("D", code),
            source_event_id=serial,
            institution_code=code,
            visit_key=_text(row["JZHM"]),
            node=node,
            status=status,
            occurred_at=occurred_at,
            item=_text(row.get("XMBH")),
            kind=kind,
            target_event_id=original if kind != EventKind.EVENT else "",
            patient=PatientRef(
                name=_text(row.get("XM")),
                id_number=_text(row.get("SFZH")),
                card_number=_text(row.get("KH")),
            ),
            payload=payload,
            emitted_at=emitted_at,
        )
    ]


def his_time(moment: datetime) -> str:
    """How a HIS stores a time: local wall clock to the microsecond, no zone."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(HIS_ZONE).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _time(value: Any, column: str, serial: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_text(value))
    except ValueError:
        raise MessageRejected(
            "bad_time",
            f"流水号 {serial} 的 {column} 不是时间（应为 yyyy-MM-dd HH:mm:ss）：{_text(value)[:40]}",
        ) from None
    # A zone-less time is the HIS's local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=HIS_ZONE)


def _details(node: str, value: Any, serial: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise MessageRejected(
                "malformed_detail", f"流水号 {serial} 的明细 MX 不是合法的 JSON：{error}"
            ) from None
    if not isinstance(value, dict):
        raise MessageRejected("malformed_detail", f"流水号 {serial} 的明细 MX 必须是 JSON 对象")
    mapped = translate(value, NODE_DETAILS.get(node, {}))
    return mapped if isinstance(mapped, dict) else {}


def translate(value: Any, spec: DetailSpec, *, reverse: bool = False) -> Any:
    """Map the keys of ``value`` (an object or a list of objects) by ``spec``.

    Vendor keys → ours by default; ``reverse`` maps ours → the vendor's (the simulator,
    playing the HIS, writes with it).
    """
    if isinstance(value, list):
        return [translate(element, spec, reverse=reverse) for element in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for ours, rule in spec.items():
        theirs, nested = (rule, None) if isinstance(rule, str) else rule
        source_key, target_key = (ours, theirs) if reverse else (theirs, ours)
        if source_key not in value:
            continue
        element = value[source_key]
        result[target_key] = (
            translate(element, nested, reverse=reverse) if nested is not None else element
        )
    return result
