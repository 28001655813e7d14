"""The polling drive (VA-3): back-off, circuit breaker, half-open trial, nothing lost."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from jingan.accompaniment.visits.inputs import pollers
from jingan.accompaniment.visits.models import CircuitState, HisConnection, VisitEvent
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.soap.simulator import SoapHisSimulator
from jingan.integrations.his.views.simulator import ViewsHisSimulator

T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
INTERVAL = 10


def d_institutions() -> list[Any]:
    return list(
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(his_dialect="D", is_active=True)
        .order_by("code")
    )


@pytest.fixture
def simulator(tmp_path: Path) -> ViewsHisSimulator:
    simulator = ViewsHisSimulator(tmp_path / "his-views")
    simulator.start()
    return simulator


def connect(institution: Any, simulator: ViewsHisSimulator) -> HisConnection:
    return HisConnection.objects.unscoped().create(
        institution=institution,
        endpoint=simulator.database_url(institution.code),
        poll_interval_seconds=INTERVAL,
    )


def event(code: str, n: int, status: str = "unpaid") -> HisEvent:
    return HisEvent(
        source=f"his-d:{code}",
        source_event_id=f"ZT{n:04d}",
        institution_code=code,
        visit_key=f"MZ{n:04d}",
        node="registration",
        status=status,
        occurred_at=T0 + timedelta(minutes=n),
        patient=PatientRef("王建国", "310106195001011238"),
    )


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_a_his_outage_backs_off_opens_the_circuit_then_a_trial_closes_it_and_nothing_is_lost(
    settings: Any, simulator: ViewsHisSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    settings.VISITS = {
        **settings.VISITS,
        "circuit_failure_threshold": 4,
        "poll_max_backoff_seconds": 300,
    }
    institution = d_institutions()[0]
    code = institution.code
    row = connect(institution, simulator)
    simulator.emit(event(code, 1))
    now = timezone.now()
    assert pollers.poll_connection(row.pk, now=now).accepted == 1

    # The HIS goes down; its staff keep working, so rows keep arriving in its tables.
    simulator.set_outage(code, True)
    delays: list[float] = []
    circuits: list[str] = []
    with caplog.at_level(logging.WARNING, logger="jingan.accompaniment.visits.inputs.pollers"):
        for n in range(2, 7):
            simulator.emit(event(code, n))
            outcome = pollers.poll_connection(row.pk, now=now)
            assert (outcome.polled, outcome.ok) == (True, False)
            assert outcome.next_poll_at is not None
            delays.append((outcome.next_poll_at - now).total_seconds())
            circuits.append(outcome.circuit)
            now = outcome.next_poll_at

    # Doubling from the poll interval, ±20 % jitter, capped; open after 4 failures in a row.
    for failures, delay in enumerate(delays, start=1):
        expected = min(300, INTERVAL * 2 ** (failures - 1))
        assert expected * 0.8 <= delay <= min(300, expected * 1.2)
    assert delays == sorted(delays)
    assert circuits == ["closed", "closed", "closed", "open", "open"]
    row.refresh_from_db()
    assert row.consecutive_failures == 5
    assert row.last_error.startswith("无法连接 HIS 数据库（")
    assert row.events_received == 1
    assert "HIS poll circuit open for " + code + " after 4 failures" in caplog.text

    # Open: nothing is polled until the back-off has passed.
    early = pollers.poll_connection(row.pk, now=now - timedelta(seconds=1))
    assert (early.polled, early.message) == (False, "熔断中，等待退避结束")
    row.refresh_from_db()
    assert row.consecutive_failures == 5

    # The back-off passes while the HIS is still down: the one trial fails, open again.
    trial = pollers.poll_connection(row.pk, now=now)
    assert (trial.polled, trial.ok, trial.circuit) == (True, False, "open")
    assert trial.next_poll_at is not None
    assert 240 <= (trial.next_poll_at - now).total_seconds() <= 300

    # The HIS is back; the next trial closes the circuit and reads all that was written.
    simulator.set_outage(code, False)
    recovered = pollers.poll_connection(row.pk, now=trial.next_poll_at)
    assert (recovered.polled, recovered.ok, recovered.circuit) == (True, True, "closed")
    assert recovered.accepted == 5
    row.refresh_from_db()
    assert (row.circuit, row.consecutive_failures, row.last_error) == ("closed", 0, "")
    assert row.last_success_at == trial.next_poll_at
    assert row.next_poll_at == trial.next_poll_at + timedelta(seconds=INTERVAL)
    assert sorted(VisitEvent.objects.unscoped().values_list("source_event_id", flat=True)) == [
        f"ZT000{n}" for n in range(1, 7)
    ]


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_a_half_open_circuit_is_shown_while_its_trial_runs(
    simulator: ViewsHisSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    institution = d_institutions()[0]
    row = connect(institution, simulator)
    simulator.ensure_database(institution.code)
    now = timezone.now()
    HisConnection.objects.unscoped().filter(pk=row.pk).update(
        circuit=CircuitState.OPEN, consecutive_failures=7, next_poll_at=now
    )
    seen: list[str] = []
    original = pollers.build_adapter

    def spying_adapter(connection_row: HisConnection) -> Any:
        seen.append(HisConnection.objects.unscoped().get(pk=connection_row.pk).circuit)
        return original(connection_row)

    monkeypatch.setattr(pollers, "build_adapter", spying_adapter)
    outcome = pollers.poll_connection(row.pk, now=now)

    assert seen == ["half_open"]
    assert (outcome.ok, outcome.circuit) == (True, "closed")


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_run_due_polls_polls_only_enabled_connections_that_are_due(
    simulator: ViewsHisSimulator,
) -> None:
    first, second, third = d_institutions()[:3]
    due, not_yet, disabled = (connect(i, simulator) for i in (first, second, third))
    now = timezone.now()
    HisConnection.objects.unscoped().filter(pk=not_yet.pk).update(
        next_poll_at=now + timedelta(seconds=5)
    )
    HisConnection.objects.unscoped().filter(pk=disabled.pk).update(is_enabled=False)
    for institution in (first, second, third):
        simulator.emit(event(institution.code, 1))

    polled = pollers.run_due_polls(now, max_workers=1)
    again = pollers.run_due_polls(now, max_workers=1)

    assert (polled, again) == (1, 0)
    assert list(VisitEvent.objects.unscoped().values_list("institution__code", flat=True)) == [
        first.code
    ]
    due.refresh_from_db()
    assert due.next_poll_at == now + timedelta(seconds=INTERVAL)


@pytest.mark.req("VA-3")
def test_due_polls_run_concurrently_each_in_its_own_database_connection(
    transactional_db: None, simulator: ViewsHisSimulator
) -> None:
    institutions = d_institutions()[:3]
    for institution in institutions:
        connect(institution, simulator)
        for n in range(1, 4):
            simulator.emit(event(institution.code, n))

    polled = pollers.run_due_polls(max_workers=3)

    assert polled == 3
    counts = {
        institution.code: VisitEvent.objects.unscoped().filter(institution=institution).count()
        for institution in institutions
    }
    assert counts == {institution.code: 3 for institution in institutions}
    assert set(HisConnection.objects.unscoped().values_list("circuit", flat=True)) == {"closed"}


def test_backoff_is_capped(settings: Any) -> None:
    settings.VISITS = {**settings.VISITS, "poll_max_backoff_seconds": 60}

    # Jitter stays under the cap: 80 % to 100 % of it once the doubling has passed it.
    assert all(48 <= pollers.backoff_seconds(10, 30) <= 60 for _ in range(50))
    assert all(8 <= pollers.backoff_seconds(10, 1) <= 12 for _ in range(50))


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_a_backlog_is_read_batch_after_batch_without_waiting_for_the_interval(
    simulator: ViewsHisSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pollers, "POLL_LIMIT", 3)
    institution = d_institutions()[0]
    row = connect(institution, simulator)
    for n in range(1, 6):
        simulator.emit(event(institution.code, n))
    now = timezone.now()

    first = pollers.poll_connection(row.pk, now=now)
    second = pollers.poll_connection(row.pk, now=now)

    assert (first.accepted, first.next_poll_at) == (3, now)
    assert (second.accepted, second.duplicates) == (2, 3)
    assert second.next_poll_at == now + timedelta(seconds=INTERVAL)


@pytest.mark.req("VA-3")
@pytest.mark.django_db
def test_a_soap_web_service_his_is_polled_the_same_way() -> None:
    institution = (
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(his_dialect="C", is_active=True)
        .order_by("code")
        .first()
    )
    code = institution.code
    simulator = SoapHisSimulator(institutions=[code])
    simulator.start()
    try:
        row = HisConnection.objects.unscoped().create(
            institution=institution,
            endpoint=simulator.endpoint(code),
            poll_interval_seconds=INTERVAL,
        )
        for n in (1, 2):
            simulator.emit(replace(event(code, n), source=f"his-c:{code}"))
        first = pollers.poll_connection(row.pk)
        simulator.set_outage(code, True)
        simulator.emit(replace(event(code, 3), source=f"his-c:{code}"))
        down = pollers.poll_connection(row.pk)
        simulator.set_outage(code, False)
        back = pollers.poll_connection(row.pk)
    finally:
        simulator.stop()

    assert (first.ok, first.accepted) == (True, 2)
    assert (down.ok, down.circuit) == (False, "closed")
    assert (back.ok, back.accepted) == (True, 1)
    assert sorted(VisitEvent.objects.unscoped().values_list("source", "source_event_id")) == [
        (f"his-c:{code}", f"ZT000{n}") for n in (1, 2, 3)
    ]


@pytest.mark.req("VA-3")
def test_the_background_component_polls_every_second_until_stopped(
    transactional_db: None, simulator: ViewsHisSimulator
) -> None:
    institution = d_institutions()[0]
    connect(institution, simulator)
    simulator.emit(event(institution.code, 1))
    stop = threading.Event()
    thread = threading.Thread(target=pollers.COMPONENT.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not VisitEvent.objects.unscoped().exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)

    assert (pollers.COMPONENT.name, pollers.COMPONENT.title) == ("his-pollers", "HIS 轮询")
    assert not thread.is_alive()
    assert VisitEvent.objects.unscoped().get().source_event_id == "ZT0001"
