"""The clinic-day simulator played through the four real HIS simulators into the running
platform: HL7 over MLLP to our listener, signed pushes to the live server, SOAP and view
pollers, a sub-centre folding; duplicates, late messages and an outage included. A
resident watches their visit page advance live while the day plays (VA-2, VA-3, HI-2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jingan.accompaniment.visits.centre.subcentre import SubCentre
from jingan.accompaniment.visits.clinic_day import (
    SHANGHAI,
    ClinicDay,
    ClinicDayPlan,
    schedule,
)
from jingan.accompaniment.visits.connections import ensure_connections
from jingan.accompaniment.visits.inputs.mllp_listener import MllpListener
from jingan.accompaniment.visits.inputs.pollers import run_due_polls
from jingan.accompaniment.visits.inputs.rest_clients import ensure_push_clients
from jingan.accompaniment.visits.models import (
    HisConnection,
    RejectedMessage,
    Visit,
    VisitEvent,
)
from jingan.accompaniment.visits.simulators import HisSimulators
from jingan.integrations.his.port import PatientRef
from jingan.testing.browser import PHONE, screenshot
from jingan.testing.servers import free_port

# One institution per dialect.
INSTITUTIONS = {"310106001": "A", "310106004": "B", "310106021": "C", "310106007": "D"}
HORIZON = 45.0  # real seconds of the day played (tomorrow's follow-ups are left out)


class Platform:
    """The platform's background side for the test: a sub-centre and the pollers."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._fold, name="sub-centre", daemon=True),
            threading.Thread(target=self._poll, name="pollers", daemon=True),
        ]

    def _fold(self) -> None:
        try:
            SubCentre(name="test-clinic-day", lease_seconds=5, idle_wait=0.05).run(self.stop)
        finally:
            connection.close()

    def _poll(self) -> None:
        try:
            while not self.stop.wait(0.3):
                run_due_polls(max_workers=1)
        finally:
            connection.close()

    def __enter__(self) -> Platform:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


@pytest.fixture
def clinic(
    live_server_url: str, tmp_path: Path, make_resident: Any, settings: Any
) -> Iterator[tuple[HisSimulators, Any]]:
    resident = make_resident()
    listener = MllpListener("127.0.0.1", 0)
    listener.start()
    http_port = free_port()
    settings.VISITS = {
        **settings.VISITS,
        "his_simulator_url": f"http://127.0.0.1:{http_port}",
        "his_views_dir": tmp_path / "views",
        "platform_url": live_server_url,
    }
    ensure_push_clients(codes=["310106004"])
    simulators = HisSimulators(
        dialects=INSTITUTIONS,
        platform_url=live_server_url,
        mllp=listener.address,
        views_dir=tmp_path / "views",
        test_listen=("127.0.0.1", free_port()),
    )
    simulators.start(port=http_port)
    ensure_connections()
    HisConnection.objects.unscoped().update(poll_interval_seconds=1)
    try:
        yield simulators, resident
    finally:
        simulators.stop()
        listener.stop()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.req("VA-2", "VA-3", "HI-2")
@pytest.mark.browser
def test_a_clinic_day_through_the_four_dialects_reaches_the_residents_page_live(
    clinic: tuple[HisSimulators, Any],
    open_page: Any,
    live_server_url: str,
    resident_client: Any,
) -> None:
    simulators, resident = clinic
    patient = PatientRef(name=resident.name, id_number=resident.id_number)
    plan = ClinicDayPlan(
        institutions=INSTITUTIONS,
        speed=600.0,
        hours=1.0,
        visits_per_hour=8,
        seed=4,
        duplicate_rate=0.1,
        late_rate=0.1,
        patients=(patient,),
    )
    start = datetime.now(SHANGHAI)
    played = [d for d in schedule(plan, start) if d.due <= HORIZON]
    expected: dict[str, set[str]] = {}
    for delivery in played:
        if delivery.event is not None:
            expected.setdefault(delivery.event.visit_key, set()).add(delivery.event.source_event_id)
    outage = [d for d in played if d.action.startswith("outage")]
    assert [d.action for d in outage] == ["outage-on", "outage-off"]
    assert sum(1 for d in played if d.note == "duplicate") > 0
    # The resident is the day's first patient.
    mine = next(
        d.event.visit_key
        for d in played
        if d.event is not None and d.event.patient.id_number == resident.id_number
    )
    page, problems = open_page(**PHONE)
    key = resident_client(resident).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": key, "url": live_server_url}])
    report_holder: dict[str, Any] = {}
    stop = threading.Event()

    def play() -> None:
        report_holder["report"] = ClinicDay(simulators, plan).run(
            stop, start=start, horizon_seconds=HORIZON
        )

    with Platform():
        player = threading.Thread(target=play, name="clinic-day", daemon=True)
        player.start()
        _wait(
            lambda: Visit.objects.unscoped().filter(visit_key=mine, resident=resident).exists(),
            30,
            "the resident's visit",
        )
        visit = Visit.objects.unscoped().get(visit_key=mine)
        page.goto(f"{live_server_url}/h5/visits/{visit.reference}/")
        page.evaluate("window.__sameDocument = true")
        first = page.locator('[data-node="consultation"] [data-status]').text_content()
        # The page follows the day without a reload, to the end of the consultation.
        page.locator('[data-node="consultation"] [data-status]').filter(has_text="诊毕").wait_for(
            timeout=60_000
        )
        assert page.evaluate("window.__sameDocument") is True
        screenshot(page, "visits-clinic-day-live")
        player.join(timeout=HORIZON + 30)
        assert not player.is_alive()
        total = sum(len(ids) for ids in expected.values())
        _wait(
            lambda: VisitEvent.objects.unscoped().count() >= total and simulators.pending() == 0,
            60,
            "every event of the day in the journal",
        )
        _wait(
            lambda: sum(v.event_count for v in Visit.objects.unscoped().all()) == total,
            30,
            "every event folded",
        )
    report = report_holder["report"]
    assert first != "诊毕"
    assert report.failures == 0
    assert report.duplicates > 0
    # Every event exactly once, whatever the dialect, duplicates and outage notwithstanding.
    assert VisitEvent.objects.unscoped().count() == total
    assert {visit.visit_key: visit.event_count for visit in Visit.objects.unscoped().all()} == {
        key: len(ids) for key, ids in expected.items()
    }
    sources = set(VisitEvent.objects.unscoped().values_list("source", flat=True))
    assert sources == {f"his-{letter.lower()}:{code}" for code, letter in INSTITUTIONS.items()}
    assert not RejectedMessage.objects.unscoped().exists()
    assert problems.errors == []
