"""Dialect B: the vendor JSON a HIS pushes to the platform, and its mapping onto ``HisEvent``.

The HIS posts one event, or a batch ``{"events": [event, ...]}`` (at most
``MAX_BATCH``), to ``POST /api/v1/his/push`` signed with the platform's SM2 request
scheme. One event::

    {
      "msgId": "MZ2026112600017-004",       vendor message id; a re-send keeps it
      "hospCode": "310106009",              institution code (机构编码)
      "eventType": "REG_PAID",              vendor event type, see STATUS_TABLE
      "action": "NEW",                      NEW | CORRECT | VOID (default NEW)
      "refMsgId": "",                       the msgId a CORRECT or VOID amends
      "visitNo": "MZ2026112600017",         就诊流水号
      "itemNo": "F1",                       charge / order / prescription number, if any
      "eventTime": "2026-11-26 09:30:00",   when it happened, Beijing time
      "createTime": "2026-11-26 09:30:01.250",  when the HIS created the message
      "patient": {"name": "张三", "idCard": "310106...", "cardNo": "0012345678"},
      "data": {"deptCode": "03", "deptName": "内科", "regFee": "25.00", ...}
    }

Times are ``yyyy-MM-dd HH:mm:ss`` (optionally ``.SSS``, up to microseconds) in Beijing time, as Chinese HIS
write them. ``data`` uses the vendor's field names (``FIELDS``); structured fields
(``emr``, ``recipes``, ``feeItems``, ``report``) have vendor names inside as well. Fields
we do not know are ignored; ``data.ext`` carries extension fields through unchanged.

A VOID may leave out ``eventType`` (it withdraws ``refMsgId`` whatever that was). Lab
and imaging share the node ``lab_exam``: the ``LIS_`` / ``PACS_`` prefix of the event
type gives the category (检验 / 检查).

Each problem raises ``MessageRejected`` with a stable code: ``malformed_json``,
``malformed_message``, ``empty``, ``too_many``, ``missing_field``,
``unknown_event_type``, ``unknown_action``, ``missing_reference``, ``bad_time``,
``malformed_event``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from jingan.integrations.his.port import EventKind, HisEvent, MessageRejected, PatientRef
from jingan.integrations.his.simulation import source_for

DIALECT = "B"
CHINA = timezone(timedelta(hours=8), "CST")
MAX_BATCH = 200
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The vendor's event types onto our (node, status). The one table of this dialect.
STATUS_TABLE: dict[str, tuple[str, str]] = {
    "APPT_BOOKED": ("appointment", "booked"),
    "APPT_CANCEL": ("appointment", "cancelled"),
    "APPT_NOSHOW": ("appointment", "no_show"),
    "APPT_TAKEN": ("appointment", "fulfilled"),
    "REG_UNPAID": ("registration", "unpaid"),
    "REG_PAID": ("registration", "registered"),
    "REG_REFUND": ("registration", "cancelled"),
    "SIGN_WAIT": ("check_in", "pending"),
    "SIGN_IN": ("check_in", "checked_in"),
    "QUEUE_UPDATE": ("waiting", "waiting"),
    "QUEUE_CALLED": ("waiting", "called"),
    "QUEUE_PASSED": ("waiting", "passed"),
    "DIAG_START": ("consultation", "in_progress"),
    "DIAG_END": ("consultation", "finished"),
    "FEE_UNPAID": ("payment", "unpaid"),
    "FEE_PAID": ("payment", "paid"),
    "FEE_REFUND": ("payment", "refunded"),
    "LIS_ORDER": ("lab_exam", "ordered"),
    "LIS_SAMPLED": ("lab_exam", "in_progress"),
    "LIS_REPORT": ("lab_exam", "reported"),
    "LIS_CANCEL": ("lab_exam", "cancelled"),
    "PACS_ORDER": ("lab_exam", "ordered"),
    "PACS_CHECKING": ("lab_exam", "in_progress"),
    "PACS_REPORT": ("lab_exam", "reported"),
    "PACS_CANCEL": ("lab_exam", "cancelled"),
    "DRUG_PREPARE": ("pharmacy", "preparing"),
    "DRUG_READY": ("pharmacy", "ready"),
    "DRUG_SENT": ("pharmacy", "dispensed"),
    "FOLLOWUP_SENT": ("follow_up", "pending"),
    "FOLLOWUP_DONE": ("follow_up", "completed"),
}
# Lab (LIS) and imaging (PACS) events: the prefix says which category.
CATEGORY_BY_PREFIX = {"LIS_": "检验", "PACS_": "检查"}

ACTIONS: dict[str, EventKind] = {
    "NEW": EventKind.EVENT,
    "CORRECT": EventKind.CORRECTION,
    "VOID": EventKind.VOID,
}

# Vendor ``data`` fields onto our payload keys (port.PAYLOAD_KEYS).
FIELDS: dict[str, str] = {
    "deptCode": "department_code",
    "deptName": "department_name",
    "doctorName": "doctor_name",
    "apptTime": "appointment_time",
    "apptPeriod": "period",
    "bookerName": "booked_by",
    "apptChannel": "channel",
    "apptNo": "appointment_no",
    "regNo": "registration_no",
    "regType": "registration_type",
    "regFee": "fee",
    "medicarePay": "insurance_paid",
    "selfPay": "self_paid",
    "payWay": "pay_mode",
    "settleTime": "settled_at",
    "signPlace": "location",
    "floorGuide": "floor_guide",
    "queueNo": "queue_no",
    "waitCount": "ahead",
    "roomName": "room",
    "emr": "record",
    "recipes": "prescriptions",
    "itemName": "item_name",
    "feeItems": "items",
    "totalFee": "total",
    "payTime": "paid_at",
    "execPlace": "location",
    "reportHint": "report_eta",
    "report": "report",
    "windowName": "window",
    "takeCode": "pickup_code",
    "drugs": "drugs",
    "questionnaire": "questionnaire",
    "dueDate": "due_date",
    "answers": "answers",
}
# Fields whose vendor value is a ``yyyy-MM-dd HH:mm:ss`` time (ISO 8601 in our payload).
TIME_FIELDS = frozenset({"apptTime", "settleTime", "payTime"})
# Inside the structured fields: vendor names onto ours.
EMR_FIELDS = {"chiefComplaint": "complaint", "diagnosisName": "diagnosis", "doctorAdvice": "advice"}
RECIPE_FIELDS = {"drugName": "drug", "drugSpec": "spec", "usage": "usage", "quantity": "quantity"}
FEE_ITEM_FIELDS = {"itemName": "name", "amount": "amount"}
RESULT_FIELDS = {
    "itemName": "name",
    "result": "value",
    "unit": "unit",
    "refRange": "range",
    "abnormalFlag": "flag",
}
EXTENSION = "ext"

REQUIRED = ("msgId", "hospCode", "visitNo", "eventTime")


# -- vendor JSON -> HisEvent -------------------------------------------------------------


def parse_push(raw: str) -> list[HisEvent]:
    """The events of one pushed message (one event or ``{"events": [...]}``)."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise MessageRejected("malformed_json", f"请求体不是合法的 JSON：{error}") from None
    if not isinstance(data, dict):
        raise MessageRejected("malformed_message", '请求体应为一个事件对象或 {"events": [...]}')
    if "events" in data:
        items = data["events"]
        if not isinstance(items, list):
            raise MessageRejected("malformed_message", "events 必须是事件数组")
        if not items:
            raise MessageRejected("empty", "events 中没有事件")
        if len(items) > MAX_BATCH:
            raise MessageRejected(
                "too_many", f"一次最多推送 {MAX_BATCH} 个事件，本次 {len(items)} 个"
            )
        return [_event(item, f"第 {index} 个事件") for index, item in enumerate(items, start=1)]
    return [_event(data, "事件")]


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MessageRejected("malformed_event", f"字段 {key} 应为字符串")
    return str(value).strip()


def parse_time(value: str) -> datetime:
    """A vendor time (``yyyy-MM-dd HH:mm:ss[.SSS]``, Beijing) as an aware datetime."""
    for pattern in (TIME_FORMAT, TIME_FORMAT + ".%f"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=CHINA)
        except ValueError:
            continue
    raise ValueError(value)


def _event(item: Any, where: str) -> HisEvent:
    if not isinstance(item, dict):
        raise MessageRejected("malformed_event", f"{where}不是 JSON 对象")
    try:
        return _checked_event(item, where)
    except MessageRejected as error:
        if error.reason.startswith(where):
            raise
        raise MessageRejected(error.code, f"{where}：{error.reason}") from None


def _checked_event(item: dict[str, Any], where: str) -> HisEvent:
    fields = {key: _text(item, key) for key in (*REQUIRED, "eventType", "action", "refMsgId")}
    action = (fields["action"] or "NEW").upper()
    kind = ACTIONS.get(action)
    if kind is None:
        raise MessageRejected(
            "unknown_action", f"action 只能是 NEW、CORRECT 或 VOID，收到 {action}"
        )
    required = list(REQUIRED) if kind == EventKind.VOID else [*REQUIRED, "eventType"]
    missing = [key for key in required if not fields[key]]
    if missing:
        raise MessageRejected("missing_field", f"缺少字段：{', '.join(missing)}")
    if kind != EventKind.EVENT and not fields["refMsgId"]:
        raise MessageRejected("missing_reference", f"{action} 事件须用 refMsgId 指明原消息")
    event_type = fields["eventType"].upper()
    node, status = "", ""
    if event_type:
        if event_type not in STATUS_TABLE:
            raise MessageRejected("unknown_event_type", f"未知的事件类型 {event_type[:40]}")
        node, status = STATUS_TABLE[event_type]
    try:
        occurred_at = parse_time(fields["eventTime"])
    except ValueError:
        raise MessageRejected(
            "bad_time", f"eventTime 应为 yyyy-MM-dd HH:mm:ss，收到 {fields['eventTime'][:40]}"
        ) from None
    created = _text(item, "createTime")
    try:
        emitted_at = parse_time(created) if created else None
    except ValueError:
        raise MessageRejected(
            "bad_time", f"createTime 应为 yyyy-MM-dd HH:mm:ss.SSS，收到 {created[:40]}"
        ) from None
    patient = item.get("patient") or {}
    data = item.get("data") or {}
    if not isinstance(patient, dict) or not isinstance(data, dict):
        raise MessageRejected("malformed_event", "patient 与 data 必须是 JSON 对象")
    payload = _payload(data)
    category = next(
        (name for prefix, name in CATEGORY_BY_PREFIX.items() if event_type.startswith(prefix)), ""
    )
    if category:
        payload["category"] = category
    code = fields["hospCode"]
    try:
        return HisEvent(
            source=source_for(DIALECT, code),
            source_event_id=fields["msgId"][:128],
            institution_code=code,
            visit_key=fields["visitNo"][:64],
            node=node,
            status=status,
            occurred_at=occurred_at,
            item=_text(item, "itemNo")[:64],
            kind=kind,
            target_event_id=fields["refMsgId"][:128],
            patient=PatientRef(
                name=_text(patient, "name"),
                id_number=_text(patient, "idCard").upper(),
                card_number=_text(patient, "cardNo"),
            ),
            payload=payload,
            emitted_at=emitted_at,
        )
    except ValueError as error:
        raise MessageRejected("malformed_event", str(error)) from None


def _payload(data: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for vendor, value in data.items():
        key = FIELDS.get(vendor)
        if key is None or value is None:
            continue
        convert = _DECODERS.get(vendor)
        payload[key] = convert(value, vendor) if convert else value
    extension = data.get(EXTENSION)
    if extension is not None:
        if not isinstance(extension, dict):
            raise MessageRejected("malformed_event", "data.ext 必须是 JSON 对象")
        for key, value in extension.items():
            payload.setdefault(str(key), value)
    return payload


def _decode_time(value: Any, vendor: str) -> Any:
    if not isinstance(value, str):
        raise MessageRejected("malformed_event", f"data.{vendor} 应为时间字符串")
    try:
        return parse_time(value).isoformat()
    except ValueError:
        # Free text ("上午") is kept as the HIS wrote it; the page shows it as is.
        return value


def _decode_count(value: Any, vendor: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MessageRejected("malformed_event", f"data.{vendor} 应为非负整数")
    try:
        number = int(value)
    except ValueError:
        raise MessageRejected("malformed_event", f"data.{vendor} 应为非负整数") from None
    if number < 0:
        raise MessageRejected("malformed_event", f"data.{vendor} 应为非负整数")
    return number


def _renamed(value: Any, names: Mapping[str, str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageRejected("malformed_event", f"{where} 应为 JSON 对象")
    return {names.get(key, key): item for key, item in value.items()}


def _renamed_list(value: Any, names: Mapping[str, str], where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise MessageRejected("malformed_event", f"{where} 应为数组")
    return [_renamed(item, names, f"{where}[{index}]") for index, item in enumerate(value)]


def _decode_report(value: Any, vendor: str) -> dict[str, Any]:
    report = _renamed(value, {}, f"data.{vendor}")
    if "items" in report:
        report["items"] = _renamed_list(report["items"], RESULT_FIELDS, f"data.{vendor}.items")
    return report


_DECODERS: dict[str, Callable[[Any, str], Any]] = {
    **dict.fromkeys(TIME_FIELDS, _decode_time),
    "waitCount": _decode_count,
    "emr": lambda value, vendor: _renamed(value, EMR_FIELDS, f"data.{vendor}"),
    "recipes": lambda value, vendor: _renamed_list(value, RECIPE_FIELDS, f"data.{vendor}"),
    "feeItems": lambda value, vendor: _renamed_list(value, FEE_ITEM_FIELDS, f"data.{vendor}"),
    "report": _decode_report,
}


# -- HisEvent -> vendor JSON (what the simulator sends) ----------------------------------


def event_type_for(node: str, status: str, category: str = "") -> str:
    """The vendor event type of ``(node, status)``; lab/imaging by ``category``."""
    prefix = "PACS_" if category == CATEGORY_BY_PREFIX["PACS_"] else "LIS_"
    for event_type, mapped in STATUS_TABLE.items():
        if mapped != (node, status):
            continue
        if node != "lab_exam" or event_type.startswith(prefix):
            return event_type
    raise KeyError(f"no vendor event type for {node}/{status}")


def format_time(moment: datetime, *, milliseconds: bool = False) -> str:
    """A vendor time in Beijing time; a fraction (to the microsecond) only when it matters."""
    local = moment.astimezone(CHINA)
    text = local.strftime(TIME_FORMAT)
    if milliseconds or local.microsecond:
        digits = f"{local.microsecond:06d}".rstrip("0")
        text += "." + digits.ljust(3, "0")
    return text


_VENDOR_NAMES: dict[str, str] = {}
for _vendor, _key in FIELDS.items():
    _VENDOR_NAMES.setdefault(_key, _vendor)
# ``location`` is the check-in place (signPlace) except at the lab, where it is execPlace.
_NODE_VENDOR_NAMES: dict[str, dict[str, str]] = {"lab_exam": {"location": "execPlace"}}


def encode_push(event: HisEvent, *, created_at: datetime | None = None) -> dict[str, Any]:
    """The vendor JSON object of ``event``, as the HIS would push it."""
    category = str(event.payload.get("category") or "")
    body: dict[str, Any] = {
        "msgId": event.source_event_id,
        "hospCode": event.institution_code,
        "action": next(name for name, kind in ACTIONS.items() if kind == event.kind),
        "visitNo": event.visit_key,
        "eventTime": format_time(event.occurred_at),
    }
    try:
        body["eventType"] = event_type_for(event.node, event.status, category)
    except KeyError:
        if event.kind != EventKind.VOID:
            raise
    if event.target_event_id:
        body["refMsgId"] = event.target_event_id
    if event.item:
        body["itemNo"] = event.item
    created = created_at or event.emitted_at
    if created is not None:
        body["createTime"] = format_time(created, milliseconds=True)
    patient = {
        name: value
        for name, value in (
            ("name", event.patient.name),
            ("idCard", event.patient.id_number),
            ("cardNo", event.patient.card_number),
        )
        if value
    }
    if patient:
        body["patient"] = patient
    data: dict[str, Any] = {}
    extension: dict[str, Any] = {}
    for key, value in event.payload.items():
        if key == "category" and event.node == "lab_exam":
            continue  # carried by the event type's prefix
        vendor = _NODE_VENDOR_NAMES.get(event.node, {}).get(key) or _VENDOR_NAMES.get(key)
        if vendor is None:
            extension[key] = value
            continue
        data[vendor] = _encode_value(vendor, value)
    if extension:
        data[EXTENSION] = extension
    body["data"] = data
    return body


def _encode_value(vendor: str, value: Any) -> Any:
    if vendor in TIME_FIELDS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:
            return value
        return format_time(moment)
    if vendor == "emr" and isinstance(value, dict):
        return _reverse(value, EMR_FIELDS)
    if vendor == "recipes" and isinstance(value, list):
        return [_reverse(item, RECIPE_FIELDS) for item in value]
    if vendor == "feeItems" and isinstance(value, list):
        return [_reverse(item, FEE_ITEM_FIELDS) for item in value]
    if vendor == "report" and isinstance(value, dict):
        report = dict(value)
        if isinstance(report.get("items"), list):
            report["items"] = [_reverse(item, RESULT_FIELDS) for item in report["items"]]
        return report
    return value


def _reverse(value: Any, names: Mapping[str, str]) -> Any:
    if not isinstance(value, dict):
        return value
    back = {ours: vendor for vendor, ours in names.items()}
    return {back.get(key, key): item for key, item in value.items()}


def push_body(events: list[dict[str, Any]]) -> str:
    """The request body for encoded events: one object, or ``{"events": [...]}`` for several."""
    body: Any = events[0] if len(events) == 1 else {"events": events}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
