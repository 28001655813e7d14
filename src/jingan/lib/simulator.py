"""What the external-system simulators share: a threaded HTTP server and its lifecycle.

A simulator subclasses ``SimulatorServer`` and names its ``QuietHandler`` subclass; each
``bind`` gives the handler a ``simulator`` attribute pointing back at the instance. The
server runs in a background thread (``start()``/``stop()``), in the foreground
(``bind()`` then ``serve_forever()``), or beside ``jingan serve``
(``serve_until_stopped``, from an integration's ``background.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that reads the whole body, answers in one call and logs nothing."""

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Requests carry ID numbers, codes and tokens; simulators keep their console quiet.
        return


class SimulatorServer:
    """An HTTP server on demand for a simulator; subclasses set ``handler`` and ``thread_name``."""

    handler: ClassVar[type[QuietHandler]]
    thread_name: ClassVar[str]

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # A handler class per server, so two simulators in one process never share state.
        handler = type("Handler", (self.handler,), {"simulator": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "simulator not bound"
        host, bound_port = self._server.server_address[:2]
        return f"http://{host!s}:{bound_port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; return the base URL."""
        url = self.bind(host, port)
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_name}-{port}",
            daemon=True,
        )
        self._thread.start()
        return url

    def serve_forever(self) -> None:
        assert self._server is not None, "call bind() first"
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


def serve_until_stopped(
    stop: threading.Event,
    simulator: SimulatorServer,
    base_url: str,
    *,
    label: str,
    logger: logging.Logger,
) -> None:
    """Run ``simulator`` at ``base_url`` until ``stop`` is set (a background component's body)."""
    address = urlsplit(base_url)
    try:
        simulator.start(address.hostname or "127.0.0.1", address.port or 80)
    except OSError as error:
        # Another simulator (e.g. `jingan simulate`) may already own the port: use that one.
        logger.warning("%s not started on %s: %s", label, address.netloc, error)
        return
    logger.info("%s at %s", label, simulator.url)
    stop.wait()
    simulator.stop()
