from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from jingan.core.audit import append_only_triggers
from jingan.core.audit.models import AuditEntry, ChainHead
from jingan.core.audit.services import record_event
from jingan.core.audit.verification import verify_chain

THREADS = 8
EVENTS_PER_THREAD = 6


@pytest.mark.req("CR-3")
def test_concurrent_writers_extend_one_chain_without_forks(transactional_db):
    # Each thread has its own database connection, as separate processes would.
    before = AuditEntry.objects.count()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def write(thread_number: int) -> None:
        try:
            barrier.wait()
            for event_number in range(EVENTS_PER_THREAD):
                record_event(
                    action="auth.login.success", object_id=f"{thread_number}-{event_number}"
                )
        except BaseException as error:  # reported to the main thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    written = THREADS * EVENTS_PER_THREAD
    # A flush before this test re-syncs the built-in roles, which is audited too.
    total = before + written
    entries = list(AuditEntry.objects.order_by("sequence"))
    assert [entry.sequence for entry in entries] == list(range(1, total + 1))
    assert len({entry.prev_mac for entry in entries}) == total
    assert sorted(entry.object_id for entry in entries[before:]) == sorted(
        f"{t}-{e}" for t in range(THREADS) for e in range(EVENTS_PER_THREAD)
    )
    assert all(
        later.prev_mac == earlier.mac for earlier, later in zip(entries, entries[1:], strict=False)
    )
    head = ChainHead.objects.get()
    assert (head.sequence, head.mac) == (total, entries[-1].mac)
    report = verify_chain()
    assert (report.ok, report.entries_checked) == (True, total)


def test_flush_between_transactional_tests_keeps_the_triggers(transactional_db):
    # The previous test's rows are gone (flushed) and the guard is back in place.
    assert not AuditEntry.objects.filter(action="auth.login.success").exists()
    assert append_only_triggers.installed(connection)
    assert verify_chain().ok
