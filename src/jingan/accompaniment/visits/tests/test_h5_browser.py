"""A whole realistic visit on a phone: the resident opens the assistant from the home
page, taps a to-do to the pharmacy's QR code, and reads every node page (screenshots
under var/screenshots/visits-h5-*.png)."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.models import Visit
from jingan.accompaniment.visits.tests.test_live_visit import send_from_another_thread
from jingan.integrations.his.port import HisEvent, PatientRef
from jingan.integrations.his.scenarios import plan_visit, visit_script
from jingan.testing.browser import PHONE, screenshot
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

# Seed 10 books ahead, orders two lab items and prescribes drugs: every node is reached.
SEED = 10


class Script:
    """A scenario's events sent through the journal, like Journey.send does."""

    def __init__(self, events: list[HisEvent]) -> None:
        self.events = events

    def send(self, *events: HisEvent) -> Visit:
        from jingan.accompaniment.visits.centre.processor import drain

        journal.ingest(list(events))
        drain()
        return Visit.objects.unscoped().get(visit_key=events[0].visit_key)


@pytest.mark.browser
@pytest.mark.req("VA-4", "VA-7", "VA-9", "VA-10", "VA-11", "VA-12", "VA-13")
def test_a_resident_walks_through_a_whole_visit_on_a_phone(
    open_page: Any,
    live_server_url: str,
    make_resident: Any,
    resident_client: Any,
    simulators: Any,
) -> None:
    resident = make_resident()
    rng = random.Random(SEED)
    plan = plan_visit(
        rng,
        institution_code="310106001",
        dialect="A",
        visit_key="MZ20261126010",
        arrive_at=datetime(2026, 11, 26, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")),
        patient=PatientRef(name=DEFAULT_NAME, id_number=DEFAULT_ID_NUMBER),
    )
    events = visit_script(plan, rng)
    # Everything up to the pickup: the drugs wait at the window.
    played = [e for e in events if (e.node, e.status) != ("pharmacy", "dispensed")]
    send_from_another_thread(Script(played), *played)  # type: ignore[arg-type]
    visit = Visit.objects.unscoped().get(visit_key="MZ20261126010")

    page, problems = open_page(**PHONE)
    key = resident_client(resident).cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": key, "url": live_server_url}])
    page.goto(f"{live_server_url}/h5/")
    page.get_by_role("link", name="门诊就医助手").click()
    page.wait_for_url(f"{live_server_url}/h5/visits/")
    screenshot(page, "visits-h5-list")
    page.locator(f'[data-visit="{visit.reference}"]').click()
    page.wait_for_url(f"{live_server_url}/h5/visits/{visit.reference}/")
    steps = page.locator(".va-step").evaluate_all(
        "els => els.map(e => [e.dataset.node, e.querySelector('[data-status]').textContent])"
    )
    assert steps == [
        ["appointment", "已取号"],
        ["registration", "已挂号"],
        ["check_in", "已签到"],
        ["waiting", "已叫号"],
        ["consultation", "诊毕"],
        ["payment", "已缴费"],
        ["lab_exam", "报告已出"],
        ["pharmacy", "待取药"],
        ["follow_up", "待填写问卷"],
    ]
    screenshot(page, "visits-h5-visit", full_page=True)

    pickup = next(e for e in played if (e.node, e.status) == ("pharmacy", "ready"))
    page.locator('[data-todo="pharmacy:R1:ready"]').click()
    page.wait_for_url(f"{live_server_url}/h5/visits/{visit.reference}/nodes/pharmacy/#item-R1")
    qr = page.locator('[data-role="pickup-qr"] svg')
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 150
    assert box["height"] >= 150
    assert page.locator('[data-field="pickup-code"]').inner_text() == pickup.payload["pickup_code"]
    assert page.locator('[data-field="window"]').inner_text() == pickup.payload["window"]
    screenshot(page, "visits-h5-pharmacy", full_page=True)

    for node in (
        "appointment",
        "registration",
        "waiting",
        "consultation",
        "payment",
        "lab_exam",
        "follow_up",
    ):
        page.goto(f"{live_server_url}/h5/visits/{visit.reference}/nodes/{node}/")
        assert page.locator('[data-field="patient"]').first.inner_text() == "王**"
        screenshot(page, f"visits-h5-node-{node}", full_page=True)
    abnormal = page.locator("[data-abnormal]")
    assert abnormal.count() == 0  # the follow-up page has no report
    page.goto(f"{live_server_url}/h5/visits/{visit.reference}/nodes/lab_exam/")
    assert page.locator("[data-abnormal]").evaluate_all(
        "rows => rows.map(r => [r.dataset.result, getComputedStyle(r.cells[0]).color])"
    ) == [["血小板计数", "rgb(208, 59, 47)"]]
    assert DEFAULT_NAME not in page.content()
    assert problems.errors == []
