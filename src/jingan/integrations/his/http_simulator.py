"""The one HTTP server of the simulated HIS systems that speak HTTP (dialects B and C).

Dialect B's HIS answers its query/ping service under ``/rest/<institution_code>/...``;
dialect C's HIS serves its 互联互通 SOAP endpoint at ``/hip/<institution_code>``. Each
dialect simulator mounts its handler under its first path segment, so one port
(``settings.VISITS["his_simulator_url"]``, by default http://127.0.0.1:8106) serves both,
as one hospital-side integration engine would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from jingan.lib.simulator import QuietHandler, SimulatorServer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatorRequest:
    """One request to a mounted handler; ``segments`` are the path parts after the mount."""

    method: str
    path: str
    segments: tuple[str, ...]
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class SimulatorAnswer:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


Route = Callable[[SimulatorRequest], SimulatorAnswer]


def text_answer(status: int, text: str) -> SimulatorAnswer:
    return SimulatorAnswer(status, text.encode("utf-8"), "text/plain; charset=utf-8")


class _Handler(QuietHandler):
    simulator: HisHttpSimulator

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = tuple(unquote(part) for part in url.path.split("/") if part)
        request = SimulatorRequest(
            method=method,
            path=url.path,
            segments=parts[1:],
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.read_body(),
        )
        answer = self.simulator.dispatch(parts[0] if parts else "", request)
        self.send_body(answer.status, answer.body, answer.content_type, answer.headers)


class HisHttpSimulator(SimulatorServer):
    """The shared HTTP server; ``mount("rest", handler)`` routes ``/rest/...`` to ``handler``."""

    handler = _Handler
    thread_name = "his-http-simulator"

    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[str, Route] = {}

    def mount(self, prefix: str, route: Route) -> None:
        self._routes[prefix.strip("/")] = route

    @property
    def mounted(self) -> tuple[str, ...]:
        return tuple(sorted(self._routes))

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def dispatch(self, prefix: str, request: SimulatorRequest) -> SimulatorAnswer:
        route = self._routes.get(prefix)
        if route is None:
            return text_answer(404, f"no simulated HIS service under /{prefix}")
        try:
            return route(request)
        except Exception:
            # A simulator bug must show as a server error, not a hung connection.
            logger.exception("simulated HIS handler /%s failed", prefix)
            return text_answer(500, "simulated HIS failed")
