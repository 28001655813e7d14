"""The event centre's status page: partitions with owner, offset and lag, live and lost
sub-centres, journal totals and the last hour's events per minute (VA-2)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.models import PartitionLease, SubCentreMember, VisitEvent
from jingan.accompaniment.visits.tests.console_helpers import event, institutions


def count(page: str, key: str) -> int:
    match = re.search(rf'data-count="{re.escape(key)}">(\d+)<', page)
    assert match, key
    return int(match.group(1))


def chart(page: str) -> dict[str, list[Any]]:
    match = re.search(
        r'<script id="visits-centre-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert match
    return json.loads(match.group(1))


@pytest.mark.req("VA-2")
@pytest.mark.django_db
def test_the_centre_page_shows_partitions_subcentres_and_the_journal(
    make_staff: Any, client_for: Any
) -> None:
    central, other = institutions(2)
    journal.ingest(
        [
            event(central.code, "MZ-1", 1, "registration", "unpaid", 0),
            event(central.code, "MZ-2", 1, "registration", "unpaid", 1),
            event(other.code, "MZ-3", 1, "registration", "unpaid", 2),
        ]
    )
    drain()
    later = journal.ingest(
        [
            event(central.code, "MZ-1", 2, "registration", "registered", 3),
            event(other.code, "MZ-3", 2, "registration", "registered", 4),
        ]
    )
    now = timezone.now()
    pending = list(
        VisitEvent.objects.unscoped()
        .filter(id__in=later.event_ids)
        .order_by("id")
        .values_list("partition", flat=True)
    )
    busy = pending[0]
    PartitionLease.objects.filter(partition=busy).update(
        owner="subcentre-a", expires_at=now + timedelta(seconds=8), takeovers=2
    )
    SubCentreMember.objects.create(
        name="subcentre-a", host="node1", pid=101, allowed="0-7", started_at=now, heartbeat_at=now
    )
    SubCentreMember.objects.create(
        name="subcentre-b",
        host="node2",
        pid=202,
        allowed="0-3",
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(minutes=5),
    )
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))

    page = regulator.get("/console/visits/centre/").content.decode()

    assert [count(page, key) for key in ("journal", "last-hour", "lag", "visits")] == [5, 5, 2, 3]
    assert count(page, "visits-open") == 3
    assert page.count("<tr data-partition=") == 8
    row = re.search(rf'<tr data-partition="{busy}">.*?</tr>', page, re.S)
    assert row is not None
    assert "subcentre-a" in row.group(0)
    assert re.search(r'data-field="takeovers">2<', row.group(0))
    lag = sum(1 for partition in pending if partition == busy)
    assert re.search(rf'data-field="lag"><span class="text-orange fw-medium">{lag}<', row.group(0))
    alive = re.search(r'data-member="subcentre-a".*?</div>\s*</div>\s*</div>', page, re.S)
    lost = re.search(r'data-member="subcentre-b".*?</div>\s*</div>\s*</div>', page, re.S)
    assert alive is not None
    assert "在线" in alive.group(0)
    assert f"P{busy}" in alive.group(0)
    assert lost is not None
    assert "失联" in lost.group(0)
    series = chart(page)
    assert len(series["labels"]) == len(series["values"]) == 60
    assert sum(series["values"]) == 5
    assert "仅包含您所在机构的数据" not in page

    # An institution's staff see the machinery, and the journal of their institution only.
    admin = client_for(make_staff("admin", roles=("institution_admin",), institution=central))
    own = admin.get("/console/visits/centre/").content.decode()
    assert [count(own, key) for key in ("journal", "visits")] == [3, 2]
    assert sum(chart(own)["values"]) == 3
    assert "仅包含您所在机构的数据" in own


@pytest.mark.req("VA-2")
@pytest.mark.django_db
def test_an_empty_centre_says_so_and_outsiders_are_kept_out(
    make_staff: Any, client_for: Any, make_resident: Any, resident_client: Any
) -> None:
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    page = regulator.get("/console/visits/centre/").content.decode()
    assert "没有运行中的子中心" in page
    assert count(page, "journal") == 0
    assert page.count('<span class="badge bg-secondary-lt">未分配</span>') == 8

    no_role = client_for(make_staff("clerk", institution=institutions(1)[0]))
    assert no_role.get("/console/visits/centre/").status_code == 403
    for client in (Client(), resident_client(make_resident())):
        response = client.get("/console/visits/centre/")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")
