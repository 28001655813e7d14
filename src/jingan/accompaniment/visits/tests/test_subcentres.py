"""Sub-centres sharing partitions by lease: fair shares, fencing, takeover (VA-2); and in the
services suite, four `jingan event-centre` processes on PostgreSQL with one killed -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.fold import FoldEvent, fold
from jingan.accompaniment.visits.centre.processor import load_state, process_batch
from jingan.accompaniment.visits.centre.subcentre import SubCentre, parse_partitions
from jingan.accompaniment.visits.models import PartitionLease, Visit, VisitEvent
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script


def Message() -> Any:  # noqa: N802 (reads like the model)
    return apps.get_model("messaging", "Message")


CODES = ("310106001", "310106004", "310106010", "310106020")


def scripts(count: int, *, seed: int = 7, id_number: str = "") -> list[list[HisEvent]]:
    rng = random.Random(seed)
    found = []
    for index in range(count):
        plan = plan_visit(
            rng,
            institution_code=CODES[index % len(CODES)],
            dialect="B",
            visit_key=f"MZ{seed:02d}{index:05d}",
            arrive_at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC) + timedelta(minutes=index),
            patient=PatientRef(name="李秀英", id_number=id_number)
            if id_number and index % 5 == 0
            else None,
        )
        found.append(visit_script(plan, rng))
    return found


def test_partitions_are_parsed_with_clear_errors() -> None:
    assert parse_partitions("0-3,6", 8) == frozenset({0, 1, 2, 3, 6})
    assert parse_partitions("all", 4) == frozenset({0, 1, 2, 3})
    with pytest.raises(ValueError, match="超出范围"):
        parse_partitions("0-8", 8)
    with pytest.raises(ValueError, match="写法不正确"):
        parse_partitions("a-b", 8)


@pytest.mark.req("VA-2")
@pytest.mark.django_db
def test_two_subcentres_share_partitions_and_a_stale_one_cannot_commit() -> None:
    first = SubCentre(name="sc-1", lease_seconds=5)
    second = SubCentre(name="sc-2", lease_seconds=5)
    first.maintain()
    assert len(first.owned) == 8  # alone: everything
    second.maintain()
    first.maintain()  # sees two members: gives back half
    second.maintain()
    assert (len(first.owned), len(second.owned)) == (4, 4)
    assert set(first.owned).isdisjoint(second.owned)
    # sc-1 stalls; its leases expire; sc-2 takes them over with new tokens.
    PartitionLease.objects.filter(owner="sc-1").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    stale = dict(first.owned)
    from jingan.accompaniment.visits.models import SubCentreMember

    SubCentreMember.objects.filter(name="sc-1").delete()
    second.maintain()
    assert len(second.owned) == 8
    assert sum(PartitionLease.objects.values_list("takeovers", flat=True)) == 4
    for events in scripts(3):
        journal.ingest(events)
    # The stale sub-centre wakes up and tries to fold: its tokens are refused.
    assert process_batch(stale).processed == 0
    assert second.tick() > 0


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.req("VA-2")
@pytest.mark.skipif(
    not os.environ.get("JINGAN_DATABASE_URL", "").startswith("postgres"),
    reason="four sub-centre processes share the journal on PostgreSQL (services suite)",
)
@pytest.mark.django_db(transaction=True)
def test_four_processes_with_one_killed_mid_stream_fold_every_event_exactly_once(
    make_resident: Any, tmp_path: Path
) -> None:
    resident = make_resident("李秀英", "310106195001011238")
    name = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jingan.config.settings",
        "JINGAN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
        "JINGAN_DATA_DIR": str(settings.DATA_DIR),
        "JINGAN_KEYRING": str(settings.DATA_DIR / "keyring.json"),
        "JINGAN_EVENT_LEASE_SECONDS": "3",
        "JINGAN_SECRET_KEY": os.environ.get(
            "JINGAN_SECRET_KEY", "subcentre-test-secret-key-0123456789abcdef"
        ),
        "JINGAN_LOG_LEVEL": "WARNING",
    }
    jingan = Path(sys.executable).with_name("jingan")
    visits = scripts(80, seed=11, id_number="310106195001011238")
    # Duplicates too: some events are delivered twice.
    stream = [event for script in visits for event in script]
    rng = random.Random(3)
    stream += rng.sample(stream, 150)
    rng.shuffle(stream)
    processes = [
        subprocess.Popen(
            [str(jingan), "event-centre", "--partitions", "0-7", "--name", f"sc-{index}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"sc-{index}.log").open("w"),
        )
        for index in range(4)
    ]
    try:
        _wait(
            lambda: PartitionLease.objects.exclude(owner="").count() == 8,
            30,
            "four sub-centres to share the eight partitions",
        )
        half = len(stream) // 2
        for start in range(0, half, 40):
            journal.ingest(stream[start : start + 40])
            time.sleep(0.02)
        # Kill the one holding most partitions, mid-stream, without a chance to clean up.
        owners = list(PartitionLease.objects.exclude(owner="").values_list("owner", flat=True))
        victim_name = max(set(owners), key=owners.count)
        victim = processes[int(victim_name.split("-")[1])]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        for start in range(half, len(stream), 40):
            journal.ingest(stream[start : start + 40])
            time.sleep(0.02)
        total = VisitEvent.objects.unscoped().count()
        _wait(
            lambda: sum(PartitionLease.objects.values_list("processed", flat=True)) >= total,
            90,
            "the survivors to fold every event",
        )
        time.sleep(1.0)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    unique = {(e.source, e.source_event_id) for e in stream}
    assert total == len(unique)
    # Exactly one effect per event: offsets and counts move in the folding transaction.
    assert sum(PartitionLease.objects.values_list("processed", flat=True)) == total
    assert sum(PartitionLease.objects.values_list("takeovers", flat=True)) >= 1
    assert not PartitionLease.objects.filter(owner=victim_name).exists()
    assert Visit.objects.unscoped().count() == len(visits)
    for script in visits:
        visit = Visit.objects.unscoped().get(visit_key=script[0].visit_key)
        state = load_state(visit)
        expected = fold(FoldEvent.from_event(e) for e in script)
        assert visit.event_count == len(script)
        assert [e["id"] for e in state["events"]] == [e.source_event_id for e in expected.events]
        assert (visit.current_node, visit.current_status) == (
            expected.current_node,
            expected.current_status,
        )
    # Each transition of the resident's visits was notified exactly once.
    keys = list(Message().objects.filter(resident=resident).values_list("dedup_key", flat=True))
    assert len(keys) == len(set(keys)) > 0
    linked = [s for i, s in enumerate(visits) if i % 5 == 0]
    expected_keys = {
        f"visit:{Visit.objects.unscoped().get(visit_key=s[0].visit_key).pk}:{n.key}"
        for s in linked
        for n in fold(FoldEvent.from_event(e) for e in s).notifications
    }
    assert set(keys) == expected_keys
