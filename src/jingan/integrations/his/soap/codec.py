"""Dialect C: one published HL7 v3 message (互联互通, WS/T 447 style) <-> one ``HisEvent``.

The HIS publishes a message per status change; the platform reads them from the HIS's
message log with ``MessageQuery`` (see ``wire``) and parses each with ``parse_record``
(also used to replay a kept record). A message::

    <PRPA_IN400001UV xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">
      <id root="2.16.156.10011.2.5.1.1" extension="{message id}"/>
      <creationTime value="20261126093001.250"/>          when the HIS created it
      <interactionId root="2.16.156.10011.2.5.1.2" extension="PRPA_IN400001UV"/>
      <processingCode code="P"/> <processingModeCode/> <acceptAckCode code="AL"/>
      <receiver typeCode="RCV"><device ...><id><item root="2.16.156.10011.2.5.1.3"
          extension="JINGAN-PLATFORM"/></id></device></receiver>
      <sender typeCode="SND"><device ...><id><item root="2.16.156.10011.2.5.1.3"
          extension="{institution code}"/></id></device></sender>
      [<relatesTo typeCode="RPLC"><id root="2.16.156.10011.2.5.1.1" extension="{earlier id}"/></relatesTo>]
      <controlActProcess classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ">
        <encounterEvent classCode="ENC" moodCode="EVN">
          <id><item root="2.16.156.10011.1.11" extension="{visit no.}"/></id>
          <code code="1" codeSystemName="就诊状态" displayName="已挂号"/>
          <statusCode code="active"/>
          <effectiveTime value="20261126093000"/>             when it happened
          <subject typeCode="SBJ"><patient classCode="PAT"><id>
            <item root="2.16.156.10011.1.3" extension="{ID number}"/>
            <item root="2.16.156.10011.1.19" extension="{card no.}"/></id>
            <patientPerson><name>张三</name></patientPerson></patient></subject>
          <performer typeCode="PRF"><assignedEntity><assignedPerson><name>陈立新</name>
            </assignedPerson></assignedEntity></performer>
          <location typeCode="LOC"><serviceDeliveryLocation><id><item
            root="2.16.156.10011.1.26" extension="03"/></id><name>内科</name>
            </serviceDeliveryLocation></location>
          <inFulfillmentOf typeCode="FLFS"><order><id><item root="2.16.156.10011.1.28"
            extension="{charge/order/prescription no.}"/></id></order></inFulfillmentOf>
          <pertinentInformation typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
            <code code="QUEUE_NO"/><value xsi:type="ST" value="03-017"/></observation>
          </pertinentInformation> ...
        </encounterEvent></subject></controlActProcess>
    </PRPA_IN400001UV>

The action (which service published it) follows from the interaction id through
``ACTIONS``, kept here as configuration because interaction ids drift between projects.
Status codes are per action's code set, mapped by the one ``STATUS_TABLE``; updates use
their Add's codes; 检验 (Exam) and 检查 (Check) give the lab category.

Corrections and voids: a message with ``<relatesTo typeCode="RPLC">`` naming an earlier
message id replaces that message (a correction; appointments and registrations use
their ``...Update`` action for it). ``statusCode nullified`` (v3: entered in error) with
``relatesTo`` withdraws it (a void). ``aborted`` and ``cancelled`` are ordinary act
statuses, not voids: a cancelled registration is the status code ``7`` (退号).

Details are ``pertinentInformation`` observations, one per payload key (``FIELD_CODES``;
an unknown code keeps its own name). Values: ``ST``, ``INT``, ``REAL``, ``BL``, and
structured details (EMR, prescriptions, charge lines, reports, questionnaires) as ``ED``
with ``mediaType="application/json"``, as this vendor carries non-standard extensions.

Rejection codes: ``malformed_xml``, ``unsafe_xml``, ``unknown_interaction``,
``missing_field``, ``unknown_status``, ``bad_status_code``, ``missing_reference``,
``bad_time``, ``malformed_event``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from jingan.integrations.his.port import (
    EventKind,
    HisEvent,
    MessageRejected,
    PatientRef,
    status_label,
)
from jingan.integrations.his.simulation import source_for
from jingan.integrations.his.soap.xmlsafe import (
    UnsafeXml,
    attribute,
    element,
    format_ts,
    parse_ts,
    parse_xml,
    serialize,
    sub,
    text_of,
)

DIALECT = "C"
OID_MESSAGE_ID = "2.16.156.10011.2.5.1.1"
OID_INTERACTION = "2.16.156.10011.2.5.1.2"
OID_DEVICE = "2.16.156.10011.2.5.1.3"
OID_ID_CARD = "2.16.156.10011.1.3"
# The outpatient number, card, department and order roots below follow the national
# 2.16.156.10011.1.* identifier tree; the exact leaves are this vendor's choice.
OID_OUTPATIENT_NO = "2.16.156.10011.1.11"
OID_CARD_NO = "2.16.156.10011.1.19"
OID_DEPARTMENT = "2.16.156.10011.1.26"
OID_ORDER = "2.16.156.10011.1.28"
PLATFORM_DEVICE = "JINGAN-PLATFORM"

# Action -> interaction id (configuration: ids drift between projects). The first seven
# are the 互联互通 services; the VND_ ones are this vendor's own, for what the standard
# services do not carry (queue and check-in, follow-up) and for reading its message log.
ACTIONS: dict[str, str] = {
    "OutPatientAppointStatusInfoAdd": "PRPA_IN410001UV",
    "OutPatientAppointStatusInfoUpdate": "PRPA_IN410002UV",
    "OutPatientInfoAdd": "PRPA_IN400001UV",
    "OutPatientInfoUpdate": "PRPA_IN400002UV",
    "ExamStatusInfoUpdate": "POLB_IN224000UV01",
    "CheckStatusInfoUpdate": "POOR_IN200902UV",
    "OrderFillerStatusInfoUpdate": "POOR_IN200901UV",
    "VendorQueueStatusInfoUpdate": "VND_IN100001UV",
    "VendorFollowUpStatusInfoUpdate": "VND_IN100002UV",
    "MessageQuery": "VND_IN900300UV",
}
ACTION_BY_INTERACTION: dict[str, str] = {
    interaction: action for action, interaction in ACTIONS.items()
}
assert len(ACTION_BY_INTERACTION) == len(ACTIONS), "interaction ids must be unique"

# An Update reads the status codes of its Add.
CODES_OF: dict[str, str] = {
    "OutPatientAppointStatusInfoUpdate": "OutPatientAppointStatusInfoAdd",
    "OutPatientInfoUpdate": "OutPatientInfoAdd",
}
CODE_SET_NAMES: dict[str, str] = {
    "OutPatientAppointStatusInfoAdd": "门诊预约状态",
    "OutPatientInfoAdd": "就诊状态",
    "ExamStatusInfoUpdate": "检验状态",
    "CheckStatusInfoUpdate": "检查状态",
    "OrderFillerStatusInfoUpdate": "医嘱执行状态",
    "VendorQueueStatusInfoUpdate": "排队状态",
    "VendorFollowUpStatusInfoUpdate": "随访状态",
}

# (action whose codes these are, vendor status code) -> our (node, status). The one table.
STATUS_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    # HL7 table 0278 filler statuses, as the appointment service sends them.
    ("OutPatientAppointStatusInfoAdd", "Booked"): ("appointment", "booked"),
    ("OutPatientAppointStatusInfoAdd", "Cancelled"): ("appointment", "cancelled"),
    ("OutPatientAppointStatusInfoAdd", "Noshow"): ("appointment", "no_show"),
    ("OutPatientAppointStatusInfoAdd", "Complete"): ("appointment", "fulfilled"),
    # 就诊状态: 0 待缴挂号费, 1 正常挂号, 7 退号, 5 接诊, 8 诊毕.
    ("OutPatientInfoAdd", "0"): ("registration", "unpaid"),
    ("OutPatientInfoAdd", "1"): ("registration", "registered"),
    ("OutPatientInfoAdd", "7"): ("registration", "cancelled"),
    ("OutPatientInfoAdd", "5"): ("consultation", "in_progress"),
    ("OutPatientInfoAdd", "8"): ("consultation", "finished"),
    # 检验: 1 已申请, 2 已采样, 3 已出报告, 9 已撤销.
    ("ExamStatusInfoUpdate", "1"): ("lab_exam", "ordered"),
    ("ExamStatusInfoUpdate", "2"): ("lab_exam", "in_progress"),
    ("ExamStatusInfoUpdate", "3"): ("lab_exam", "reported"),
    ("ExamStatusInfoUpdate", "9"): ("lab_exam", "cancelled"),
    # 检查: 1 已申请, 2 检查中, 3 已出报告, 9 已撤销.
    ("CheckStatusInfoUpdate", "1"): ("lab_exam", "ordered"),
    ("CheckStatusInfoUpdate", "2"): ("lab_exam", "in_progress"),
    ("CheckStatusInfoUpdate", "3"): ("lab_exam", "reported"),
    ("CheckStatusInfoUpdate", "9"): ("lab_exam", "cancelled"),
    # 医嘱执行状态: charges (FEE) and dispensing (DRUG).
    ("OrderFillerStatusInfoUpdate", "FEE0"): ("payment", "unpaid"),
    ("OrderFillerStatusInfoUpdate", "FEE1"): ("payment", "paid"),
    ("OrderFillerStatusInfoUpdate", "FEE9"): ("payment", "refunded"),
    ("OrderFillerStatusInfoUpdate", "DRUG1"): ("pharmacy", "preparing"),
    ("OrderFillerStatusInfoUpdate", "DRUG2"): ("pharmacy", "ready"),
    ("OrderFillerStatusInfoUpdate", "DRUG3"): ("pharmacy", "dispensed"),
    # 排队状态: 01 待签到, 02 已签到, 03 候诊中, 04 已叫号, 05 过号.
    ("VendorQueueStatusInfoUpdate", "01"): ("check_in", "pending"),
    ("VendorQueueStatusInfoUpdate", "02"): ("check_in", "checked_in"),
    ("VendorQueueStatusInfoUpdate", "03"): ("waiting", "waiting"),
    ("VendorQueueStatusInfoUpdate", "04"): ("waiting", "called"),
    ("VendorQueueStatusInfoUpdate", "05"): ("waiting", "passed"),
    # 随访状态: 01 待填写, 02 已完成.
    ("VendorFollowUpStatusInfoUpdate", "01"): ("follow_up", "pending"),
    ("VendorFollowUpStatusInfoUpdate", "02"): ("follow_up", "completed"),
}
CATEGORY_BY_ACTION = {"ExamStatusInfoUpdate": "检验", "CheckStatusInfoUpdate": "检查"}

# Which action publishes each node (lab: by category; corrections of the first two nodes'
# messages use the Update action).
ACTION_BY_NODE: dict[str, str] = {
    "appointment": "OutPatientAppointStatusInfoAdd",
    "registration": "OutPatientInfoAdd",
    "consultation": "OutPatientInfoAdd",
    "check_in": "VendorQueueStatusInfoUpdate",
    "waiting": "VendorQueueStatusInfoUpdate",
    "payment": "OrderFillerStatusInfoUpdate",
    "pharmacy": "OrderFillerStatusInfoUpdate",
    "follow_up": "VendorFollowUpStatusInfoUpdate",
}
UPDATE_OF: dict[str, str] = {add: update for update, add in CODES_OF.items()}

# Payload keys onto the vendor's observation codes (department and doctor are carried
# by location and performer).
FIELD_CODES: dict[str, str] = {
    "appointment_time": "APPT_TIME",
    "period": "APPT_PERIOD",
    "booked_by": "BOOKER",
    "channel": "APPT_CHANNEL",
    "appointment_no": "APPT_NO",
    "registration_no": "REG_NO",
    "registration_type": "REG_TYPE",
    "fee": "REG_FEE",
    "insurance_paid": "MEDICARE_PAY",
    "self_paid": "SELF_PAY",
    "pay_mode": "PAY_MODE",
    "settled_at": "SETTLE_TIME",
    "location": "PLACE",
    "floor_guide": "FLOOR_GUIDE",
    "queue_no": "QUEUE_NO",
    "ahead": "WAIT_COUNT",
    "room": "ROOM",
    "record": "EMR",
    "prescriptions": "RECIPES",
    "item_name": "ITEM_NAME",
    "items": "FEE_ITEMS",
    "total": "TOTAL_FEE",
    "paid_at": "PAY_TIME",
    "category": "CATEGORY",
    "report_eta": "REPORT_HINT",
    "report": "REPORT",
    "window": "WINDOW",
    "pickup_code": "TAKE_CODE",
    "drugs": "DRUGS",
    "questionnaire": "QUESTIONNAIRE",
    "due_date": "DUE_DATE",
    "answers": "ANSWERS",
}
KEY_BY_CODE: dict[str, str] = {code: key for key, code in FIELD_CODES.items()}
STRUCTURAL_KEYS = frozenset({"department_code", "department_name", "doctor_name"})
ACT_STATUSES = frozenset(
    {"new", "active", "held", "suspended", "completed", "cancelled", "aborted", "nullified"}
)


# -- v3 message -> HisEvent ----------------------------------------------------------------


def parse_record(raw: str) -> list[HisEvent]:
    """The event of one published v3 message (a list of one)."""
    try:
        root = parse_xml(raw)
    except UnsafeXml:
        raise MessageRejected("unsafe_xml", "消息含 DOCTYPE 或实体声明，出于安全原因拒收") from None
    except ET.ParseError as error:
        raise MessageRejected("malformed_xml", f"消息不是格式正确的 XML：{error}") from None
    return [_event(root)]


def _required(value: str, what: str) -> str:
    if not value:
        raise MessageRejected("missing_field", f"消息缺少{what}")
    return value


def _time(element: ET.Element | None, what: str) -> datetime:
    value = _required(attribute(element, "value"), what)
    try:
        return parse_ts(value)
    except ValueError:
        raise MessageRejected("bad_time", f"{what}应为 yyyyMMddHHmmss，收到 {value[:40]}") from None


def _event(root: ET.Element) -> HisEvent:
    interaction = attribute(root.find("interactionId"), "extension") or root.tag
    action = ACTION_BY_INTERACTION.get(interaction)
    if action is None or action == "MessageQuery":
        raise MessageRejected("unknown_interaction", f"未配置的交互服务 {interaction[:60]}")
    if root.tag != interaction:
        raise MessageRejected(
            "unknown_interaction", f"根元素 {root.tag[:60]} 与交互标识 {interaction[:60]} 不符"
        )
    message_id = _required(attribute(root.find("id"), "extension"), "消息标识（id@extension）")
    sender = _required(
        attribute(root.find("sender/device/id/item"), "extension"), "发送方机构编码（sender）"
    )
    encounter = root.find("controlActProcess/subject/encounterEvent")
    if encounter is None:
        raise MessageRejected("missing_field", "消息缺少就诊事件（encounterEvent）")
    visit_key = _required(attribute(encounter.find("id/item"), "extension"), "就诊流水号")
    act_status = attribute(encounter.find("statusCode"), "code") or "active"
    if act_status not in ACT_STATUSES:
        raise MessageRejected("bad_status_code", f"未知的 statusCode {act_status[:40]}")
    target = attribute(root.find("relatesTo/id"), "extension")
    if act_status == "nullified":
        if not target:
            raise MessageRejected(
                "missing_reference", "作废消息（nullified）须用 relatesTo 指明原消息"
            )
        kind = EventKind.VOID
    else:
        kind = EventKind.CORRECTION if target else EventKind.EVENT
    code = attribute(encounter.find("code"), "code")
    node, status = "", ""
    if code:
        mapped = STATUS_TABLE.get((CODES_OF.get(action, action), code))
        if mapped is None:
            raise MessageRejected("unknown_status", f"{action} 没有状态码 {code[:40]}")
        node, status = mapped
    elif kind != EventKind.VOID:
        raise MessageRejected("missing_field", "消息缺少状态码（encounterEvent/code）")
    occurred_at = _time(encounter.find("effectiveTime"), "发生时间（effectiveTime）")
    created = root.find("creationTime")
    emitted_at = _time(created, "创建时间（creationTime）") if attribute(created, "value") else None
    payload = _payload(encounter)
    category = CATEGORY_BY_ACTION.get(action)
    if category:
        payload["category"] = category
    try:
        return HisEvent(
            source=source_for(DIALECT, sender),
            source_event_id=message_id[:128],
            institution_code=sender,
            visit_key=visit_key[:64],
            node=node,
            status=status,
            occurred_at=occurred_at,
            item=attribute(encounter.find("inFulfillmentOf/order/id/item"), "extension")[:64],
            kind=kind,
            target_event_id=target[:128],
            patient=_patient(encounter),
            payload=payload,
            emitted_at=emitted_at,
        )
    except ValueError as error:
        raise MessageRejected("malformed_event", str(error)) from None


def _patient(encounter: ET.Element) -> PatientRef:
    ids = {
        attribute(item, "root"): attribute(item, "extension")
        for item in encounter.findall("subject/patient/id/item")
    }
    return PatientRef(
        name=text_of(encounter.find("subject/patient/patientPerson/name")),
        id_number=ids.get(OID_ID_CARD, "").upper(),
        card_number=ids.get(OID_CARD_NO, ""),
    )


def _payload(encounter: ET.Element) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    place = encounter.find("location/serviceDeliveryLocation")
    if place is not None:
        if department_code := attribute(place.find("id/item"), "extension"):
            payload["department_code"] = department_code
        if department_name := text_of(place.find("name")):
            payload["department_name"] = department_name
    if doctor := text_of(encounter.find("performer/assignedEntity/assignedPerson/name")):
        payload["doctor_name"] = doctor
    for observation in encounter.findall("pertinentInformation/observation"):
        code = attribute(observation.find("code"), "code")
        if not code:
            raise MessageRejected("malformed_event", "观察项（observation）缺少 code")
        payload[KEY_BY_CODE.get(code, code)] = _value(observation.find("value"), code)
    return payload


def _value(element: ET.Element | None, code: str) -> Any:
    if element is None:
        raise MessageRejected("malformed_event", f"观察项 {code[:40]} 缺少 value")
    kind = attribute(element, "type") or "ST"
    value = attribute(element, "value")
    try:
        if kind == "ST":
            return value if "value" in _local_attributes(element) else text_of(element)
        if kind == "INT":
            return int(value)
        if kind == "REAL":
            return float(value)
        if kind == "BL":
            if value not in ("true", "false"):
                raise ValueError(value)
            return value == "true"
        if kind == "ED":
            if attribute(element, "mediaType") != "application/json":
                return element.text or ""
            return json.loads(element.text or "null")
    except ValueError:
        raise MessageRejected(
            "malformed_event", f"观察项 {code[:40]} 的值不是合法的 {kind}"
        ) from None
    raise MessageRejected("malformed_event", f"观察项 {code[:40]} 的数据类型 {kind[:20]} 不受支持")


def _local_attributes(element: ET.Element) -> set[str]:
    return {key.split("}", 1)[-1] for key in element.attrib}


# -- HisEvent -> v3 message (what the simulator publishes) ---------------------------------


def action_for(event: HisEvent) -> str:
    """The action that publishes ``event`` (corrections of Add services use their Update)."""
    if event.node == "lab_exam":
        action = (
            "CheckStatusInfoUpdate"
            if event.payload.get("category") == CATEGORY_BY_ACTION["CheckStatusInfoUpdate"]
            else "ExamStatusInfoUpdate"
        )
    else:
        action = ACTION_BY_NODE.get(event.node, "OutPatientInfoAdd")
    if event.kind != EventKind.EVENT:
        action = UPDATE_OF.get(action, action)
    return action


def status_code_for(action: str, node: str, status: str) -> str:
    codes_of = CODES_OF.get(action, action)
    for (owner, code), mapped in STATUS_TABLE.items():
        if owner == codes_of and mapped == (node, status):
            return code
    raise KeyError(f"{action} has no code for {node}/{status}")


def message_header(
    root: ET.Element,
    *,
    message_id: str,
    created_at: datetime,
    interaction: str,
    sender: str,
    receiver: str,
) -> None:
    """The v3 transmission wrapper every message starts with."""
    sub(root, "id", root=OID_MESSAGE_ID, extension=message_id)
    sub(root, "creationTime", value=format_ts(created_at, milliseconds=True))
    sub(root, "interactionId", root=OID_INTERACTION, extension=interaction)
    sub(root, "processingCode", code="P")
    sub(root, "processingModeCode")
    sub(root, "acceptAckCode", code="AL")
    for role, type_code, device_id in (("receiver", "RCV", receiver), ("sender", "SND", sender)):
        party = sub(root, role, typeCode=type_code)
        device = sub(party, "device", classCode="DEV", determinerCode="INSTANCE")
        sub(sub(device, "id"), "item", root=OID_DEVICE, extension=device_id)


def encode_record(event: HisEvent, *, created_at: datetime | None = None) -> str:
    """The v3 message the HIS publishes for ``event``."""
    action = action_for(event)
    interaction = ACTIONS[action]
    root = element(interaction, ITSVersion="XML_1.0")
    message_header(
        root,
        message_id=event.source_event_id,
        created_at=created_at or event.emitted_at or event.occurred_at,
        interaction=interaction,
        sender=event.institution_code,
        receiver=PLATFORM_DEVICE,
    )
    if event.target_event_id:
        relates = sub(root, "relatesTo", typeCode="RPLC")
        sub(relates, "id", root=OID_MESSAGE_ID, extension=event.target_event_id)
    control = sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    encounter = sub(
        sub(control, "subject", typeCode="SUBJ"), "encounterEvent", classCode="ENC", moodCode="EVN"
    )
    sub(sub(encounter, "id"), "item", root=OID_OUTPATIENT_NO, extension=event.visit_key)
    try:
        code = status_code_for(action, event.node, event.status)
    except KeyError:
        if event.kind != EventKind.VOID:
            raise
    else:
        codes_of = CODES_OF.get(action, action)
        sub(
            encounter,
            "code",
            code=code,
            codeSystemName=CODE_SET_NAMES[codes_of],
            displayName=status_label(event.node, event.status),
        )
    act_status = "nullified" if event.kind == EventKind.VOID else "active"
    sub(encounter, "statusCode", code=act_status)
    sub(encounter, "effectiveTime", value=format_ts(event.occurred_at))
    _encode_patient(encounter, event.patient)
    payload = dict(event.payload)
    if payload.get("doctor_name"):
        person = sub(
            sub(
                sub(encounter, "performer", typeCode="PRF"), "assignedEntity", classCode="ASSIGNED"
            ),
            "assignedPerson",
            classCode="PSN",
            determinerCode="INSTANCE",
        )
        sub(person, "name").text = str(payload["doctor_name"])
    if payload.get("department_code") or payload.get("department_name"):
        place = sub(
            sub(encounter, "location", typeCode="LOC"), "serviceDeliveryLocation", classCode="SDLOC"
        )
        if payload.get("department_code"):
            sub(
                sub(place, "id"),
                "item",
                root=OID_DEPARTMENT,
                extension=str(payload["department_code"]),
            )
        if payload.get("department_name"):
            sub(place, "name").text = str(payload["department_name"])
    if event.item:
        order = sub(
            sub(encounter, "inFulfillmentOf", typeCode="FLFS"),
            "order",
            classCode="ACT",
            moodCode="RQO",
        )
        sub(sub(order, "id"), "item", root=OID_ORDER, extension=event.item)
    for key, value in payload.items():
        if key in STRUCTURAL_KEYS or value is None:
            continue
        if key == "category" and event.node == "lab_exam":
            continue  # carried by the action (Exam 检验 / Check 检查)
        observation = sub(
            sub(encounter, "pertinentInformation", typeCode="PERT"),
            "observation",
            classCode="OBS",
            moodCode="EVN",
        )
        sub(observation, "code", code=FIELD_CODES.get(key, key))
        _encode_value(observation, value)
    return serialize(root)


def _encode_patient(encounter: ET.Element, patient: PatientRef) -> None:
    if not (patient.name or patient.id_number or patient.card_number):
        return
    person = sub(sub(encounter, "subject", typeCode="SBJ"), "patient", classCode="PAT")
    ids = sub(person, "id")
    if patient.id_number:
        sub(ids, "item", root=OID_ID_CARD, extension=patient.id_number)
    if patient.card_number:
        sub(ids, "item", root=OID_CARD_NO, extension=patient.card_number)
    if patient.name:
        named = sub(person, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
        sub(named, "name").text = patient.name


def _encode_value(observation: ET.Element, value: Any) -> None:
    if isinstance(value, bool):
        sub(observation, "value", type_="BL", value="true" if value else "false")
    elif isinstance(value, int):
        sub(observation, "value", type_="INT", value=str(value))
    elif isinstance(value, float):
        sub(observation, "value", type_="REAL", value=repr(value))
    elif isinstance(value, str):
        sub(observation, "value", type_="ST", value=value)
    else:
        element = sub(observation, "value", type_="ED", mediaType="application/json")
        element.text = json.dumps(value, ensure_ascii=False)
