"""What ``jingan serve`` runs beside the web server for the visit assistant: the event
centre's sub-centre (all partitions), the inputs (HL7 listener, HIS pollers, AMQP
consumer when configured) and, in the embedded demo, the four HIS simulators playing a
gentle clinic day, so the demo is alive."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)

# The demo's clinic day: 6x real time, 30 visits an hour across the district.
DEMO_SPEED = 6.0
DEMO_VISITS_PER_HOUR = 30.0
DEMO_HOURS = 10.0


def _run_subcentre(stop: threading.Event) -> None:
    from jingan.accompaniment.visits.centre.subcentre import SubCentre

    # Embedded: one sub-centre holds every partition; in-process ingests wake it at once.
    SubCentre(idle_wait=0.25).run(stop)


def _run_demo_clinic(stop: threading.Event) -> None:
    """The HIS simulators, and one gentle clinic day after another until stopped."""
    from jingan.accompaniment.visits.clinic_day import ClinicDay, ClinicDayPlan
    from jingan.accompaniment.visits.demo import demo_patients
    from jingan.accompaniment.visits.simulators import HisSimulators

    simulators = HisSimulators()
    try:
        url = simulators.start()
    except OSError as error:
        # `jingan simulate his` (or another serve) may own the ports: leave it to them.
        logger.warning("HIS simulators not started: %s", error)
        simulators.stop()
        return
    logger.info("HIS simulators (A-D) at %s; playing a gentle clinic day", url)
    _wait_for_platform(stop)
    day = 0
    try:
        while not stop.is_set():
            plan = ClinicDayPlan(
                institutions=simulators.dialects,
                speed=DEMO_SPEED,
                hours=DEMO_HOURS,
                visits_per_hour=DEMO_VISITS_PER_HOUR,
                seed=day + 1,
                # The first demo residents come in at the start of the first day.
                patients=tuple(demo_patients()[1:3]) if day == 0 else (),
            )
            ClinicDay(simulators, plan).run(stop)
            day += 1
    finally:
        simulators.stop()


def _wait_for_platform(stop: threading.Event, seconds: float = 60.0) -> None:
    """Let the web server come up first: dialect B pushes to it from the first minute."""
    from jingan.lib.http import OutboundClient, OutboundError

    deadline = time.monotonic() + seconds
    with OutboundClient(
        system="platform", base_url=str(settings.VISITS["platform_url"]), timeout=2.0, retries=0
    ) as platform:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                platform.request("GET", "/healthz")
                return
            except OutboundError:
                stop.wait(0.5)


def input_components() -> list[BackgroundComponent]:
    """The event centre's inputs, for `serve` and `event-centre --inputs`."""
    from jingan.accompaniment.visits.inputs import amqp, mllp_listener, pollers

    return [mllp_listener.COMPONENT, pollers.COMPONENT, *amqp.COMPONENTS]


def _components() -> list[BackgroundComponent]:
    components = [
        BackgroundComponent("event-centre", "就诊事件中心（子中心）", _run_subcentre),
        *input_components(),
    ]
    if settings.PLATFORM_MODE == "embedded" and settings.SIMULATED_INTEGRATIONS:
        components.append(
            BackgroundComponent("his-simulators", "HIS 模拟器与门诊日", _run_demo_clinic)
        )
    return components


COMPONENTS = _components()
