"""MLLP: how HL7 v2 messages travel over TCP (0x0B message 0x1C 0x0D), in both directions.

- ``FrameReader`` cuts a byte stream into frames, whatever the reads look like (a frame
  split over many reads, several frames in one read); bytes outside frames are dropped
  and counted, a frame cut short by a new start block or by the end of the stream is
  handed out as broken so its content can still be kept.
- Charsets follow MSH-18 (HL7 table 0211 and what Chinese HIS write): ``UNICODE UTF-8``
  and ``UNICODE`` are UTF-8; ``GB 18030-2000``, ``GB18030``, ``GBK`` and ``GB2312`` are read
  as GB 18030 (a superset of the other two); no MSH-18 means UTF-8.
- ``MllpClient`` keeps one connection and exchanges a message for its ACK; ``send`` is
  the one-shot form; ``test_connection`` sends an ``NMQ^N01`` to a HIS and expects an
  ACK with MSA-1 ``AA`` echoing our MSH-10 from the institution asked (MSH-4).
- ``MllpServer`` is a threaded listener: every frame's text goes to a handler whose
  answer is sent back in the charset of its own MSH-18. The platform's HL7 listener and
  the HIS simulator's test port are both built on it.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jingan.integrations.his.hl7.codec import (
    SHANGHAI,
    build_test_message,
    read_ack,
)
from jingan.integrations.his.port import ConnectionTestResult, HisUnavailable, MessageRejected

logger = logging.getLogger(__name__)

__all__ = [
    "END_BLOCK",
    "START_BLOCK",
    "Frame",
    "FrameReader",
    "InboundFrame",
    "MllpClient",
    "MllpServer",
    "decode_frame",
    "encode_message",
    "frame",
    "python_codec",
    "send",
    "split_endpoint",
    "test_connection",
]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
MAX_FRAME_BYTES = 4 * 1024 * 1024
# Bytes outside any frame tolerated on one connection before it is closed as noise.
MAX_GARBAGE_BYTES = 64 * 1024

_CHARSETS: dict[str, str] = {
    "": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "ASCII": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
    "8859/1": "latin-1",
}


def python_codec(charset: str) -> str | None:
    """The Python codec for an MSH-18 value, ``None`` if we do not know it."""
    return _CHARSETS.get(" ".join(charset.upper().split()))


def frame(payload: bytes) -> bytes:
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True)
class Frame:
    payload: bytes
    complete: bool = True
    oversize: bool = False


class FrameReader:
    """Turns received bytes into frames; keeps what a read leaves unfinished."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._open = False
        self._skipping = False  # inside an oversize frame: drop until its end block
        self.garbage_bytes = 0

    def feed(self, data: bytes) -> list[Frame]:
        """The frames that ``data`` completes (broken ones included), in order."""
        frames: list[Frame] = []
        position = 0
        while position < len(data):
            if not self._open:
                start = data.find(START_BLOCK, position)
                noise = data[position : start if start >= 0 else len(data)]
                # CR/LF after an end block and keep-alive whitespace are not noise.
                self.garbage_bytes += len(noise.strip(b"\r\n \t"))
                if start < 0:
                    break
                self._open, self._skipping = True, False
                self._buffer.clear()
                position = start + 1
                continue
            end = data.find(END_BLOCK, position)
            restart = data.find(START_BLOCK, position)
            if restart >= 0 and (end < 0 or restart < end):
                # A new frame began before this one ended: hand out what we have as broken.
                self._append(data[position:restart])
                frames.append(self._broken())
                position = restart
                self._open = False
                continue
            if end < 0:
                self._append(data[position:])
                break
            self._append(data[position:end])
            frames.append(
                Frame(bytes(self._buffer), complete=not self._skipping, oversize=self._skipping)
            )
            self._buffer.clear()
            self._open = self._skipping = False
            position = end + 1
        return frames

    def _append(self, data: bytes) -> None:
        if self._skipping:
            return
        if len(self._buffer) + len(data) > self.max_frame_bytes:
            room = self.max_frame_bytes - len(self._buffer)
            self._buffer.extend(data[: max(room, 0)])
            self._skipping = True
            return
        self._buffer.extend(data)

    def _broken(self) -> Frame:
        broken = Frame(bytes(self._buffer), complete=False, oversize=self._skipping)
        self._buffer.clear()
        self._skipping = False
        return broken

    def close(self) -> Frame | None:
        """At the end of the stream: the frame left open, if any (broken)."""
        if not self._open:
            return None
        self._open = False
        leftover = self._broken()
        return leftover if leftover.payload.strip() else None


def sniff_charset(payload: bytes) -> str:
    """MSH-18 read from the raw bytes (the MSH segment is ASCII in every charset we know)."""
    first = payload.lstrip(b"\xef\xbb\xbf\r\n \t").split(b"\r", 1)[0].split(b"\n", 1)[0]
    return _msh_charset(first.decode("latin-1"))


def _msh_charset(text: str) -> str:
    text = text.lstrip("\ufeff\r\n \t").split("\r", 1)[0].split("\n", 1)[0]
    if not text.startswith("MSH") or len(text) < 8:
        return ""
    fields = text.split(text[3])
    if len(fields) < 18:
        return ""
    repetition = fields[1][1:2] or "~"
    return fields[17].split(repetition)[0].strip()


@dataclass(frozen=True)
class InboundFrame:
    """One received frame as text, with the charset it declared and any transport problem."""

    text: str
    charset: str
    peer: str
    error: MessageRejected | None = None


def decode_frame(received: Frame, peer: str = "") -> InboundFrame:
    """The text of a frame by its MSH-18; undecodable bytes become U+FFFD and an error."""
    charset = sniff_charset(received.payload)
    codec = python_codec(charset) or "utf-8"
    error: MessageRejected | None = None
    try:
        text = received.payload.decode(codec)
    except UnicodeDecodeError:
        text = received.payload.decode(codec, errors="replace")
        declared = charset or "（未声明，按 UTF-8）"
        error = MessageRejected(
            "bad_charset", f"报文无法按 MSH-18 声明的字符集 {declared} 解码，中文可能已乱码"
        )
    if received.oversize:
        error = MessageRejected(
            "frame_too_large", f"报文超过 {MAX_FRAME_BYTES // (1024 * 1024)} MB 上限，已截断"
        )
    elif not received.complete:
        error = MessageRejected("broken_frame", "MLLP 帧不完整：缺少结束符 0x1C 0x0D")
    return InboundFrame(text=text, charset=charset, peer=peer, error=error)


def encode_message(text: str) -> bytes:
    """The bytes of an HL7 message in the charset its MSH-18 names (UTF-8 if none or unknown)."""
    codec = python_codec(_msh_charset(text)) or "utf-8"
    return text.encode(codec, errors="replace")


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"host:port"`` as a pair; ``ValueError`` with a Chinese message when it is not one."""
    host, _, port = endpoint.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"MLLP 地址应为 主机:端口，例如 127.0.0.1:8107，收到“{endpoint}”")
    return host, int(port)


class MllpClient:
    """One persistent MLLP connection: send a message, wait for the ACK that answers it."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self._socket: socket.socket | None = None
        self._reader = FrameReader()

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
                self._reader = FrameReader()

    def _connect(self) -> socket.socket:
        if self._socket is None:
            try:
                self._socket = socket.create_connection(
                    (self.host, self.port), timeout=self.connect_timeout
                )
            except OSError as error:
                raise HisUnavailable(
                    f"无法连接 {self.host}:{self.port}：{_os_reason(error)}"
                ) from error
        return self._socket

    def exchange(self, message: str, *, timeout: float = 10.0, control_id: str = "") -> str:
        """Send ``message``; return the reply (the ACK whose MSA-2 is ``control_id`` if given).

        A connection the peer closed since the last exchange is opened again once.
        ``HisUnavailable`` when the peer cannot be reached or does not answer in time.
        """
        data = frame(encode_message(message))
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.settimeout(timeout)
                connection.sendall(data)
                return self._read_reply(connection, timeout, control_id)
            except _PeerClosed as error:
                self.close()
                if attempt == 2:
                    raise HisUnavailable(
                        f"对端 {self.host}:{self.port} 关闭了连接，未应答"
                    ) from error
            except TimeoutError as error:
                self.close()
                raise HisUnavailable(
                    f"对端 {self.host}:{self.port} 在 {timeout:g} 秒内未应答"
                ) from error
            except OSError as error:
                self.close()
                if attempt == 2:
                    raise HisUnavailable(
                        f"与 {self.host}:{self.port} 通信失败：{_os_reason(error)}"
                    ) from error
        raise AssertionError("unreachable")

    def _read_reply(self, connection: socket.socket, timeout: float, control_id: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            connection.settimeout(remaining)
            data = connection.recv(65536)
            if not data:
                raise _PeerClosed
            for received in self._reader.feed(data):
                if not received.complete:
                    continue
                text = decode_frame(received).text
                if control_id and _answers(text) != control_id:
                    continue  # a late ACK of an earlier message that timed out
                return text


class _PeerClosed(Exception):
    pass


def _answers(text: str) -> str:
    try:
        return read_ack(text).control_id
    except MessageRejected:
        return ""


def _os_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "连接被拒绝（端口未监听）"
    if isinstance(error, TimeoutError):
        return "连接超时"
    if isinstance(error, socket.gaierror):
        return "主机名无法解析"
    return error.strerror or error.__class__.__name__


def send(host: str, port: int, message: str, timeout: float = 10.0) -> str:
    """Send one message on a connection of its own and return the reply text."""
    client = MllpClient(host, port, connect_timeout=timeout)
    try:
        return client.exchange(message, timeout=timeout)
    finally:
        client.close()


def test_connection(
    endpoint: str,
    institution_code: str,
    *,
    timeout: float = 5.0,  # noqa: PT028 (not a test: the console's connection test)
) -> ConnectionTestResult:
    """Send an NMQ^N01 to the HIS at ``endpoint``; ok when it answers AA from that institution."""
    started = time.monotonic()

    def result(ok: bool, message: str) -> ConnectionTestResult:
        return ConnectionTestResult(ok, message, int((time.monotonic() - started) * 1000))

    try:
        host, port = split_endpoint(endpoint)
    except ValueError as error:
        return result(False, str(error))
    control_id = f"T{uuid.uuid4().hex[:19]}"
    message = build_test_message(
        institution_code, message_id=control_id, now=datetime.now(SHANGHAI)
    )
    try:
        reply = send(host, port, message, timeout=timeout)
    except HisUnavailable as error:
        return result(False, f"HL7 连接失败：{error}")
    try:
        ack = read_ack(reply)
    except MessageRejected as error:
        return result(False, f"HIS 的应答不是 HL7 确认消息：{error.reason}")
    if ack.control_id != control_id:
        return result(False, f"HIS 的应答未对应测试消息（MSA-2 为“{ack.control_id}”）")
    if not ack.accepted:
        why = f"：{ack.error_text}" if ack.error_text else ""
        return result(False, f"HIS 拒绝了测试消息（{ack.code}）{why}")
    if ack.sending_facility and ack.sending_facility != institution_code:
        return result(
            False, f"应答来自机构 {ack.sending_facility}，不是 {institution_code}：请核对接口地址"
        )
    elapsed = int((time.monotonic() - started) * 1000)
    return ConnectionTestResult(
        True, f"HL7 连接正常：HIS 已确认测试消息（AA，{elapsed} 毫秒）", elapsed
    )


# A module importing it into a test file must not have pytest collect it as a test.
test_connection.__test__ = False  # type: ignore[attr-defined]


# --- the server side ---------------------------------------------------------------------

# A handler's answer: the reply text to send (encoded by its MSH-18), "" to send nothing,
# or None to close the connection without an answer (the sender will send again).
Handler = Callable[[InboundFrame], str | None]


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    # Daemon threads never hold up the process's exit; ``MllpServer.stop`` ends them itself.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: MllpServer) -> None:
        self.owner = owner
        super().__init__(address, _ConnectionHandler)


class _ConnectionHandler(socketserver.BaseRequestHandler):
    server: _ThreadingServer

    def handle(self) -> None:
        owner = self.server.owner
        connection: socket.socket = self.request
        peer = "{}:{}".format(*self.client_address[:2])
        reader = FrameReader()
        connection.settimeout(0.5)
        owner.connection_opened(connection)
        try:
            while not owner.stopping.is_set():
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    leftover = reader.close()
                    if leftover is not None:
                        owner.dispatch(decode_frame(leftover, peer))
                    return
                for received in reader.feed(data):
                    reply = owner.dispatch(decode_frame(received, peer))
                    if reply is None:
                        return
                    if reply:
                        connection.sendall(frame(encode_message(reply)))
                    if received.oversize:
                        return
                if reader.garbage_bytes > MAX_GARBAGE_BYTES:
                    logger.warning("MLLP %s: closing a connection that sends no frames", peer)
                    return
        except OSError as error:
            logger.info("MLLP %s: connection ended: %s", peer, error)
        finally:
            owner.connection_closed(connection)


class MllpServer:
    """A threaded MLLP listener calling ``handler`` for every frame received."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        name: str = "mllp",
        on_connection_end: Callable[[], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.handler = handler
        self.name = name
        self.on_connection_end = on_connection_end
        self.stopping = threading.Event()
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return self.host, self.port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        host, port = self.address
        return f"{host}:{port}"

    def start(self) -> None:
        """Bind and serve in a background thread (``OSError`` if the port is taken)."""
        if self._server is not None:
            return
        self.stopping.clear()
        self._server = _ThreadingServer((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=self.name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._connections_changed:
            # Ends the reads at once: no message is taken after ``stop`` returns.
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections_changed.wait_for(lambda: not self._connections, timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def dispatch(self, inbound: InboundFrame) -> str | None:
        try:
            return self.handler(inbound)
        except Exception:
            # The message is not acknowledged, so the sender keeps it and sends it again.
            logger.exception("MLLP %s: handler failed; closing without an ACK", self.name)
            return None

    def connection_opened(self, connection: socket.socket) -> None:
        with self._connections_changed:
            self._connections.add(connection)

    def connection_closed(self, connection: socket.socket) -> None:
        if self.on_connection_end is not None:
            try:
                self.on_connection_end()
            except Exception:
                logger.exception("MLLP %s: connection clean-up failed", self.name)
        with self._connections_changed:
            self._connections.discard(connection)
            self._connections_changed.notify_all()

    def __enter__(self) -> MllpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
