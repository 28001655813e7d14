"""A simulated dialect-B HIS: it pushes signed vendor JSON to the platform, in order.

``emit`` queues the event's vendor JSON (``codec.encode_push``; the message id is the
event's ``source_event_id``, so emitting an event twice re-sends the same ``msgId``) and
a sender thread posts it to ``POST /api/v1/his/push`` signed with the institution's SM2
key (the platform's published request scheme). Messages of one institution go out in
the order they were emitted; a backlog goes as a batch ``{"events": [...]}``. While the
platform cannot be reached, or answers 5xx, the sender retries with back-off and keeps
the order; while an institution's HIS is "down" (``set_outage``) its messages are held
and go out when it is back. A 4xx answer is final (the platform kept the message as
rejected, or refused the signature) and is recorded in ``answers``.

On the shared simulator HTTP server the HIS also answers ``GET /rest/<code>/ping`` with
``{"code": "0", "message": "成功", "hospCode": code, "serverTime": "yyyy-MM-dd HH:mm:ss"}``
(503 during an outage), which the platform's connection test calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jingan.integrations.his.http_simulator import (
    HisHttpSimulator,
    SimulatorAnswer,
    SimulatorRequest,
)
from jingan.integrations.his.port import HisEvent
from jingan.integrations.his.rest.codec import (
    CHINA,
    MAX_BATCH,
    encode_push,
    format_time,
    push_body,
)
from jingan.lib.http import OutboundClient, OutboundError

logger = logging.getLogger(__name__)

PUSH_PATH = "/api/v1/his/push"
# ``signer(app_id=, private_key_hex=, method=, path=, query=, body=)`` -> the four
# X-Jingan-* headers: the platform's SM2 request scheme as the vendor implemented it.
Signer = Callable[..., Mapping[str, str]]
Credentials = Mapping[str, tuple[str, str]]


def credentials_from_file(path: Path) -> Callable[[], dict[str, tuple[str, str]]]:
    """A reader of ``{code: {"app_id", "private_key_hex"}}`` at ``path``, read at each use."""

    def read() -> dict[str, tuple[str, str]]:
        try:
            stored = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {
            code: (str(entry["app_id"]), str(entry["private_key_hex"]))
            for code, entry in stored.items()
            if isinstance(entry, dict) and "app_id" in entry and "private_key_hex" in entry
        }

    return read


def _default_signer() -> Signer:
    # The hospital side's own implementation of the published scheme (not the platform's).
    from jingan.integrations.archives.signing import signature_headers

    return signature_headers


@dataclass(frozen=True)
class PushAnswer:
    """What the platform answered to one push (kept for tests and the clinic-day display)."""

    institution_code: str
    status: int
    body: Mapping[str, Any]
    events: int


class RestHisSimulator:
    """Dialect-B HIS systems of any number of institutions (``DialectSimulator``)."""

    dialect = "B"

    def __init__(
        self,
        platform_url: str,
        credentials: Credentials | Callable[[], Credentials],
        signer: Signer | None = None,
        *,
        http: HisHttpSimulator | None = None,
        institutions: Iterable[str] | None = None,
        batch_size: int = 20,
        timeout: float = 5.0,
        max_retry_seconds: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.platform_url = platform_url.rstrip("/")
        self._credentials = credentials
        self._signer = signer or _default_signer()
        self.http = http or HisHttpSimulator()
        self._owns_http = http is None
        self.http.mount("rest", self._handle)
        self.institutions = frozenset(institutions) if institutions is not None else None
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.timeout = timeout
        self.max_retry_seconds = max_retry_seconds
        self._clock = clock or (lambda: datetime.now(CHINA))
        self._push_path = urlsplit(self.platform_url).path.rstrip("/") + PUSH_PATH
        self._condition = threading.Condition()
        self._queues: dict[str, deque[tuple[HisEvent, datetime]]] = {}
        self._down: set[str] = set()
        self._all_down = False
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._in_flight = ""
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._outbound: OutboundClient | None = None
        self._client_lock = threading.Lock()
        self.answers: deque[PushAnswer] = deque(maxlen=1000)
        self.delivered = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the sender, and the HTTP server if this simulator owns it (a shared one is
        started by its owner); the server's base URL ("" while a shared one is not up)."""
        if self._owns_http and not self.http.is_running:
            self.http.start(host, port)
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(
                target=self._send_loop, name="his-b-sender", daemon=True
            )
            self._thread.start()
        return self.http.url if self.http.is_running else ""

    def base_url(self, institution_code: str) -> str:
        """The base URL of an institution's HIS query service (what ``HisConnection`` stores)."""
        return f"{self.http.url}/rest/{institution_code}"

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 2)
            self._thread = None
        if self._owns_http and self.http.is_running:
            self.http.stop()
        with self._client_lock:
            if self._outbound is not None:
                self._outbound.close()
                self._outbound = None

    # -- DialectSimulator ----------------------------------------------------------------

    def emit(self, event: HisEvent) -> None:
        code = event.institution_code
        if code not in self._current_credentials():
            raise ValueError(f"no push credentials for institution {code}")
        created_at = event.emitted_at or self._clock()
        with self._condition:
            self._queues.setdefault(code, deque()).append((event, created_at))
            self._condition.notify_all()

    def set_outage(self, institution_code: str | None, down: bool) -> None:
        with self._condition:
            if institution_code is None:
                self._all_down = down
                if not down:
                    self._down.clear()
            elif down:
                self._down.add(institution_code)
            else:
                self._down.discard(institution_code)
            self._condition.notify_all()

    def pending(self) -> int:
        with self._condition:
            return sum(len(queue) for queue in self._queues.values())

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every institution not in an outage has delivered its queue."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._in_flight or any(
                queue and not self._is_down(code) for code, queue in self._queues.items()
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.1))
            return True

    # -- sending -------------------------------------------------------------------------

    def _client(self) -> OutboundClient:
        # One client (and connection pool) for the simulator's life; httpx is thread-safe.
        with self._client_lock:
            if self._outbound is None:
                self._outbound = OutboundClient(
                    system="platform-his-push",
                    base_url=self.platform_url,
                    timeout=self.timeout,
                    retries=0,
                )
            return self._outbound

    def _current_credentials(self) -> Credentials:
        source = self._credentials
        return source() if callable(source) else source

    def _is_down(self, code: str) -> bool:
        return self._all_down or code in self._down

    def _next_ready(self, now: float) -> tuple[str, float]:
        """An institution whose queue may be sent now, else "" and how long to wait."""
        wait = 0.5
        for code, queue in self._queues.items():
            if not queue or self._is_down(code):
                continue
            due = self._retry_at.get(code, 0.0)
            if due <= now:
                return code, 0.0
            wait = min(wait, due - now)
        return "", wait

    def _send_loop(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._stopping:
                        return
                    code, wait = self._next_ready(time.monotonic())
                    if code:
                        break
                    self._condition.wait(wait)
                batch = list(self._queues[code])[: self.batch_size]
                self._in_flight = code
            try:
                delivered = self._deliver(code, batch)
            except Exception:
                logger.exception("simulated HIS %s: push failed unexpectedly", code)
                delivered = False
            with self._condition:
                queue = self._queues[code]
                if delivered:
                    for _ in batch:
                        queue.popleft()
                    self._failures.pop(code, None)
                    self._retry_at.pop(code, None)
                else:
                    failures = self._failures.get(code, 0) + 1
                    self._failures[code] = failures
                    delay = min(self.max_retry_seconds, 0.1 * 2 ** (failures - 1))
                    self._retry_at[code] = time.monotonic() + delay
                self._in_flight = ""
                self._condition.notify_all()

    def _deliver(self, code: str, batch: list[tuple[HisEvent, datetime]]) -> bool:
        """Post one batch; True when the platform has answered for good (2xx or 4xx)."""
        # createTime is per message: a batch of held messages keeps each one's own.
        body = push_body([encode_push(event, created_at=at) for event, at in batch])
        try:
            status, answer = self._post(code, body.encode("utf-8"))
        except OutboundError as error:
            logger.info("simulated HIS %s: platform unavailable (%s), will retry", code, error)
            return False
        if status == 429 or status >= 500:
            return False
        self.answers.append(PushAnswer(code, status, answer, len(batch)))
        if status == 200:
            self.delivered += len(batch)
        else:
            logger.warning(
                "simulated HIS %s: platform refused a push (%s %s)",
                code,
                status,
                answer.get("code", ""),
            )
        return True

    def _post(self, code: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        app_id, private_key_hex = self._current_credentials()[code]
        headers = dict(
            self._signer(
                app_id=app_id,
                private_key_hex=private_key_hex,
                method="POST",
                path=self._push_path,
                query="",
                body=raw,
            )
        )
        headers["Content-Type"] = "application/json; charset=utf-8"
        response = self._client().request("POST", PUSH_PATH, content=raw, headers=headers)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer if isinstance(answer, dict) else {}

    # -- the HIS's own HTTP service --------------------------------------------------------

    def _handle(self, request: SimulatorRequest) -> SimulatorAnswer:
        if len(request.segments) != 2 or request.segments[1] != "ping":
            return _json(404, {"code": "404", "message": "接口不存在"})
        if request.method != "GET":
            return _json(405, {"code": "405", "message": "请使用 GET"})
        code = request.segments[0]
        if self.institutions is not None and code not in self.institutions:
            return _json(404, {"code": "404", "message": f"本 HIS 未配置机构 {code}"})
        with self._condition:
            down = self._is_down(code)
        if down:
            return _json(503, {"code": "503", "message": "HIS 接口服务暂停"})
        return _json(
            200,
            {
                "code": "0",
                "message": "成功",
                "hospCode": code,
                "serverTime": format_time(self._clock().replace(microsecond=0)),
            },
        )


def _json(status: int, body: Mapping[str, Any]) -> SimulatorAnswer:
    return SimulatorAnswer(
        status,
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        "application/json; charset=utf-8",
    )
