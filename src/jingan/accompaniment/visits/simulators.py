"""The four HIS simulators, wired from the settings, and their control service.

``HisSimulators`` builds and runs the dialect A–D simulators as the demo and the
clinic-day player use them: A sends HL7 v2 over MLLP to our listener and answers
connection tests on the simulator port + 1; B pushes signed JSON to the platform and
serves its query/ping service; C serves its 互联互通 SOAP endpoint; D writes its HIS
database views. B and C share one HTTP server at ``settings.VISITS["his_simulator_url"]``.

That HTTP server also carries a small control service (``/control/...``), so a
clinic-day player in another process (``jingan simulate clinic-day`` beside
``jingan serve``) drives the simulators that ``serve`` runs:

- ``POST /control/emit``: canonical JSON events (``integrations.his.canonical``); each is
  emitted by the simulator of its institution's dialect;
- ``POST /control/outage``: ``{"institution": code | null, "dialect": "A".."D", "down": bool}``;
- ``GET /control/status``: dialects, institutions and messages held back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from jingan.integrations.his.canonical import parse_canonical, to_canonical
from jingan.integrations.his.http_simulator import (
    HisHttpSimulator,
    SimulatorAnswer,
    SimulatorRequest,
)
from jingan.integrations.his.port import HisEvent, MessageRejected
from jingan.lib.http import OutboundClient, OutboundError

logger = logging.getLogger(__name__)

__all__ = ["HisSimulators", "RemoteSimulators", "institution_dialects", "mllp_address"]


def mllp_address() -> tuple[str, int]:
    host, _, port = str(settings.VISITS["mllp_listen"]).rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def simulator_address() -> tuple[str, int]:
    address = urlsplit(str(settings.VISITS["his_simulator_url"]))
    return address.hostname or "127.0.0.1", address.port or 8106


def institution_dialects() -> dict[str, str]:
    """Active institution code -> its HIS dialect letter."""
    from django.apps import apps

    model = apps.get_model("institutions", "Institution")
    return dict(model.objects.unscoped().filter(is_active=True).values_list("code", "his_dialect"))


class HisSimulators:
    """The four dialect simulators of the district's HIS systems, one object."""

    def __init__(
        self,
        *,
        dialects: Mapping[str, str] | None = None,
        platform_url: str | None = None,
        mllp: tuple[str, int] | None = None,
        views_dir: Path | None = None,
        test_listen: tuple[str, int] | None = None,
    ) -> None:
        # Imported here: every `jingan` command loads this module (for its PLAYERS), and
        # the dialect simulators (the B vendor's pure-Python SM2 above all) are slow to load.
        from jingan.accompaniment.visits.inputs.rest_clients import credentials_path
        from jingan.integrations.his.hl7.simulator import Hl7HisSimulator
        from jingan.integrations.his.rest.simulator import (
            RestHisSimulator,
            credentials_from_file,
        )
        from jingan.integrations.his.soap.simulator import SoapHisSimulator
        from jingan.integrations.his.views.simulator import ViewsHisSimulator

        self.dialects = dict(dialects if dialects is not None else institution_dialects())
        self.http = HisHttpSimulator()
        host, port = mllp or mllp_address()
        http_host, http_port = simulator_address()
        # A's connection-test port: the simulator port + 1 (see connections.default_endpoint).
        self.a = Hl7HisSimulator(host, port, test_listen=test_listen or (http_host, http_port + 1))
        self.b = RestHisSimulator(
            platform_url or str(settings.VISITS["platform_url"]),
            credentials_from_file(credentials_path()),
            http=self.http,
        )
        self.c = SoapHisSimulator(http=self.http)
        self.d = ViewsHisSimulator(views_dir or Path(settings.VISITS["his_views_dir"]))
        self.by_dialect: dict[str, Any] = {
            "A": self.a,
            "B": self.b,
            "C": self.c,
            "D": self.d,
        }
        self.http.mount("control", self._control)
        self.emitted = 0
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, *, host: str | None = None, port: int | None = None) -> str:
        """Bind the shared HTTP server (B, C, control) and start all four; the base URL."""
        default_host, default_port = simulator_address()
        url = self.http.start(host or default_host, default_port if port is None else port)
        self.a.start()
        self.b.start()
        self.c.start()
        self.d.start()
        return url

    def stop(self) -> None:
        for simulator in (self.a, self.b, self.c, self.d):
            try:
                simulator.stop()
            except Exception:
                logger.warning("stopping %s failed", type(simulator).__name__, exc_info=True)
        self.http.stop()

    # -- driving ------------------------------------------------------------------------

    def emit(self, event: HisEvent) -> None:
        dialect = self.dialects.get(event.institution_code)
        if dialect is None:
            raise MessageRejected(
                "unknown_institution", f"模拟器中没有机构 {event.institution_code}"
            )
        self.by_dialect[dialect].emit(event)
        with self._lock:
            self.emitted += 1

    def set_outage(self, *, dialect: str | None, institution: str | None, down: bool) -> None:
        targets = [dialect] if dialect else list(self.by_dialect)
        for letter in targets:
            if institution is None or self.dialects.get(institution) == letter:
                self.by_dialect[letter].set_outage(institution, down)

    def pending(self) -> int:
        return sum(simulator.pending() for simulator in self.by_dialect.values())

    def status(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for letter in self.dialects.values():
            counts[letter] = counts.get(letter, 0) + 1
        return {
            "institutions": counts,
            "emitted": self.emitted,
            "pending": {letter: s.pending() for letter, s in self.by_dialect.items()},
        }

    def _control(self, request: SimulatorRequest) -> SimulatorAnswer:
        action = request.segments[0] if request.segments else ""
        if request.method == "GET" and action == "status":
            return _json(200, self.status())
        if request.method != "POST":
            return _json(405, {"message": "只支持 POST"})
        if action == "emit":
            try:
                events = parse_canonical(request.body.decode("utf-8"), default_source="")
                for event in events:
                    self.emit(event)
            except (MessageRejected, UnicodeDecodeError) as error:
                reason = error.reason if isinstance(error, MessageRejected) else "不是 UTF-8"
                return _json(400, {"message": reason})
            return _json(200, {"emitted": len(events)})
        if action == "outage":
            try:
                body = json.loads(request.body or b"{}")
                dialect = body.get("dialect") or None
                if dialect is not None and dialect not in self.by_dialect:
                    raise ValueError(dialect)
                self.set_outage(
                    dialect=dialect, institution=body.get("institution"), down=bool(body["down"])
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                return _json(400, {"message": "需要 {dialect?, institution?, down}"})
            return _json(200, {"ok": True})
        return _json(404, {"message": f"没有控制接口 {action}"})


class RemoteSimulators:
    """The control service of simulators running in another process (``jingan serve``)."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = (base_url or str(settings.VISITS["his_simulator_url"])).rstrip("/")
        self._client = OutboundClient(
            system="his-simulator-control", base_url=self.base_url, timeout=10.0
        )
        self._probe = OutboundClient(
            system="his-simulator-control", base_url=self.base_url, timeout=2.0, retries=0
        )
        self.dialects = institution_dialects()

    def reachable(self) -> bool:
        try:
            answer = self._probe.request("GET", "/control/status")
        except OutboundError:
            return False
        return answer.status_code == 200

    def emit_many(self, events: list[HisEvent]) -> None:
        if events:
            answer = self._client.request(
                "POST",
                "/control/emit",
                content=json.dumps([to_canonical(e) for e in events], ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            )
            if answer.status_code != 200:
                raise OutboundError(
                    f"HIS simulators refused the events: {answer.text[:200]}", retryable=False
                )

    def emit(self, event: HisEvent) -> None:
        self.emit_many([event])

    def set_outage(self, *, dialect: str | None, institution: str | None, down: bool) -> None:
        self._client.request(
            "POST",
            "/control/outage",
            content=json.dumps(
                {"dialect": dialect, "institution": institution, "down": down}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )

    def pending(self) -> int:
        try:
            answer = self._probe.request("GET", "/control/status")
        except OutboundError:
            return 0
        return sum(json.loads(answer.content).get("pending", {}).values())

    def stop(self) -> None:
        self._client.close()
        self._probe.close()


def _json(status: int, body: Mapping[str, Any]) -> SimulatorAnswer:
    return SimulatorAnswer(
        status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
    )


# -- `jingan simulate his` and `jingan simulate clinic-day` ------------------------------


def _run_his(**_: Any) -> None:
    """The four HIS simulators in the foreground until Ctrl-C."""
    import click

    simulators = HisSimulators()
    url = simulators.start()
    host, port = mllp_address()
    click.echo(
        f"HIS 模拟器（A/B/C/D）：{url}；A 向 {host}:{port} 发送 HL7，测试端口 {simulators.a.test_address}"
    )
    click.echo("Ctrl-C 停止")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulators.stop()


def _run_clinic_day(
    *, speed: float, visits_per_hour: float, hours: float, seed: int, outage: bool, **_: Any
) -> None:
    """Play a clinic day; through `jingan serve`'s simulators when they run, else our own."""
    import click

    from jingan.accompaniment.visits.clinic_day import ClinicDay, ClinicDayPlan, schedule
    from jingan.accompaniment.visits.demo import demo_patients

    remote = RemoteSimulators()
    target: Any
    own: HisSimulators | None = None
    if remote.reachable():
        target = remote
        click.echo(f"使用运行中的 HIS 模拟器：{remote.base_url}")
    else:
        remote.stop()
        own = HisSimulators()
        click.echo(f"启动 HIS 模拟器：{own.start()}（请确保平台 `jingan serve` 正在运行）")
        target = own
    plan = ClinicDayPlan(
        institutions=institution_dialects(),
        speed=speed,
        hours=hours,
        visits_per_hour=visits_per_hour,
        seed=seed,
        outage=outage,
        patients=tuple(demo_patients()),
    )
    from datetime import datetime

    from jingan.accompaniment.visits.clinic_day import SHANGHAI

    start = datetime.now(SHANGHAI)
    total = len(schedule(plan, start))
    minutes = hours * 60 / speed
    click.echo(
        f"门诊日模拟：{round(visits_per_hour * hours)} 人次，{total} 条消息，"
        f"{speed:g} 倍速，约 {minutes:.1f} 分钟"
    )
    stop = threading.Event()
    try:
        with click.progressbar(length=total, label="发送就诊事件", show_pos=True) as bar:
            state = {"done": 0}

            def progress(done: int, _: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            report = ClinicDay(target, plan).run(stop, start=start, progress=progress)
    except KeyboardInterrupt:
        stop.set()
        click.echo("已中止")
        return
    finally:
        if own is not None:
            own.stop()
        else:
            remote.stop()
    click.echo(
        f"完成：{len(report.visits)} 次就诊，发送 {report.emitted} 条（重复 {report.duplicates} 条），"
        f"失败 {report.failures} 条；停机演练：{'、'.join(report.outages) or '无'}"
    )


PLAYERS = [
    ("his", "四家 HIS 接口模拟器（A/B/C/D）", _run_his),
    ("clinic-day", "门诊日模拟（经四种 HIS 接口发送就诊事件）", _run_clinic_day),
]
