"""Dialect B simulator over real HTTP: signed pushes in order, outages, retries, batches,
duplicates, and the HIS ping behind the connection test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from jingan.integrations.his.http_simulator import (
    HisHttpSimulator,
    SimulatorAnswer,
    SimulatorRequest,
)
from jingan.integrations.his.port import HisEvent
from jingan.integrations.his.rest import adapter
from jingan.integrations.his.rest.simulator import RestHisSimulator

CST = timezone(timedelta(hours=8))
CODE = "310106009"
OTHER = "310106010"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=CST)


@dataclass
class FakePlatform:
    """The platform's push endpoint as the simulator sees it: records posts, answers a script."""

    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: SimulatorRequest) -> SimulatorAnswer:
        body = json.loads(request.body)
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200:
                self.posts.append((dict(request.headers), body))
        events = body.get("events", [body])
        answer = (
            {"code": "0", "message": "成功", "accepted": len(events), "duplicates": 0}
            if status == 200
            else {"code": "unknown_event_type", "message": "未知的事件类型", "rejectedId": 7}
        )
        return SimulatorAnswer(status, json.dumps(answer).encode(), "application/json")

    def msg_ids(self) -> list[str]:
        with self.lock:
            return [e["msgId"] for _, body in self.posts for e in body.get("events", [body])]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def signer(**parts: Any) -> dict[str, str]:
    # Records what was signed so the test can check it is exactly what was posted.
    return {
        "X-Jingan-App-Id": parts["app_id"],
        "X-Jingan-Signature": f"{parts['method']} {parts['path']} {len(parts['body'])}",
    }


@pytest.fixture
def platform() -> Iterator[tuple[FakePlatform, str]]:
    fake = FakePlatform()
    server = HisHttpSimulator()
    server.mount("api", fake.handle)
    url = server.start()
    yield fake, url
    server.stop()


@pytest.fixture
def his(platform: tuple[FakePlatform, str]) -> Iterator[RestHisSimulator]:
    _, url = platform
    simulator = RestHisSimulator(
        url,
        {CODE: ("his-b-310106009", "00" * 32), OTHER: ("his-b-310106010", "00" * 32)},
        signer,
        max_retry_seconds=0.2,
        clock=lambda: T0,
    )
    simulator.start()
    yield simulator
    simulator.stop()


def event(n: int, code: str = CODE, **changes: Any) -> HisEvent:
    fields: dict[str, Any] = {
        "source": f"his-b:{code}",
        "source_event_id": f"MZ001-{n:03d}",
        "institution_code": code,
        "visit_key": "MZ001",
        "node": "waiting",
        "status": "waiting",
        "occurred_at": T0 + timedelta(minutes=n),
        "payload": {"ahead": 10 - n},
        **changes,
    }
    return HisEvent(**fields)


@pytest.mark.req("HI-2")
def test_each_event_is_posted_signed_as_its_institution(
    his: RestHisSimulator, platform: Any
) -> None:
    fake, _ = platform
    his.emit(event(1))
    assert his.flush(5)
    his.emit(event(2, OTHER))
    assert his.flush(5)

    (headers, body), (other_headers, _) = fake.posts
    assert body == {
        "msgId": "MZ001-001",
        "hospCode": CODE,
        "action": "NEW",
        "visitNo": "MZ001",
        "eventTime": "2026-11-26 09:01:00",
        "eventType": "QUEUE_UPDATE",
        "createTime": "2026-11-26 09:00:00.000",
        "data": {"waitCount": 9},
    }
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert headers["x-jingan-app-id"] == "his-b-310106009"
    assert headers["x-jingan-signature"] == f"POST /api/v1/his/push {len(raw)}"
    assert other_headers["x-jingan-app-id"] == "his-b-310106010"
    assert [a.status for a in his.answers] == [200, 200]
    assert his.delivered == 2


@pytest.mark.req("HI-2")
def test_an_outage_holds_messages_and_sends_them_in_order_as_one_batch(
    his: RestHisSimulator, platform: Any
) -> None:
    fake, _ = platform
    his.set_outage(CODE, True)
    for n in range(1, 6):
        his.emit(event(n))
    his.emit(event(1, OTHER))
    assert his.flush(5)
    assert fake.msg_ids() == ["MZ001-001"]  # the other institution is not held
    assert his.pending() == 5

    his.set_outage(CODE, False)
    assert his.flush(5)

    assert fake.msg_ids() == ["MZ001-001", *[f"MZ001-{n:03d}" for n in range(1, 6)]]
    assert len(fake.posts) == 2  # the backlog went as one {"events": [...]} batch
    assert his.pending() == 0


@pytest.mark.req("HI-2")
def test_a_failing_platform_is_retried_without_reordering(
    his: RestHisSimulator, platform: Any
) -> None:
    fake, _ = platform
    fake.statuses = [503, 502]
    his.emit(event(1))
    his.emit(event(2))
    assert his.flush(5)
    assert fake.msg_ids() == ["MZ001-001", "MZ001-002"]


@pytest.mark.req("HI-2")
def test_an_unreachable_platform_is_retried_until_it_answers() -> None:
    fake = FakePlatform()
    server = HisHttpSimulator()
    server.mount("api", fake.handle)
    port = free_port()  # nobody listens there yet
    url = f"http://127.0.0.1:{port}"
    simulator = RestHisSimulator(url, {CODE: ("a", "00")}, signer, max_retry_seconds=0.1)
    simulator.start()
    try:
        simulator.emit(event(1))
        assert not simulator.flush(0.5)
        assert simulator.pending() == 1
        server.start(port=port)
        assert simulator.flush(5)
        assert fake.msg_ids() == ["MZ001-001"]
    finally:
        simulator.stop()
        server.stop()


@pytest.mark.req("HI-2")
def test_a_refused_push_is_not_retried(his: RestHisSimulator, platform: Any) -> None:
    fake, _ = platform
    fake.statuses = [422]
    his.emit(event(1))
    his.emit(event(2))
    assert his.flush(5)
    assert [(a.status, a.body.get("code"), a.events) for a in his.answers] == [
        (422, "unknown_event_type", 2),
    ]
    assert fake.msg_ids() == []


@pytest.mark.req("HI-2")
def test_emitting_twice_resends_the_same_message_id(his: RestHisSimulator, platform: Any) -> None:
    fake, _ = platform
    his.emit(event(1))
    assert his.flush(5)
    his.emit(event(1))
    assert his.flush(5)
    assert fake.msg_ids() == ["MZ001-001", "MZ001-001"]


def test_an_institution_without_credentials_cannot_emit(his: RestHisSimulator) -> None:
    with pytest.raises(ValueError, match="no push credentials for institution 310106099"):
        his.emit(event(1, "310106099"))


@pytest.mark.req("HI-1")
def test_the_connection_test_pings_the_his(his: RestHisSimulator) -> None:

    ok = adapter.test_connection(his.base_url(CODE), CODE)
    wrong = adapter.test_connection(his.base_url(OTHER), CODE)
    his.set_outage(CODE, True)
    down = adapter.test_connection(his.base_url(CODE), CODE)

    assert (ok.ok, ok.message) == (True, "连接正常，HIS 服务器时间 2026-11-26 09:00:00")
    assert (wrong.ok, wrong.message) == (
        False,
        "HIS 应答的机构编码 310106010 与本机构 310106009 不符",
    )
    assert (down.ok, down.message) == (False, "HIS 接口服务异常：HTTP 503")
    assert ok.elapsed_ms >= 0


@pytest.mark.req("HI-1")
def test_the_connection_test_reports_an_unreachable_his() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = adapter.test_connection(f"{url}/rest/{CODE}", CODE)

    assert result.ok is False
    assert result.message.startswith("无法连接 HIS 接口服务：")


@pytest.mark.req("HI-1")
def test_a_his_configured_for_some_institutions_does_not_answer_for_others(
    platform: Any,
) -> None:
    _, url = platform
    simulator = RestHisSimulator(url, {}, signer, institutions=[CODE])
    simulator.start()
    try:
        result = adapter.test_connection(simulator.base_url(OTHER), OTHER)
    finally:
        simulator.stop()
    assert (result.ok, result.message) == (False, "HIS 接口服务应答 HTTP 404")


@pytest.mark.req("HI-1")
def test_one_server_serves_the_b_and_c_his_services(platform: Any) -> None:
    from jingan.integrations.his.soap.adapter import SoapHis
    from jingan.integrations.his.soap.simulator import SoapHisSimulator

    _, url = platform
    shared = HisHttpSimulator()
    rest = RestHisSimulator(url, {}, signer, http=shared, clock=lambda: T0)
    soap = SoapHisSimulator(http=shared)
    shared_url = shared.start()
    rest.start()
    soap.start()
    try:
        b = adapter.test_connection(rest.base_url(CODE), CODE)
        c = SoapHis(soap.endpoint("310106003")).test_connection("310106003")
        elsewhere = httpx.get(f"{shared.url}/mllp/310106001", trust_env=False)
        urls = (rest.base_url(CODE), soap.endpoint("310106003"))
    finally:
        rest.stop()
        soap.stop()
        assert shared.is_running  # the simulators leave a shared server to its owner
        shared.stop()

    assert (b.ok, c.ok) == (True, True)
    assert urls == (f"{shared_url}/rest/{CODE}", f"{shared_url}/hip/310106003")
    assert (elsewhere.status_code, elsewhere.text) == (404, "no simulated HIS service under /mllp")
