"""The dialect-A HIS simulator: an HL7 v2.5 interface engine talking MLLP to the platform.

``emit`` encodes the event with ``codec.build_message`` (MSH-10 = the event id, so a
repeated emission re-sends the same message) and sends it over one persistent MLLP
connection, waiting for the ACK. Like an interface engine it keeps an outbound queue per
institution: while that HIS is in an outage, or while the platform cannot be reached or
does not acknowledge, messages wait and are sent later in their order by a background
thread. An AE/AR answer is final (the engine logs it and goes on): re-sending the same
bytes would be refused the same way.

The simulator also listens on a small MLLP test port (the HIS side of the console's
connection test): it answers an ``NMQ^N01`` with ``ACK`` AA from the institution asked
(MSH-6 of the test), AR for an institution it does not serve, and nothing (the
connection is dropped) for an institution in an outage.

Charsets: UTF-8 (MSH-18 ``UNICODE UTF-8``) by default; ``set_charset(code, "GB 18030-2000")``
makes one institution's HIS write GB 18030 bytes, as many Chinese HIS do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from jingan.integrations.his.hl7.codec import (
    SHANGHAI,
    Acknowledgement,
    build_ack,
    build_message,
    read_ack,
    read_header,
    with_emitted_at,
)
from jingan.integrations.his.hl7.mllp import InboundFrame, MllpClient, MllpServer
from jingan.integrations.his.port import HisEvent, HisUnavailable, MessageRejected

logger = logging.getLogger(__name__)

__all__ = ["GB18030", "UTF8", "Delivery", "Hl7HisSimulator"]

UTF8 = "UNICODE UTF-8"
GB18030 = "GB 18030-2000"


@dataclass(frozen=True)
class _Outbound:
    institution_code: str
    control_id: str
    text: str


@dataclass(frozen=True)
class Delivery:
    """A message the platform answered: which one, and the ACK it got."""

    institution_code: str
    control_id: str
    ack: Acknowledgement
    raw_ack: str


class Hl7HisSimulator:
    """Dialect-A HIS systems for any number of institutions (``DialectSimulator``)."""

    dialect = "A"

    def __init__(
        self,
        platform_host: str,
        platform_port: int,
        test_listen: tuple[str, int] = ("127.0.0.1", 0),
        *,
        charsets: Mapping[str, str] | None = None,
        institutions: Iterable[str] | None = None,
        ack_timeout: float = 10.0,
        retry_seconds: float = 1.0,
        sending_application: str = "HIS",
    ) -> None:
        self.platform_host, self.platform_port = platform_host, platform_port
        self.ack_timeout = ack_timeout
        self.retry_seconds = retry_seconds
        self.sending_application = sending_application
        self.institutions = frozenset(institutions) if institutions is not None else None
        self._charsets: dict[str, str] = dict(charsets or {})
        self._queues: dict[str, deque[_Outbound]] = {}
        self._down: set[str] = set()
        self._all_down = False
        self._platform_reachable = True
        self._lock = threading.Lock()  # queues and outage flags
        self._send_lock = threading.Lock()  # the one connection to the platform
        self._client = MllpClient(platform_host, platform_port, connect_timeout=ack_timeout)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._test_server = MllpServer(
            test_listen[0], test_listen[1], self._answer_test, name="hl7-his-test-port"
        )
        self.deliveries: deque[Delivery] = deque(maxlen=10_000)

    # -- lifecycle

    def start(self) -> None:
        self._test_server.start()
        if self._worker is None:
            self._stopping.clear()
            self._worker = threading.Thread(target=self._run, name="hl7-his-simulator", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=self.ack_timeout + 5)
            self._worker = None
        self._test_server.stop()
        with self._send_lock:
            self._client.close()

    def __enter__(self) -> Hl7HisSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def test_address(self) -> str:
        """Where the HIS test port listens, ``host:port`` (the connection's endpoint)."""
        return self._test_server.endpoint

    # -- configuration

    def set_charset(self, institution_code: str, charset: str) -> None:
        """MSH-18 (and the bytes) of one institution's messages, e.g. ``GB 18030-2000``."""
        self._charsets[institution_code] = charset

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
        if not down:
            self._wake.set()

    def _is_down(self, institution_code: str) -> bool:
        return self._all_down or institution_code in self._down

    # -- sending

    def message_for(self, event: HisEvent, *, now: datetime | None = None) -> str:
        """The message ``emit`` would send for ``event`` (MSH-7 stamped now if unset)."""
        stamped = with_emitted_at(event, now or datetime.now(SHANGHAI))
        return build_message(
            stamped,
            message_id=event.source_event_id,
            charset=self._charsets.get(event.institution_code, UTF8),
            sending_application=self.sending_application,
        )

    def emit(self, event: HisEvent) -> None:
        """Queue the event's message behind the institution's earlier ones and try to send."""
        self.emit_text(event.institution_code, event.source_event_id, self.message_for(event))

    def emit_text(self, institution_code: str, control_id: str, text: str) -> None:
        """Queue a ready-made message (the clinic-day player's malformed samples, tests)."""
        with self._lock:
            self._queues.setdefault(institution_code, deque()).append(
                _Outbound(institution_code, control_id, text)
            )
            ready = self._platform_reachable and not self._is_down(institution_code)
        if ready:
            self._flush(institution_code)

    def pending(self) -> int:
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued message is answered (``False`` if still pending at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    def _flush(self, institution_code: str) -> bool:
        """Send the institution's queue in order; ``False`` if the platform stopped answering."""
        with self._send_lock:
            while True:
                with self._lock:
                    queue = self._queues.get(institution_code)
                    if not queue or self._is_down(institution_code):
                        return True
                    head = queue[0]
                try:
                    raw_ack = self._client.exchange(
                        head.text, timeout=self.ack_timeout, control_id=head.control_id
                    )
                except HisUnavailable as error:
                    with self._lock:
                        if self._platform_reachable:
                            logger.warning(
                                "HL7 HIS simulator: platform unreachable, holding messages (%s)",
                                error,
                            )
                        self._platform_reachable = False
                    return False
                with self._lock:
                    queue.popleft()
                    self._platform_reachable = True
                self._record(head, raw_ack)

    def _record(self, sent: _Outbound, raw_ack: str) -> None:
        try:
            ack = read_ack(raw_ack)
        except MessageRejected:
            ack = Acknowledgement("AR", sent.control_id, "", "not_hl7", "应答不是 HL7 确认消息")
        if not ack.accepted:
            logger.warning(
                "HL7 HIS simulator: message %s answered %s (%s)",
                sent.control_id,
                ack.code,
                ack.error_code,
            )
        self.deliveries.append(Delivery(sent.institution_code, sent.control_id, ack, raw_ack))

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.retry_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            with self._lock:
                codes = [
                    code
                    for code, queue in self._queues.items()
                    if queue and not self._is_down(code)
                ]
            for code in codes:
                if not self._flush(code):
                    break  # the platform is away: try again after the retry interval

    # -- the HIS test port

    def _answer_test(self, inbound: InboundFrame) -> str | None:
        try:
            header = read_header(inbound.text)
        except MessageRejected as error:
            return build_ack(None, "AR", error)
        code = header.receiving_facility
        if self.institutions is not None and code not in self.institutions:
            return build_ack(
                header,
                "AR",
                MessageRejected("unknown_institution", f"本 HIS 不服务机构 {code or '（空）'}"),
            )
        with self._lock:
            down = self._is_down(code)
        if down:
            return None  # the interface engine is down: the connection just drops
        return build_ack(header, "AA")
