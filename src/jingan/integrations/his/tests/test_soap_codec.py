"""Dialect C codec: published HL7 v3 messages onto HisEvent, exact values and rejections."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jingan.integrations.his.port import (
    NODE_STATUSES,
    EventKind,
    HisEvent,
    MessageRejected,
    PatientRef,
)
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.integrations.his.soap.codec import STATUS_TABLE, encode_record, parse_record

CST = timezone(timedelta(hours=8))
CODE = "310106003"

# As a vendor's interface document would show it (namespace prefixes, spacing and all).
REGISTRATION = """<?xml version="1.0" encoding="UTF-8"?>
<PRPA_IN400001UV xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    ITSVersion="XML_1.0">
  <id root="2.16.156.10011.2.5.1.1" extension="7b0e2c1a-5d8e-4f7a-9a61-2f0c9d4e8b01"/>
  <creationTime value="20261126093106"/>
  <interactionId root="2.16.156.10011.2.5.1.2" extension="PRPA_IN400001UV"/>
  <processingCode code="P"/>
  <processingModeCode/>
  <acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
    <id><item root="2.16.156.10011.2.5.1.3" extension="JINGAN-PLATFORM"/></id></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id><item root="2.16.156.10011.2.5.1.3" extension="310106003"/></id></device></sender>
  <controlActProcess classCode="CACT" moodCode="EVN">
    <subject typeCode="SUBJ">
      <encounterEvent classCode="ENC" moodCode="EVN">
        <id><item root="2.16.156.10011.1.11" extension="MZ2026112600031"/></id>
        <code code="1" codeSystemName="就诊状态" displayName="正常挂号"/>
        <statusCode code="active"/>
        <effectiveTime value="20261126093105"/>
        <subject typeCode="SBJ"><patient classCode="PAT">
          <id><item root="2.16.156.10011.1.3" extension="310106195001011238"/>
              <item root="2.16.156.10011.1.19" extension="0012345678"/></id>
          <patientPerson classCode="PSN" determinerCode="INSTANCE"><name>李秀英</name></patientPerson>
        </patient></subject>
        <performer typeCode="PRF"><assignedEntity classCode="ASSIGNED">
          <assignedPerson classCode="PSN" determinerCode="INSTANCE"><name>陈立新</name></assignedPerson>
        </assignedEntity></performer>
        <location typeCode="LOC"><serviceDeliveryLocation classCode="SDLOC">
          <id><item root="2.16.156.10011.1.26" extension="03"/></id><name>内科</name>
        </serviceDeliveryLocation></location>
        <pertinentInformation typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
          <code code="REG_FEE"/><value xsi:type="ST" value="25.00"/></observation></pertinentInformation>
        <pertinentInformation typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
          <code code="WAIT_COUNT"/><value xsi:type="INT" value="6"/></observation></pertinentInformation>
        <pertinentInformation typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
          <code code="EMR"/><value xsi:type="ED" mediaType="application/json">{"diagnosis": "高血压"}</value>
        </observation></pertinentInformation>
        <pertinentInformation typeCode="PERT"><observation classCode="OBS" moodCode="EVN">
          <code code="SCREEN_TEXT"/><value xsi:type="ST" value="请到 2 诊室"/></observation></pertinentInformation>
      </encounterEvent>
    </subject>
  </controlActProcess>
</PRPA_IN400001UV>
"""


@pytest.mark.req("HI-2")
def test_an_outpatient_info_add_becomes_our_registered_event() -> None:
    (event,) = parse_record(REGISTRATION)

    assert event == HisEvent(
        source="his-c:310106003",
        source_event_id="7b0e2c1a-5d8e-4f7a-9a61-2f0c9d4e8b01",
        institution_code=CODE,
        visit_key="MZ2026112600031",
        node="registration",
        status="registered",
        occurred_at=datetime(2026, 11, 26, 9, 31, 5, tzinfo=CST),
        patient=PatientRef(name="李秀英", id_number="310106195001011238", card_number="0012345678"),
        payload={
            "department_code": "03",
            "department_name": "内科",
            "doctor_name": "陈立新",
            "fee": "25.00",
            "ahead": 6,
            "record": {"diagnosis": "高血压"},
            "SCREEN_TEXT": "请到 2 诊室",
        },
        emitted_at=datetime(2026, 11, 26, 9, 31, 6, tzinfo=CST),
    )


@pytest.mark.req("HI-2")
def test_status_codes_map_per_service() -> None:
    def mapped(interaction: str, code: str) -> tuple[str, str, Any]:
        text = REGISTRATION.replace("PRPA_IN400001UV", interaction).replace(
            '<code code="1" codeSystemName', f'<code code="{code}" codeSystemName'
        )
        (event,) = parse_record(text)
        return event.node, event.status, event.payload.get("category")

    assert mapped("PRPA_IN400001UV", "8") == ("consultation", "finished", None)
    assert mapped("PRPA_IN410001UV", "Noshow") == ("appointment", "no_show", None)
    assert mapped("POLB_IN224000UV01", "3") == ("lab_exam", "reported", "检验")
    assert mapped("POOR_IN200902UV", "3") == ("lab_exam", "reported", "检查")
    assert mapped("POOR_IN200901UV", "DRUG2") == ("pharmacy", "ready", None)
    assert mapped("VND_IN100001UV", "04") == ("waiting", "called", None)
    assert mapped("VND_IN100002UV", "01") == ("follow_up", "pending", None)


@pytest.mark.req("HI-2")
def test_an_update_with_relates_to_corrects_and_nullified_voids() -> None:
    relates = (
        '<acceptAckCode code="AL"/>\n  <relatesTo typeCode="RPLC">'
        '<id root="2.16.156.10011.2.5.1.1" extension="earlier-id"/></relatesTo>'
    )
    update = REGISTRATION.replace("PRPA_IN400001UV", "PRPA_IN400002UV").replace(
        '<acceptAckCode code="AL"/>', relates
    )
    void = update.replace('<statusCode code="active"/>', '<statusCode code="nullified"/>')

    (corrected,) = parse_record(update)
    (voided,) = parse_record(void)

    assert (corrected.kind, corrected.target_event_id, corrected.status) == (
        EventKind.CORRECTION,
        "earlier-id",
        "registered",
    )
    assert (voided.kind, voided.target_event_id) == (EventKind.VOID, "earlier-id")


XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PRPA_IN400001UV xmlns="urn:hl7-org:v3"><id extension="&xxe;"/></PRPA_IN400001UV>"""

REJECTIONS = [
    ("<PRPA_IN400001UV><id", "malformed_xml", None),
    (XXE, "unsafe_xml", "消息含 DOCTYPE 或实体声明，出于安全原因拒收"),
    (
        REGISTRATION.replace("PRPA_IN400001UV", "PRPA_IN999999UV"),
        "unknown_interaction",
        "未配置的交互服务 PRPA_IN999999UV",
    ),
    (
        REGISTRATION.replace('<code code="1" codeSystemName', '<code code="4" codeSystemName'),
        "unknown_status",
        "OutPatientInfoAdd 没有状态码 4",
    ),
    (
        REGISTRATION.replace('extension="MZ2026112600031"', 'extension=""'),
        "missing_field",
        "消息缺少就诊流水号",
    ),
    (
        REGISTRATION.replace('value="20261126093105"', 'value="2026-11-26 09:31"'),
        "bad_time",
        "发生时间（effectiveTime）应为 yyyyMMddHHmmss，收到 2026-11-26 09:31",
    ),
    (
        REGISTRATION.replace('<statusCode code="active"/>', '<statusCode code="nullified"/>'),
        "missing_reference",
        "作废消息（nullified）须用 relatesTo 指明原消息",
    ),
    (
        REGISTRATION.replace('<statusCode code="active"/>', '<statusCode code="maybe"/>'),
        "bad_status_code",
        "未知的 statusCode maybe",
    ),
    (
        REGISTRATION.replace('xsi:type="INT" value="6"', 'xsi:type="INT" value="six"'),
        "malformed_event",
        "观察项 WAIT_COUNT 的值不是合法的 INT",
    ),
]


@pytest.mark.req("HI-2")
@pytest.mark.parametrize(("raw", "code", "reason"), REJECTIONS)
def test_bad_records_are_rejected_with_a_stable_code(
    raw: str, code: str, reason: str | None
) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_record(raw)
    assert caught.value.code == code
    if reason is not None:
        assert caught.value.reason == reason


@pytest.mark.req("HI-2")
def test_every_status_of_every_node_has_a_vendor_code() -> None:
    ours = {(node, status) for node, statuses in NODE_STATUSES.items() for status, _ in statuses}
    assert set(STATUS_TABLE.values()) == ours


@pytest.mark.req("HI-2")
def test_what_the_simulator_publishes_parses_back_to_the_same_events() -> None:
    rng = random.Random(11)
    events: list[HisEvent] = []
    for index in range(12):
        plan = plan_visit(
            rng,
            institution_code=CODE,
            dialect="C",
            visit_key=f"MZ20261126{index:05d}",
            arrive_at=datetime(2026, 11, 26, 8, 30, tzinfo=CST) + timedelta(minutes=9 * index),
        )
        events.extend(visit_script(plan, rng))
    first = events[0]
    events += [
        HisEvent(
            **{
                **first.__dict__,
                "source_event_id": "c1",
                "kind": EventKind.CORRECTION,
                "target_event_id": first.source_event_id,
            }
        ),
        HisEvent(
            **{
                **first.__dict__,
                "source_event_id": "v1",
                "kind": EventKind.VOID,
                "target_event_id": "c1",
                "node": "",
                "status": "",
                "payload": {},
            }
        ),
    ]
    created = datetime(2026, 11, 26, 12, 0, 0, 125000, tzinfo=CST)
    for event in events:
        (back,) = parse_record(encode_record(event, created_at=created))
        assert back == HisEvent(**{**event.__dict__, "emitted_at": created})
