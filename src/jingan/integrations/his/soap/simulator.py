"""A simulated dialect-C HIS: a 互联互通 platform interface that publishes HL7 v3 messages.

Per institution it keeps the log of the messages its services published (``emit``
appends the v3 message of an event; emitting the same event again appends a message
with the same id, as a HIS re-publishing it would). On the shared simulator HTTP server
it serves ``POST /hip/<institution_code>``: SOAP 1.1 ``HIPMessageServer(action,
message)`` answering ``MessageQuery`` from the log (see ``wire``). While an institution
is down (``set_outage``) it answers HTTP 503 with a SOAP Fault.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from jingan.integrations.his.http_simulator import (
    HisHttpSimulator,
    SimulatorAnswer,
    SimulatorRequest,
)
from jingan.integrations.his.port import HisEvent
from jingan.integrations.his.soap.codec import encode_record
from jingan.integrations.his.soap.wire import (
    QUERY_ACTION,
    SOAP_CONTENT_TYPE,
    PublishedMessage,
    QueryReply,
    SoapFault,
    read_query,
    read_soap_request,
    reply_message,
    soap_fault,
    soap_response,
)
from jingan.integrations.his.soap.xmlsafe import CHINA


class SoapHisSimulator:
    """Dialect-C HIS systems of any number of institutions (``DialectSimulator``)."""

    dialect = "C"

    def __init__(
        self,
        *,
        http: HisHttpSimulator | None = None,
        institutions: Iterable[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.http = http or HisHttpSimulator()
        self._owns_http = http is None
        self.http.mount("hip", self._handle)
        self.institutions = frozenset(institutions) if institutions is not None else None
        self._clock = clock or (lambda: datetime.now(CHINA))
        self._lock = threading.Lock()
        self._logs: dict[str, list[PublishedMessage]] = {}
        self._read_up_to: dict[str, int] = {}
        self._down: set[str] = set()
        self._all_down = False
        self.queries = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP server if this simulator owns it (a shared one: its owner does);
        the server's base URL ("" while a shared one is not up)."""
        if self._owns_http and not self.http.is_running:
            self.http.start(host, port)
        return self.http.url if self.http.is_running else ""

    def stop(self) -> None:
        if self._owns_http and self.http.is_running:
            self.http.stop()

    def endpoint(self, institution_code: str) -> str:
        """The SOAP endpoint URL of an institution's HIS (what ``HisConnection`` stores)."""
        return f"{self.http.url}/hip/{institution_code}"

    # -- DialectSimulator ----------------------------------------------------------------

    def emit(self, event: HisEvent) -> None:
        created_at = event.emitted_at or self._clock()
        self.publish_raw(event.institution_code, encode_record(event, created_at=created_at))

    def publish_raw(self, institution_code: str, text: str) -> int:
        """Append any text to the institution's log (a broken message); its sequence number."""
        with self._lock:
            log = self._logs.setdefault(institution_code, [])
            now = self._clock()
            # The log's publish time never goes back, even if the clock does.
            if log and now < log[-1].published_at:
                now = log[-1].published_at
            sequence = log[-1].sequence + 1 if log else 1
            log.append(PublishedMessage(sequence, now, text))
            return sequence

    def set_outage(self, institution_code: str | None, down: bool) -> None:
        with self._lock:
            if institution_code is None:
                self._all_down = down
                if not down:
                    self._down.clear()
            elif down:
                self._down.add(institution_code)
            else:
                self._down.discard(institution_code)

    def pending(self) -> int:
        """Published messages no query has returned yet."""
        with self._lock:
            return sum(
                sum(1 for entry in log if entry.sequence > self._read_up_to.get(code, 0))
                for code, log in self._logs.items()
            )

    def messages(self, institution_code: str) -> list[PublishedMessage]:
        with self._lock:
            return list(self._logs.get(institution_code, ()))

    # -- the SOAP endpoint ---------------------------------------------------------------

    def _handle(self, request: SimulatorRequest) -> SimulatorAnswer:
        if len(request.segments) != 1:
            return _fault(404, "soap:Client", "服务地址应为 /hip/<机构编码>")
        code = request.segments[0]
        if request.method != "POST":
            return _fault(405, "soap:Client", "HIPMessageServer 只接受 POST 的 SOAP 请求")
        with self._lock:
            down = self._all_down or code in self._down
        if down:
            return _fault(503, "soap:Server", "HIS 集成平台服务暂不可用")
        try:
            action, message = read_soap_request(request.body)
        except SoapFault as fault:
            return _fault(500, fault.code, fault.text)
        if action != QUERY_ACTION:
            return _fault(500, "soap:Client", f"不支持的 action：{action[:60]}")
        self.queries += 1
        now = self._clock()
        try:
            query = read_query(message)
        except ValueError as error:
            return _reply(QueryReply(code, "AE", f"查询消息无效：{error}"), "", now)
        if self.institutions is not None and code not in self.institutions:
            return _reply(QueryReply(code, "AE", f"本平台未接入机构 {code}"), query.query_id, now)
        if query.institution_code != code:
            detail = f"接收方 {query.institution_code or '（空）'} 与服务地址的机构 {code} 不符"
            return _reply(QueryReply(code, "AE", detail), query.query_id, now)
        low = query.after.published_at
        with self._lock:
            # Sequence numbers run 1, 2, 3 ... so the entries after n start at index n.
            after = self._logs.get(code, [])[query.after.sequence :]
            matching = [
                entry
                for entry in after
                if low is None or entry.published_at.replace(microsecond=0) >= low
            ]
            batch = matching[: query.limit]
            if batch:
                self._read_up_to[code] = max(self._read_up_to.get(code, 0), batch[-1].sequence)
        reply = QueryReply(
            code, "AA", messages=batch, total=len(matching), remaining=len(matching) - len(batch)
        )
        return _reply(reply, query.query_id, now)


def _reply(reply: QueryReply, query_id: str, now: datetime) -> SimulatorAnswer:
    text = reply_message(reply, query_id=query_id, reply_id=str(uuid.uuid4()), now=now)
    return SimulatorAnswer(200, soap_response(text), SOAP_CONTENT_TYPE)


def _fault(status: int, code: str, text: str) -> SimulatorAnswer:
    return SimulatorAnswer(status, soap_fault(code, text), SOAP_CONTENT_TYPE)
