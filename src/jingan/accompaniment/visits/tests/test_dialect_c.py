"""Dialect C end to end: the platform's poller calls the simulated HIS's 互联互通 SOAP
service over HTTP, the events land in the journal and move the visit (HI-2)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.inputs.pollers import poll_connection
from jingan.accompaniment.visits.models import HisConnection, RejectedMessage, VisitEvent
from jingan.accompaniment.visits.services import replay_rejected
from jingan.integrations.his.port import HisEvent, HisUnavailable, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.integrations.his.soap import codec
from jingan.integrations.his.soap.adapter import SoapHis
from jingan.integrations.his.soap.simulator import SoapHisSimulator

CST = timezone(timedelta(hours=8))
CODE = "310106003"  # 上海市静安区市北医院, dialect C
PATIENT_NAME = "王桂英"
PATIENT_ID = "310106195203151378"

pytestmark = pytest.mark.django_db


@pytest.fixture
def his() -> Iterator[SoapHisSimulator]:
    simulator = SoapHisSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def connection(his: SoapHisSimulator) -> HisConnection:
    from django.apps import apps

    institution = apps.get_model("institutions", "Institution").objects.unscoped().get(code=CODE)
    return HisConnection.objects.unscoped().create(
        institution=institution, endpoint=his.endpoint(CODE), poll_interval_seconds=5
    )


def script() -> list[HisEvent]:
    rng = random.Random(3)
    plan = plan_visit(
        rng,
        institution_code=CODE,
        dialect="C",
        visit_key="MZ2026112600055",
        arrive_at=datetime(2026, 11, 26, 9, 0, tzinfo=CST),
        patient=PatientRef(name=PATIENT_NAME, id_number=PATIENT_ID, card_number="7700112233"),
    )
    return visit_script(plan, rng)


def journal_ids() -> list[str]:
    return list(
        VisitEvent.objects.unscoped().order_by("pk").values_list("source_event_id", flat=True)
    )


@pytest.mark.req("HI-2")
def test_polls_take_the_published_messages_and_the_visit_moves(
    his: SoapHisSimulator,
    connection: HisConnection,
    make_resident: Any,
    resident_client: Callable[[Any], Client],
) -> None:
    resident = make_resident(PATIENT_NAME, PATIENT_ID)
    events = script()
    for event in events[:6]:
        his.emit(event)

    first = poll_connection(connection.pk)
    connection.refresh_from_db()
    mark = connection.watermark
    quiet = poll_connection(connection.pk)
    for event in events[6:]:
        his.emit(event)
    his.emit(events[2])  # the HIS publishes one message again
    second = poll_connection(connection.pk)
    connection.refresh_from_db()

    assert (first.ok, first.accepted, first.duplicates, first.rejected) == (True, 6, 0, 0)
    assert mark.endswith("|6")
    assert (quiet.accepted, quiet.duplicates) == (0, 0)
    assert (second.accepted, second.duplicates) == (len(events) - 6, 1)
    assert connection.watermark.endswith(f"|{len(events) + 1}")
    assert connection.events_received == len(events)
    assert journal_ids() == [e.source_event_id for e in events]
    assert set(VisitEvent.objects.unscoped().values_list("source", flat=True)) == {
        "his-c:310106003"
    }

    drain()
    (summary,) = resident_client(resident).get("/api/v1/visits/").json()
    assert (events[-1].node, events[-1].status) == ("follow_up", "pending")
    assert (summary["visit"]["current_node_title"], summary["visit"]["current_status_label"]) == (
        "诊后随访",
        "待填写问卷",
    )


@pytest.mark.req("HI-2")
def test_a_broken_record_is_kept_and_the_rest_are_taken(
    his: SoapHisSimulator,
    connection: HisConnection,
    make_staff: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = script()[:3]
    his.emit(events[0])
    his.publish_raw(CODE, "<PRPA_IN400001UV xmlns='urn:hl7-org:v3'><id extension='x'/>")
    recalled = codec.encode_record(events[1]).replace(
        '<code code="Complete"', '<code code="Recalled"'
    )
    his.publish_raw(CODE, recalled)
    his.emit(events[2])

    outcome = poll_connection(connection.pk)

    assert (outcome.ok, outcome.accepted, outcome.rejected) == (True, 2, 2)
    assert journal_ids() == [events[0].source_event_id, events[2].source_event_id]
    kept = list(RejectedMessage.objects.unscoped().order_by("pk"))
    assert [(k.channel, k.source, k.institution.code, k.code) for k in kept] == [
        ("soap", "his-c:310106003", CODE, "malformed_xml"),
        ("soap", "his-c:310106003", CODE, "unknown_status"),
    ]
    assert kept[1].reason == "OutPatientAppointStatusInfoAdd 没有状态码 Recalled"
    assert kept[1].raw == recalled

    staff = make_staff()
    still_broken = replay_rejected(actor=staff, rejected_id=kept[0].pk)
    # The fix: the vendor's extra appointment code joins the status table.
    monkeypatch.setitem(
        codec.STATUS_TABLE,
        ("OutPatientAppointStatusInfoAdd", "Recalled"),
        ("appointment", "fulfilled"),
    )
    fixed = replay_rejected(actor=staff, rejected_id=kept[1].pk)

    assert still_broken.ok is False
    assert (fixed.ok, fixed.accepted) == (True, 1)
    assert journal_ids() == [e.source_event_id for e in (events[0], events[2], events[1])]


@pytest.mark.req("HI-2")
def test_an_outage_is_a_failed_poll_and_nothing_moves(
    his: SoapHisSimulator, connection: HisConnection
) -> None:
    events = script()
    his.emit(events[0])
    poll_connection(connection.pk)
    connection.refresh_from_db()
    mark = connection.watermark
    his.emit(events[1])
    his.set_outage(CODE, True)

    with pytest.raises(HisUnavailable, match="HIS 接口应答 HTTP 503"):
        SoapHis(his.endpoint(CODE)).poll(CODE, mark)
    outcome = poll_connection(connection.pk)
    connection.refresh_from_db()

    assert (outcome.ok, outcome.message) == (False, "HIS 接口应答 HTTP 503")
    assert (connection.watermark, connection.consecutive_failures, connection.last_error) == (
        mark,
        1,
        "HIS 接口应答 HTTP 503",
    )
    assert journal_ids() == [events[0].source_event_id]

    his.set_outage(CODE, False)
    HisConnection.objects.unscoped().filter(pk=connection.pk).update(next_poll_at=None)
    recovered = poll_connection(connection.pk)
    assert (recovered.ok, recovered.accepted) == (True, 1)
    assert journal_ids() == [events[0].source_event_id, events[1].source_event_id]
