"""MLLP over real loopback sockets: framing, charsets, the client and server, the
connection test against the HIS simulator's test port, and the simulator's outbound
queue (order kept through outages and platform restarts)."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from jingan.integrations.his.hl7 import mllp
from jingan.integrations.his.hl7.codec import build_ack, parse_message, read_ack, read_header
from jingan.integrations.his.hl7.mllp import (
    Frame,
    FrameReader,
    InboundFrame,
    MllpClient,
    MllpServer,
    decode_frame,
    encode_message,
    frame,
)
from jingan.integrations.his.hl7.simulator import GB18030, Hl7HisSimulator
from jingan.integrations.his.port import HisEvent, HisUnavailable, MessageRejected, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script

CODE = "310106001"
OTHER = "310106002"
NAME = "欧阳秀英"


def message(control_id: str = "M1", charset: str = "UNICODE UTF-8", code: str = CODE) -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HIS|{code}|JINGAN|JINGAN-CLOUD|20261126093000||ZQU^Z01^ZQU_Z01|{control_id}"
                f"|P|2.5|||AL|NE|CHN|{charset}",
                "EVN|Z01|20261126093000",
                f"PID|1|JK1|||{NAME}^ouyang xiuying",
                "PV1|1|O|03^^^^^^^^内科||||^陈立新||||||||||||MZ0001",
                "ZQU|W|03-017|4|内科第 2 诊室",
            ]
        )
        + "\r"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    """A platform stand-in: answers AA (or what ``answer`` says) and keeps what it got."""

    def __init__(self) -> None:
        self.received: list[InboundFrame] = []
        self.lock = threading.Lock()
        self.answer = "AA"

    def __call__(self, inbound: InboundFrame) -> str | None:
        with self.lock:
            self.received.append(inbound)
        if self.answer == "close":
            return None
        error = MessageRejected("unknown_status", "测试拒绝") if self.answer != "AA" else None
        return build_ack(inbound.text, self.answer, error)

    def control_ids(self) -> list[str]:
        with self.lock:
            return [read_header(r.text).control_id for r in self.received]


@pytest.fixture
def platform() -> Iterator[tuple[MllpServer, Recorder]]:
    recorder = Recorder()
    server = MllpServer("127.0.0.1", 0, recorder, name="test-platform")
    server.start()
    yield server, recorder
    server.stop()


# --- framing and charsets -----------------------------------------------------------------


def test_frame_reader_reassembles_a_frame_fed_one_byte_at_a_time() -> None:
    data = frame(message().encode())
    reader = FrameReader()
    frames: list[Frame] = []
    for index in range(len(data)):
        frames.extend(reader.feed(data[index : index + 1]))
    assert frames == [Frame(message().encode())]
    assert reader.garbage_bytes == 0


def test_frame_reader_cuts_several_frames_from_one_read_and_keeps_the_rest() -> None:
    first, second, third = (message(f"M{n}").encode() for n in (1, 2, 3))
    stream = frame(first) + frame(second) + frame(third)
    reader = FrameReader()
    assert reader.feed(stream[:-20]) == [Frame(first), Frame(second)]
    assert reader.feed(stream[-20:]) == [Frame(third)]


def test_frame_reader_drops_noise_and_hands_out_broken_frames() -> None:
    reader = FrameReader()
    got = reader.feed(b"\r\nGARBAGE" + frame(b"MSH|ok") + b"xx\x0bMSH|cut short\x0bMSH|next\x1c\r")
    assert got == [
        Frame(b"MSH|ok"),
        Frame(b"MSH|cut short", complete=False),
        Frame(b"MSH|next"),
    ]
    assert reader.garbage_bytes == len(b"GARBAGE") + len(b"xx")
    assert reader.feed(b"\x0bMSH|never ended") == []
    assert reader.close() == Frame(b"MSH|never ended", complete=False)
    assert reader.close() is None


def test_frame_reader_truncates_an_oversize_frame_and_resynchronises() -> None:
    reader = FrameReader(max_frame_bytes=10)
    got = reader.feed(frame(b"0123456789ABCDEF") + frame(b"MSH|small"))
    assert got == [Frame(b"0123456789", complete=False, oversize=True), Frame(b"MSH|small")]


@pytest.mark.req("HI-2")
@pytest.mark.parametrize("charset", ["GB 18030-2000", "GB2312", "GBK", "gb18030"])
def test_gb_charsets_decode_chinese_text_intact(charset: str) -> None:
    text = message(charset=charset)
    wire = text.encode("gb18030")
    assert wire != text.encode("utf-8")
    inbound = decode_frame(Frame(wire), "127.0.0.1:1")
    assert (inbound.text, inbound.charset, inbound.error) == (text, charset, None)
    (event,) = parse_message(inbound.text)
    assert event.patient.name == NAME
    assert encode_message(text) == wire


def test_utf8_is_the_default_and_undecodable_bytes_are_flagged() -> None:
    text = message(charset="")
    assert decode_frame(Frame(text.encode("utf-8"))).text == text
    assert encode_message(text) == text.encode("utf-8")
    inbound = decode_frame(Frame(message().encode("gb18030")))
    assert inbound.error is not None
    assert (inbound.error.code, inbound.error.reason) == (
        "bad_charset",
        "报文无法按 MSH-18 声明的字符集 UNICODE UTF-8 解码，中文可能已乱码",
    )
    assert "\ufffd" in inbound.text
    broken = decode_frame(Frame(b"MSH|x", complete=False))
    assert broken.error is not None
    assert (broken.error.code, broken.error.reason) == (
        "broken_frame",
        "MLLP 帧不完整：缺少结束符 0x1C 0x0D",
    )


# --- client and server ------------------------------------------------------------------


@pytest.mark.req("HI-2")
def test_client_and_server_exchange_messages_and_acks_in_the_declared_charset(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    host, port = server.address
    reply = mllp.send(host, port, message("G1", charset=GB18030), timeout=5)
    ack = read_ack(reply)
    assert (ack.code, ack.control_id) == ("AA", "G1")
    assert recorder.received[0].charset == GB18030
    assert recorder.received[0].text == message("G1", charset=GB18030)
    # The ACK goes back in GB 18030 too (it echoes MSH-18): read the raw bytes.
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(frame(message("G2", charset=GB18030).encode("gb18030")))
        data = b""
        while not data.endswith(b"\x1c\r"):
            data += raw.recv(4096)
    assert data.startswith(b"\x0bMSH|^~\\&|JINGAN|JINGAN-CLOUD|HIS|310106001|")
    assert data[1:-2].decode("gb18030").split("\r")[1] == "MSA|AA|G2"


def test_one_persistent_connection_carries_many_exchanges(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    client = MllpClient(*server.address)
    try:
        for n in range(5):
            reply = client.exchange(message(f"P{n}"), timeout=5, control_id=f"P{n}")
            assert read_ack(reply).control_id == f"P{n}"
    finally:
        client.close()
    assert len({inbound.peer for inbound in recorder.received}) == 1
    assert recorder.control_ids() == ["P0", "P1", "P2", "P3", "P4"]


def test_a_peer_that_closes_without_answering_is_unavailable(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    recorder.answer = "close"
    host, port = server.address
    with pytest.raises(HisUnavailable) as caught:
        MllpClient(host, port).exchange(message("C1"), timeout=5)
    assert str(caught.value) == f"对端 {host}:{port} 关闭了连接，未应答"
    assert recorder.control_ids() == ["C1", "C1"]  # opened again once and re-sent


def test_a_peer_that_does_not_answer_in_time_is_unavailable() -> None:
    release = threading.Event()

    def slow(inbound: InboundFrame) -> str:
        release.wait(5)
        return build_ack(inbound.text)

    with MllpServer("127.0.0.1", 0, slow) as server:
        host, port = server.address
        with pytest.raises(HisUnavailable) as caught:
            mllp.send(host, port, message(), timeout=0.3)
        release.set()
    assert str(caught.value) == f"对端 {host}:{port} 在 0.3 秒内未应答"


def test_the_server_closes_a_connection_of_noise_and_keeps_serving(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    with socket.create_connection(server.address, timeout=5) as noisy:
        noisy.sendall(b"X" * (mllp.MAX_GARBAGE_BYTES + 10))
        noisy.settimeout(5)
        assert noisy.recv(10) == b""  # closed by the server
    reply = mllp.send(*server.address, message("after-noise"), timeout=5)
    assert read_ack(reply).control_id == "after-noise"
    assert recorder.control_ids() == ["after-noise"]


# --- the connection test ------------------------------------------------------------------


@pytest.fixture
def his() -> Iterator[Hl7HisSimulator]:
    simulator = Hl7HisSimulator("127.0.0.1", free_port(), institutions={CODE, OTHER})
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.mark.req("HI-1")
def test_connection_test_against_the_simulator_test_port(his: Hl7HisSimulator) -> None:
    result = mllp.test_connection(his.test_address, CODE)
    assert result.ok is True
    assert result.message == f"HL7 连接正常：HIS 已确认测试消息（AA，{result.elapsed_ms} 毫秒）"
    refused = mllp.test_connection(his.test_address, "310106099")
    assert (refused.ok, refused.message) == (
        False,
        "HIS 拒绝了测试消息（AR）：本 HIS 不服务机构 310106099",
    )
    his.set_outage(CODE, True)
    host, port = his.test_address.split(":")
    down = mllp.test_connection(his.test_address, CODE)
    assert (down.ok, down.message) == (
        False,
        f"HL7 连接失败：对端 {host}:{port} 关闭了连接，未应答",
    )
    assert mllp.test_connection(his.test_address, OTHER).ok is True
    his.set_outage(CODE, False)
    assert mllp.test_connection(his.test_address, CODE).ok is True


@pytest.mark.req("HI-1")
def test_connection_test_against_a_closed_port_a_bad_address_and_the_wrong_his() -> None:
    port = free_port()
    closed = mllp.test_connection(f"127.0.0.1:{port}", CODE)
    assert (closed.ok, closed.message) == (
        False,
        f"HL7 连接失败：无法连接 127.0.0.1:{port}：连接被拒绝（端口未监听）",
    )
    bad = mllp.test_connection("his.example", CODE)
    assert (bad.ok, bad.message, bad.elapsed_ms) == (
        False,
        "MLLP 地址应为 主机:端口，例如 127.0.0.1:8107，收到“his.example”",
        0,
    )

    def another_hospital(inbound: InboundFrame) -> str:
        return build_ack(inbound.text).replace(f"|{CODE}|", f"|{OTHER}|", 1)

    with MllpServer("127.0.0.1", 0, another_hospital) as wrong:
        result = mllp.test_connection(wrong.endpoint, CODE)
    assert (result.ok, result.message) == (
        False,
        f"应答来自机构 {OTHER}，不是 {CODE}：请核对接口地址",
    )


# --- the simulator's outbound queue --------------------------------------------------------


def script(institution_code: str = CODE, seed: int = 7) -> list[HisEvent]:
    rng = random.Random(seed)
    plan = plan_visit(
        rng,
        institution_code=institution_code,
        dialect="A",
        visit_key=f"MZ{institution_code[-3:]}{seed:04d}",
        arrive_at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC),
        patient=PatientRef(name=NAME, id_number="310106195001011238", card_number="JK1"),
    )
    return visit_script(plan, rng)


@pytest.mark.req("HI-2")
def test_simulator_sends_each_event_once_acknowledged_and_duplicates_keep_their_id(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    events = script()[:6]
    with Hl7HisSimulator(*server.address) as simulator:
        simulator.set_charset(CODE, GB18030)
        for event in events:
            simulator.emit(event)
        simulator.emit(events[2])
        assert simulator.wait_idle(10)
        deliveries = list(simulator.deliveries)
    ids = [e.source_event_id for e in events]
    assert recorder.control_ids() == [*ids, ids[2]]
    assert [(d.control_id, d.ack.code) for d in deliveries] == [(i, "AA") for i in [*ids, ids[2]]]
    assert {r.charset for r in recorder.received} == {GB18030}
    assert [parse_message(r.text)[0].patient.name for r in recorder.received] == [NAME] * 7


@pytest.mark.req("HI-2")
def test_simulator_holds_messages_during_an_outage_and_sends_them_in_order_after(
    platform: tuple[MllpServer, Recorder],
) -> None:
    server, recorder = platform
    ours, theirs = script(CODE)[:5], script(OTHER)[:2]
    with Hl7HisSimulator(*server.address, retry_seconds=0.1) as simulator:
        simulator.set_outage(CODE, True)
        for event in ours:
            simulator.emit(event)
        for event in theirs:
            simulator.emit(event)  # another hospital's HIS is not down
        assert simulator.pending() == 5
        assert recorder.control_ids() == [e.source_event_id for e in theirs]
        simulator.set_outage(CODE, False)
        assert simulator.wait_idle(10)
    assert recorder.control_ids() == [e.source_event_id for e in theirs + ours]


@pytest.mark.req("HI-2")
def test_simulator_waits_for_an_unreachable_platform_and_catches_up_in_order() -> None:
    port = free_port()
    recorder = Recorder()
    events = script()[:4]
    with Hl7HisSimulator("127.0.0.1", port, retry_seconds=0.1, ack_timeout=2) as simulator:
        for event in events:
            simulator.emit(event)
        assert simulator.pending() == 4
        with MllpServer("127.0.0.1", port, recorder):
            assert simulator.wait_idle(10)
            simulator.emit(events[0])  # a duplicate after recovery goes straight out
            assert simulator.wait_idle(5)
    assert recorder.control_ids() == [e.source_event_id for e in [*events, events[0]]]


def test_an_error_acknowledgement_is_final(platform: tuple[MllpServer, Recorder]) -> None:
    server, recorder = platform
    recorder.answer = "AE"
    with Hl7HisSimulator(*server.address, retry_seconds=0.05) as simulator:
        simulator.emit(script()[0])
        assert simulator.wait_idle(5)
        time.sleep(0.2)
        (delivery,) = simulator.deliveries
    assert (delivery.ack.code, delivery.ack.error_code) == ("AE", "unknown_status")
    assert len(recorder.received) == 1
