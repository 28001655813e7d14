"""Dialect C over real HTTP: SoapHis polls the simulated HIS's SOAP service (watermark,
batches, late and duplicate messages, broken records, outages, safe XML)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from jingan.integrations.his.port import HisEvent, HisUnavailable
from jingan.integrations.his.soap.adapter import SoapHis
from jingan.integrations.his.soap.simulator import SoapHisSimulator
from jingan.integrations.his.soap.wire import SOAP_ACTION, soap_request

CST = timezone(timedelta(hours=8))
CODE = "310106003"
OTHER = "310106004"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=CST)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def his(clock: Clock) -> Iterator[SoapHisSimulator]:
    simulator = SoapHisSimulator(clock=clock)
    simulator.start()
    yield simulator
    simulator.stop()


def event(n: int, code: str = CODE, **changes: Any) -> HisEvent:
    fields: dict[str, Any] = {
        "source": f"his-c:{code}",
        "source_event_id": f"msg-{n:04d}",
        "institution_code": code,
        "visit_key": "MZ031",
        "node": "waiting",
        "status": "waiting",
        "occurred_at": T0 + timedelta(minutes=n),
        "payload": {"ahead": 10 - n, "queue_no": "03-017"},
        **changes,
    }
    return HisEvent(**fields)


@pytest.mark.req("HI-2")
def test_polls_read_the_log_in_order_and_the_watermark_advances(
    his: SoapHisSimulator, clock: Clock
) -> None:
    for n in range(1, 6):
        his.emit(event(n))
        clock.advance(1)
    client = SoapHis(his.endpoint(CODE))

    first = client.poll(CODE, "", limit=3)
    second = client.poll(CODE, first.watermark, limit=3)
    third = client.poll(CODE, second.watermark, limit=3)

    assert [e.source_event_id for e in first.events] == ["msg-0001", "msg-0002", "msg-0003"]
    assert first.watermark == "20261126090002|3"
    assert [e.source_event_id for e in second.events] == ["msg-0004", "msg-0005"]
    assert second.watermark == "20261126090004|5"
    assert (list(third.events), list(third.rejected), third.watermark) == (
        [],
        [],
        "20261126090004|5",
    )
    assert first.events[0] == HisEvent(**{**event(1).__dict__, "emitted_at": T0})
    assert his.pending() == 0


@pytest.mark.req("HI-2")
def test_a_late_message_and_a_republished_one_are_still_read(
    his: SoapHisSimulator, clock: Clock
) -> None:
    his.emit(event(5))
    client = SoapHis(his.endpoint(CODE))
    seen = client.poll(CODE, "")
    clock.advance(30)
    # Happened before the one already read, published after it; then the HIS re-sends it.
    his.emit(event(2))
    his.emit(event(2))

    later = client.poll(CODE, seen.watermark)

    assert [(e.source_event_id, e.occurred_at) for e in later.events] == [
        ("msg-0002", T0 + timedelta(minutes=2)),
        ("msg-0002", T0 + timedelta(minutes=2)),
    ]
    assert later.watermark == "20261126090030|3"


@pytest.mark.req("HI-2")
def test_a_broken_record_is_returned_as_rejected_and_the_rest_are_taken(
    his: SoapHisSimulator,
) -> None:
    his.emit(event(1))
    his.publish_raw(CODE, "<PRPA_IN400001UV><id extension='x'/>")
    his.emit(event(2, OTHER))  # published in the wrong institution's log
    his.publish_raw(CODE, his.messages(OTHER)[0].text)
    his.emit(event(3))

    result = SoapHis(his.endpoint(CODE)).poll(CODE, "")

    assert [e.source_event_id for e in result.events] == ["msg-0001", "msg-0003"]
    assert [(raw[:16], error.code) for raw, error in result.rejected] == [
        ("<PRPA_IN400001UV", "malformed_xml"),
        ("<VND_IN100001UV ", "foreign_institution"),
    ]
    assert result.rejected[1][1].reason == "消息的发送方机构 310106004 与被轮询机构 310106003 不符"
    assert result.watermark.endswith("|4")


@pytest.mark.req("HI-2", "VA-3")
def test_an_outage_raises_his_unavailable_and_nothing_is_lost(his: SoapHisSimulator) -> None:
    his.emit(event(1))
    his.set_outage(CODE, True)
    client = SoapHis(his.endpoint(CODE))

    with pytest.raises(HisUnavailable) as caught:
        client.poll(CODE, "")
    his.emit(event(2))
    his.set_outage(CODE, False)
    result = client.poll(CODE, "")

    assert str(caught.value) == "HIS 接口应答 HTTP 503"
    assert [e.source_event_id for e in result.events] == ["msg-0001", "msg-0002"]


@pytest.mark.req("HI-2")
def test_an_unreachable_his_raises_his_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HisUnavailable, match="无法连接 HIS 接口"):
        SoapHis(f"http://127.0.0.1:{port}/hip/{CODE}", timeout=1).poll(CODE, "")


@pytest.mark.req("HI-2")
def test_a_query_for_another_institutions_endpoint_is_refused(his: SoapHisSimulator) -> None:
    with pytest.raises(HisUnavailable) as caught:
        SoapHis(his.endpoint(OTHER)).poll(CODE, "")
    assert (
        str(caught.value) == "HIS 拒绝查询（AE）：接收方 310106003 与服务地址的机构 310106004 不符"
    )


@pytest.mark.req("HI-1")
def test_the_connection_test_queries_the_log(his: SoapHisSimulator) -> None:
    his.emit(event(1))
    his.emit(event(2))

    ok = SoapHis(his.endpoint(CODE)).test_connection(CODE)
    his.set_outage(None, True)
    down = SoapHis(his.endpoint(CODE)).test_connection(CODE)

    assert (ok.ok, ok.message) == (True, "连接正常：互联互通服务应答 AA，消息日志共 2 条")
    assert (down.ok, down.message) == (False, "HIS 接口应答 HTTP 503")
    assert his.pending() == 2  # a connection test reads nothing


@pytest.mark.req("HI-2")
def test_the_his_answers_faults_for_what_it_does_not_serve(his: SoapHisSimulator) -> None:
    url = his.endpoint(CODE)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION}
    doctype = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<Envelope>&e;</Envelope>"
    )
    with httpx.Client(trust_env=False) as client:
        unknown = client.post(
            url, content=soap_request("PatientInfoQuery", "<x/>"), headers=headers
        )
        hostile = client.post(url, content=doctype, headers=headers)
        his.set_outage(CODE, True)
        down = client.post(url, content=soap_request("MessageQuery", "<x/>"), headers=headers)

    assert unknown.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in unknown.text
    assert "不支持的 action：PatientInfoQuery" in unknown.text
    assert hostile.status_code == 500
    assert "root:" not in hostile.text
    assert "<faultstring>不是可解析的 SOAP 报文：DTDForbidden</faultstring>" in hostile.text
    assert down.status_code == 503
    assert "<faultstring>HIS 集成平台服务暂不可用</faultstring>" in down.text


def test_a_watermark_that_is_not_ours_is_a_programming_error(his: SoapHisSimulator) -> None:
    with pytest.raises(ValueError, match="bad SOAP watermark"):
        SoapHis(his.endpoint(CODE)).poll(CODE, "2026-11-26 09:00")
