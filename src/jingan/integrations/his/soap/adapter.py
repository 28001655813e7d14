"""Dialect C seen from the platform: poll a HIS's 互联互通 SOAP service (``PolledHis``).

``SoapHis(endpoint_url).poll(code, watermark)`` calls ``HIPMessageServer("MessageQuery",
...)`` for the messages published after ``watermark``, parses each with
``codec.parse_record`` and returns the events, the records it could not take (raw text
and reason, to be kept by the caller), and the watermark after the last message read —
rejected ones included, so a broken message is kept once and not read forever. Transport
failures, HTTP errors, SOAP Faults and negative acknowledgements raise ``HisUnavailable``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from jingan.integrations.his.port import (
    ConnectionTestResult,
    HisEvent,
    HisUnavailable,
    MessageRejected,
    PollResult,
)
from jingan.integrations.his.soap.codec import parse_record
from jingan.integrations.his.soap.wire import (
    QUERY_ACTION,
    SOAP_ACTION,
    SOAP_CONTENT_TYPE,
    MessageQuery,
    QueryReply,
    SoapFault,
    Watermark,
    query_message,
    read_reply,
    read_soap_response,
    soap_request,
)
from jingan.integrations.his.soap.xmlsafe import CHINA
from jingan.lib.http import OutboundClient, OutboundError

DEFAULT_TIMEOUT = 10.0


class SoapHis:
    """The platform's client of one dialect-C SOAP endpoint (``<base>/hip/<code>``)."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an HTTP endpoint: {endpoint_url!r}")
        self.endpoint_url = endpoint_url
        self._base_url = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path or "/"
        self.timeout = timeout
        self._clock = clock or (lambda: datetime.now(CHINA))

    def poll(self, institution_code: str, watermark: str, *, limit: int = 500) -> PollResult:
        """Messages published after ``watermark`` (``""``: from the start), oldest first."""
        after = Watermark.parse(watermark)
        reply = self._query(institution_code, after, max(1, limit))
        events: list[HisEvent] = []
        rejected: list[tuple[str, MessageRejected]] = []
        for message in reply.messages:
            try:
                parsed = parse_record(message.text)
                foreign = sorted({e.institution_code for e in parsed} - {institution_code})
                if foreign:
                    raise MessageRejected(
                        "foreign_institution",
                        f"消息的发送方机构 {'、'.join(foreign)} 与被轮询机构 {institution_code} 不符",
                    )
            except MessageRejected as error:
                rejected.append((message.text, error))
                continue
            events.extend(parsed)
        last = reply.messages[-1].watermark.text() if reply.messages else watermark
        return PollResult(events=events, rejected=rejected, watermark=last)

    def test_connection(self, institution_code: str) -> ConnectionTestResult:
        """One ``MessageQuery`` for nothing: reachable, answering, and for this institution."""
        started = time.monotonic()
        try:
            reply = self._query(institution_code, Watermark(), 0)
        except HisUnavailable as error:
            ok, message = False, str(error)
        else:
            ok, message = True, f"连接正常：互联互通服务应答 AA，消息日志共 {reply.total} 条"
        return ConnectionTestResult(ok, message, round((time.monotonic() - started) * 1000))

    def _query(self, institution_code: str, after: Watermark, limit: int) -> QueryReply:
        query = MessageQuery(
            query_id=str(uuid.uuid4()),
            institution_code=institution_code,
            after=after,
            limit=limit,
        )
        body = soap_request(QUERY_ACTION, query_message(query, now=self._clock()))
        headers = {"Content-Type": SOAP_CONTENT_TYPE, "SOAPAction": SOAP_ACTION}
        try:
            with OutboundClient(
                system="his-soap", base_url=self._base_url, timeout=self.timeout, retries=1
            ) as client:
                # A query changes nothing on the HIS: safe to repeat after a lost answer.
                response = client.request(
                    "POST", self._path, content=body, headers=headers, retry_unsafe=True
                )
        except OutboundError as error:
            if error.status is not None:
                raise HisUnavailable(f"HIS 接口应答 HTTP {error.status}") from error
            raise HisUnavailable(f"无法连接 HIS 接口：{error.message}") from error
        try:
            result = read_soap_response(response.content)
        except SoapFault as fault:
            raise HisUnavailable(
                f"HIS 接口返回 SOAP Fault（HTTP {response.status_code}）{fault.code}：{fault.text}"
            ) from None
        if response.status_code != 200:
            raise HisUnavailable(f"HIS 接口应答 HTTP {response.status_code}")
        try:
            reply = read_reply(result)
        except ValueError as error:
            raise HisUnavailable(f"HIS 接口应答无法解析：{error}") from None
        if reply.acknowledgement != "AA":
            raise HisUnavailable(
                f"HIS 拒绝查询（{reply.acknowledgement}）：{reply.detail or '未说明原因'}"
            )
        if reply.institution_code != institution_code:
            raise HisUnavailable(
                f"HIS 应答的机构编码 {reply.institution_code or '（空）'} 与 {institution_code} 不符"
            )
        return reply
