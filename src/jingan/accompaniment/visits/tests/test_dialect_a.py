"""Dialect A end to end (HI-2): the HIS simulator sends HL7 v2.5 over a real MLLP socket to
our listener, which journals the events and answers ACK/NAK; the event centre folds
them and the resident API shows them. Rejected messages are kept and replay after a fix;
outages and a platform restart lose nothing and keep the order."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps
from django.db import OperationalError

from jingan.accompaniment.visits import services
from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.inputs import mllp_listener
from jingan.accompaniment.visits.inputs.mllp_listener import MllpListener
from jingan.accompaniment.visits.models import RejectedMessage, Visit, VisitEvent
from jingan.integrations.his.hl7 import codec, mllp
from jingan.integrations.his.hl7.codec import read_ack
from jingan.integrations.his.hl7.mllp import frame
from jingan.integrations.his.hl7.simulator import GB18030, Hl7HisSimulator
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script

pytestmark = pytest.mark.django_db(transaction=True)

CODE = "310106001"  # 静安区中心医院, dialect A
SECOND = "310106002"  # 闸北中心医院, dialect A
NAME = "欧阳秀英"
ID_NUMBER = "310106195001011238"
T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


@pytest.fixture
def listener() -> Iterator[MllpListener]:
    server = MllpListener("127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def his(listener: MllpListener) -> Iterator[Hl7HisSimulator]:
    simulator = Hl7HisSimulator(*listener.address, retry_seconds=0.1, ack_timeout=5)
    simulator.start()
    yield simulator
    simulator.stop()


def script(code: str = CODE, seed: int = 5) -> list[HisEvent]:
    rng = random.Random(seed)
    plan = plan_visit(
        rng,
        institution_code=code,
        dialect="A",
        visit_key=f"MZ2026112600{seed}",
        arrive_at=T0,
        patient=PatientRef(NAME, ID_NUMBER, "1002003004"),
    )
    return visit_script(plan, rng)


def journal_rows() -> list[tuple[str, str, str, str, str]]:
    return list(
        VisitEvent.objects.unscoped()
        .order_by("id")
        .values_list("source", "source_event_id", "node", "status", "item")
    )


def as_rows(events: list[HisEvent]) -> list[tuple[str, str, str, str, str]]:
    return [(e.source, e.source_event_id, e.node, e.status, e.item) for e in events]


def hand_written(control_id: str, *, code: str = CODE, queue_status: str = "W") -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|WINNING-HIS|{code}|JINGAN|JINGAN-CLOUD|20261126093000||ZQU^Z01^ZQU_Z01"
                f"|{control_id}|P|2.5|||AL|NE|CHN|UNICODE UTF-8",
                "EVN|Z01|20261126093000",
                f"PID|1|1002003004|||{NAME}^ouyang xiuying||||||||||||||{ID_NUMBER}",
                "PV1|1|O|03^^^^^^^^内科||||^陈立新||||||||||||MZ0009",
                f"ZQU|{queue_status}|03-017|4|内科第 2 诊室",
            ]
        )
        + "\r"
    )


def exchange_raw(address: tuple[str, int], data: bytes, replies: int) -> list[bytes]:
    """Send bytes as they are; read ``replies`` MLLP frames back."""
    reader = mllp.FrameReader()
    got: list[bytes] = []
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(data)
        while len(got) < replies:
            chunk = connection.recv(65536)
            assert chunk, "the listener closed the connection"
            got.extend(f.payload for f in reader.feed(chunk))
    return got


@pytest.mark.req("HI-2")
def test_a_whole_visit_over_mllp_reaches_the_journal_and_the_resident(
    listener: MllpListener,
    his: Hl7HisSimulator,
    make_resident: Any,
    resident_client: Any,
) -> None:
    resident = make_resident(NAME, ID_NUMBER)
    events = script()
    for event in events:
        his.emit(event)
    his.emit(events[3])  # the interface engine sends one message twice
    assert his.wait_idle(20)

    sent = [e.source_event_id for e in events] + [events[3].source_event_id]
    assert [(d.control_id, d.ack.code) for d in his.deliveries] == [(i, "AA") for i in sent]
    assert journal_rows() == as_rows(events)  # the duplicate is a no-op: one row each
    assert {row[0] for row in journal_rows()} == {f"his-a:{CODE}"}
    first = VisitEvent.objects.unscoped().order_by("id").first()
    assert first is not None
    assert first.institution_id == institution(CODE).pk
    assert json.loads(first.body)["patient"] == {
        "name": NAME,
        "id_number": ID_NUMBER,
        "card_number": "1002003004",
    }

    drain()
    visit = Visit.objects.unscoped().get()
    assert (visit.resident_id, visit.visit_key, visit.event_count) == (
        resident.pk,
        "MZ20261126005",
        len(events),
    )
    client = resident_client(resident)
    registration = client.get(f"/api/v1/visits/{visit.reference}/nodes/registration").json()
    paid = next(e for e in events if (e.node, e.status) == ("registration", "registered"))
    [item] = registration["items"]
    assert (item["status"], item["details"]["fee"], item["details"]["pay_mode"]) == (
        "registered",
        paid.payload["fee"],
        paid.payload["pay_mode"],
    )
    waiting = client.get(f"/api/v1/visits/{visit.reference}/nodes/waiting").json()
    called = next(e for e in events if (e.node, e.status) == ("waiting", "called"))
    assert (waiting["items"][0]["status"], waiting["items"][0]["details"]["room"]) == (
        "called",
        called.payload["room"],
    )


@pytest.mark.req("HI-2")
def test_gb18030_messages_keep_their_chinese_names(
    listener: MllpListener, his: Hl7HisSimulator
) -> None:
    his.set_charset(CODE, GB18030)
    his.emit(script()[0])
    assert his.wait_idle(10)
    # A HIS writing GB 18030 bytes by hand; our ACK answers in the same charset.
    text = hand_written("GB0001").replace("UNICODE UTF-8", GB18030)
    [reply] = exchange_raw(listener.address, frame(text.encode("gb18030")), 1)
    ack = read_ack(reply.decode("gb18030"))
    assert (ack.code, ack.control_id) == ("AA", "GB0001")
    assert GB18030.encode() in reply.split(b"\r")[0]
    names = [
        json.loads(row.body)["patient"]["name"]
        for row in VisitEvent.objects.unscoped().order_by("id")
    ]
    assert names == [NAME, NAME]


@pytest.mark.req("HI-2")
def test_a_message_with_an_unknown_status_gets_ae_is_kept_and_replays_after_the_fix(
    listener: MllpListener, make_staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = hand_written("BAD0001", queue_status="Q")
    ack = read_ack(mllp.send(*listener.address, text, timeout=5))
    reason = "ZQU^Z01 消息的 ZQU-1 状态码“Q”无法识别"
    assert (ack.code, ack.control_id, ack.error_code, ack.error_text) == (
        "AE",
        "BAD0001",
        "unknown_status",
        reason,
    )
    kept = RejectedMessage.objects.unscoped().get()
    assert (kept.channel, kept.source, kept.institution_id, kept.code, kept.reason) == (
        "hl7",
        f"his-a:{CODE}",
        institution(CODE).pk,
        "unknown_status",
        reason,
    )
    assert kept.raw == text
    assert VisitEvent.objects.unscoped().count() == 0

    # The HIS vendor documents "Q" (排队中, 待复诊) as a waiting state; the table learns it.
    monkeypatch.setitem(codec.STATUS_TABLE, ("ZQU^Z01", "Q"), ("waiting", "waiting"))
    admin = make_staff("his-admin", permissions=("visits.replay_rejectedmessage",))
    outcome = services.replay_rejected(actor=admin, rejected_id=kept.pk)

    assert (outcome.ok, outcome.accepted, outcome.duplicates) == (True, 1, 0)
    assert journal_rows() == [(f"his-a:{CODE}", "BAD0001", "waiting", "waiting", "")]
    kept.refresh_from_db()
    assert kept.status == RejectedMessage.Status.REPLAYED


@pytest.mark.req("HI-2")
def test_a_message_from_an_inactive_institution_replays_once_it_is_active_again(
    listener: MllpListener, his: Hl7HisSimulator, make_staff: Any
) -> None:
    apps.get_model("institutions", "Institution").objects.unscoped().filter(code=SECOND).update(
        is_active=False
    )
    event = script(SECOND)[0]
    his.emit(event)
    assert his.wait_idle(10)
    [delivery] = his.deliveries
    assert (delivery.ack.code, delivery.ack.error_code, delivery.ack.error_text) == (
        "AE",
        "unknown_institution",
        f"未知或未启用的医疗机构编码：{SECOND}",
    )
    assert "ERR|||204^Unknown key identifier^HL70357^unknown_institution^^L|E" in delivery.raw_ack
    kept = RejectedMessage.objects.unscoped().get()
    assert (kept.code, kept.source, kept.institution_id) == (
        "unknown_institution",
        f"his-a:{SECOND}",
        None,
    )

    apps.get_model("institutions", "Institution").objects.unscoped().filter(code=SECOND).update(
        is_active=True
    )
    admin = make_staff("his-admin", permissions=("visits.replay_rejectedmessage",))
    outcome = services.replay_rejected(actor=admin, rejected_id=kept.pk)

    assert (outcome.ok, outcome.accepted) == (True, 1)
    assert journal_rows() == as_rows([event])


@pytest.mark.req("HI-2")
def test_broken_frames_and_non_hl7_are_refused_kept_and_the_listener_keeps_serving(
    listener: MllpListener,
) -> None:
    cut_short = hand_written("CUT0001").encode()[:150]
    good = hand_written("OK0001").encode()
    replies = exchange_raw(
        listener.address,
        b"GET / HTTP/1.1\r\n" + b"\x0b" + cut_short + frame(good) + frame(b"hello"),
        3,
    )
    answers = [read_ack(reply.decode()) for reply in replies]
    assert [(a.code, a.control_id, a.error_code) for a in answers] == [
        ("AR", "CUT0001", "broken_frame"),
        ("AA", "OK0001", ""),
        ("AR", "", "not_hl7"),
    ]
    kept = [(row.code, row.raw) for row in RejectedMessage.objects.unscoped().order_by("id")]
    assert kept == [("broken_frame", cut_short.decode()), ("not_hl7", "hello")]
    assert journal_rows() == [(f"his-a:{CODE}", "OK0001", "waiting", "waiting", "")]
    # A HIS checking the link gets AA and journals nothing.
    check = (
        f"MSH|^~\\&|HIS|{CODE}|JINGAN|JINGAN-CLOUD|20261126093000||NMQ^N01^NMQ_N01|N1|P|2.5\r"
        "NCK|20261126093000\r"
    )
    assert read_ack(mllp.send(*listener.address, check, timeout=5)).code == "AA"
    assert VisitEvent.objects.unscoped().count() == 1
    assert RejectedMessage.objects.unscoped().count() == 2


@pytest.mark.req("HI-2")
def test_messages_held_in_an_outage_or_a_platform_restart_arrive_in_order(
    listener: MllpListener, his: Hl7HisSimulator
) -> None:
    events = script()[:8]
    his.set_outage(CODE, True)
    for event in events[:3]:
        his.emit(event)
    assert his.pending() == 3
    assert VisitEvent.objects.unscoped().count() == 0
    his.set_outage(CODE, False)
    assert his.wait_idle(10)
    assert journal_rows() == as_rows(events[:3])

    host, port = listener.address
    listener.stop()
    for event in events[3:]:
        his.emit(event)
    assert his.pending() == 5
    with MllpListener(host, port):
        assert his.wait_idle(10)
    assert journal_rows() == as_rows(events)


@pytest.mark.req("HI-2")
def test_a_database_failure_is_not_acknowledged_so_the_his_sends_again(
    listener: MllpListener, his: Hl7HisSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(**kwargs: Any) -> Any:
        raise OperationalError("database is locked")

    original = journal.take
    monkeypatch.setattr(mllp_listener.journal, "take", database_down)
    event = script()[0]
    his.emit(event)
    assert his.pending() == 1
    assert list(his.deliveries) == []
    monkeypatch.setattr(mllp_listener.journal, "take", original)
    assert his.wait_idle(10)
    assert journal_rows() == as_rows([event])
