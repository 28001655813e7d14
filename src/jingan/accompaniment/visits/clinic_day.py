"""The clinic-day simulator: realistic outpatient visits played through the four HIS
simulators at a chosen speed (``jingan simulate clinic-day``; gently beside ``make run``).

Visits arrive through the day at every institution (each speaking its own dialect), and
each follows its script (``integrations.his.scenarios``). As real interfaces do, the
delivery is imperfect: some messages are sent twice, some arrive late (after events
that happened later), and one institution's HIS goes down for a while mid-morning
(push dialects hold their messages, polled ones answer errors until it is back).

Time is compressed: an event that happens ``s`` simulated seconds after the start is
delivered ``s / speed`` real seconds after it and carries that real time as its
``occurred_at``, so the visit pages read like today.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

__all__ = ["ClinicDay", "ClinicDayPlan", "Delivery", "schedule"]


class Target(Protocol):
    """Where deliveries go: ``HisSimulators`` in this process, or ``RemoteSimulators``."""

    def emit(self, event: HisEvent) -> None: ...

    def set_outage(self, *, dialect: str | None, institution: str | None, down: bool) -> None: ...


@dataclass(frozen=True)
class ClinicDayPlan:
    institutions: dict[str, str]  # code -> dialect
    speed: float = 60.0
    hours: float = 8.0
    visits_per_hour: float = 60.0
    seed: int = 1
    duplicate_rate: float = 0.03
    late_rate: float = 0.04
    outage: bool = True
    # Verified demo residents who come to a clinic today (their visits are linked to them).
    patients: Sequence[PatientRef] = field(default_factory=tuple)


@dataclass(frozen=True)
class Delivery:
    """One thing to do ``due`` real seconds after the start."""

    due: float
    action: str  # emit | outage-on | outage-off
    event: HisEvent | None = None
    institution: str = ""
    dialect: str = ""
    note: str = ""


def schedule(plan: ClinicDayPlan, start: datetime) -> list[Delivery]:
    """Every delivery of the day, in due order (deterministic for the plan's seed)."""
    rng = random.Random(plan.seed)
    codes = sorted(plan.institutions)
    if not codes:
        return []
    day_start = start.astimezone(SHANGHAI)
    count = max(1, round(plan.visits_per_hour * plan.hours))
    deliveries: list[Delivery] = []
    patients = list(plan.patients)
    for index in range(count):
        offset = timedelta(hours=plan.hours) * (index + rng.random()) / count
        code = codes[rng.randrange(len(codes))]
        patient = patients.pop(0) if patients else None
        sim_arrival = day_start + offset
        visit = plan_visit(
            rng,
            institution_code=code,
            dialect=plan.institutions[code],
            visit_key=f"MZ{day_start:%y%m%d}{plan.seed % 100:02d}{index:05d}",
            arrive_at=sim_arrival,
            patient=patient,
        )
        for event in visit_script(visit, rng):
            sim_seconds = (event.occurred_at - day_start).total_seconds()
            real_seconds = max(sim_seconds, 0.0) / plan.speed
            occurred = day_start + timedelta(seconds=sim_seconds / plan.speed)
            event = replace(event, occurred_at=occurred)
            due = real_seconds
            if rng.random() < plan.late_rate:
                # Held up somewhere: arrives after things that happened later.
                due += rng.uniform(5 * 60, 30 * 60) / plan.speed
            deliveries.append(Delivery(due, "emit", event, code, plan.institutions[code]))
            if rng.random() < plan.duplicate_rate:
                deliveries.append(
                    Delivery(
                        due + rng.uniform(30, 300) / plan.speed,
                        "emit",
                        event,
                        code,
                        plan.institutions[code],
                        "duplicate",
                    )
                )
    if plan.outage:
        # Mid-morning, one institution's HIS is down for 20 minutes.
        victim = codes[rng.randrange(len(codes))]
        down_at = min(plan.hours * 3600 * 0.25, 90 * 60) / plan.speed
        up_at = down_at + 20 * 60 / plan.speed
        dialect = plan.institutions[victim]
        deliveries.append(Delivery(down_at, "outage-on", None, victim, dialect, "HIS 停机"))
        deliveries.append(Delivery(up_at, "outage-off", None, victim, dialect, "HIS 恢复"))
    deliveries.sort(key=lambda d: (d.due, d.action != "outage-on"))
    return deliveries


@dataclass
class ClinicDayReport:
    emitted: int = 0
    duplicates: int = 0
    failures: int = 0
    outages: list[str] = field(default_factory=list)
    visits: set[str] = field(default_factory=set)


class ClinicDay:
    """Plays a schedule against a target in real (compressed) time."""

    def __init__(self, target: Target, plan: ClinicDayPlan) -> None:
        self.target = target
        self.plan = plan

    def run(
        self,
        stop: threading.Event,
        *,
        start: datetime | None = None,
        progress: Callable[[int, int], Any] | None = None,
        horizon_seconds: float | None = None,
    ) -> ClinicDayReport:
        """Deliver the day's schedule; ``horizon_seconds`` stops after that much real time
        (the rest of the day, e.g. tomorrow's follow-ups, is not played)."""
        began = start or datetime.now(SHANGHAI)
        deliveries = [
            delivery
            for delivery in schedule(self.plan, began)
            if horizon_seconds is None or delivery.due <= horizon_seconds
        ]
        report = ClinicDayReport()
        clock_start = time.monotonic() - max((datetime.now(SHANGHAI) - began).total_seconds(), 0)
        for done, delivery in enumerate(deliveries, start=1):
            pause = clock_start + delivery.due - time.monotonic()
            if pause > 0 and stop.wait(pause):
                break
            try:
                self._deliver(delivery, report)
            except Exception as error:
                report.failures += 1
                logger.warning("clinic day: %s failed: %s", delivery.action, error)
            if progress is not None:
                progress(done, len(deliveries))
        return report

    def _deliver(self, delivery: Delivery, report: ClinicDayReport) -> None:
        if delivery.action == "emit" and delivery.event is not None:
            self.target.emit(delivery.event)
            report.emitted += 1
            report.visits.add(delivery.event.visit_key)
            if delivery.note == "duplicate":
                report.duplicates += 1
        elif delivery.action in ("outage-on", "outage-off"):
            down = delivery.action == "outage-on"
            self.target.set_outage(
                dialect=delivery.dialect, institution=delivery.institution, down=down
            )
            report.outages.append(f"{delivery.institution} {delivery.note}")
            logger.info("clinic day: %s %s", delivery.institution, delivery.note)
