"""The archive simulator pushes to the running platform, signing as a hospital would."""

from __future__ import annotations

import httpx
import pytest

from jingan.integrations.archives.simulator import ArchiveSimulator
from jingan.medical_records.archive_models import ArchivedAdmission
from jingan.medical_records.tests.archive_fixtures import CENTRAL, institution, push_client, source

__all__ = ["institution", "push_client", "source"]


@pytest.mark.req("MR-A1")
def test_the_simulator_pushes_its_archives_and_a_second_push_changes_nothing(
    live_server_url, push_client
):
    app_id, key = push_client(CENTRAL)
    simulator = ArchiveSimulator(
        platform_url=live_server_url, credentials=lambda code: (app_id, key)
    )
    url = simulator.start()
    try:
        expected = len(simulator.admissions(CENTRAL))
        first = httpx.post(f"{url}/simulator/push?institution={CENTRAL}", json={}, timeout=60)
        second = httpx.post(f"{url}/simulator/push?institution={CENTRAL}", json={}, timeout=60)
    finally:
        simulator.stop()

    assert first.status_code == 200
    assert first.json()["counts"] == {"accepted": expected}
    assert second.json()["counts"] == {"unchanged": expected}
    assert ArchivedAdmission.objects.unscoped().count() == expected
