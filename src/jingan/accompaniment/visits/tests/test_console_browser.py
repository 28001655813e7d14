"""The visit assistant's console in a real browser at phone width: the journey editor's
up/down buttons and switches, the HTMX connection test, and the event centre chart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jingan.accompaniment.visits import connections
from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.models import ConnectionTest, HisConnection, NodeTemplate
from jingan.accompaniment.visits.tests.console_helpers import PATIENT_NAME, event, institution
from jingan.config.environment import PROJECT_ROOT
from jingan.integrations.his.port import MessageRejected
from jingan.integrations.his.rest.simulator import RestHisSimulator
from jingan.testing import browser
from jingan.testing.browser import DESKTOP, PHONE, screenshot

pytestmark = [pytest.mark.browser]

CODE = "310106009"  # dialect B


@pytest.fixture
def own_screenshots(monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = PROJECT_ROOT / "var" / "test-console" / "screenshots"
    monkeypatch.setattr(browser, "SCREENSHOTS", folder)
    return folder


@pytest.fixture
def his() -> Iterator[str]:
    simulator = RestHisSimulator("http://127.0.0.1:9", credentials=dict)
    url = simulator.start("127.0.0.1", 0)
    try:
        yield url.rstrip("/")
    finally:
        simulator.stop()


def signed_in(page: Any, client: Any, base_url: str) -> None:
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": base_url}])


WIDER_THAN_PHONE = """() => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > 376)
    .slice(0, 5)
    .map((e) => `${e.tagName}.${e.className}`)"""


def fits_phone(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, page.evaluate(WIDER_THAN_PHONE)


@pytest.mark.req("VA-1", "HI-1")
def test_an_institution_admin_edits_the_journey_and_tests_the_his_on_a_phone(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    his: str,
    own_screenshots: Path,
) -> None:
    place = institution(CODE)
    connections.ensure_connections()
    connection = HisConnection.objects.unscoped().get(institution=place)
    HisConnection.objects.unscoped().filter(pk=connection.pk).update(endpoint=f"{his}/rest/{CODE}")
    admin = make_staff("admin", roles=("institution_admin",), institution=place)
    page, problems = open_page(**PHONE)
    signed_in(page, client_for(admin), live_server_url)

    page.goto(f"{live_server_url}/console/visits/templates/")
    assert page.url.endswith(f"/console/visits/templates/{CODE}/")
    page.click("[data-action=edit]")
    fits_phone(page)
    # Move payment above consultation with the arrow, switch check-in off, rename waiting.
    page.click('[data-node-row="payment"] [data-move="up"]')
    assert page.input_value("#id_payment-order") == "5"
    assert page.input_value("#id_consultation-order") == "6"
    page.uncheck("#id_check_in-include")
    assert "visits-editor__row--off" in str(
        page.get_attribute('[data-node-row="check_in"]', "class")
    )
    page.fill("#id_waiting-title", "候诊叫号")
    page.fill("#id_note", "先缴费后就诊")
    screenshot(page, "visits-console-journey-editor-phone", full_page=True)
    page.click("[data-action=save]")
    page.wait_for_url(f"**/console/visits/templates/{CODE}/")
    assert "已保存为第 2 版" in page.locator("#page-messages").inner_text()
    saved = NodeTemplate.objects.unscoped().get(institution=place, version=2)
    assert [entry["node"] for entry in saved.nodes] == [
        "appointment",
        "registration",
        "waiting",
        "payment",
        "consultation",
        "lab_exam",
        "pharmacy",
        "follow_up",
    ]
    assert (
        page.locator('#current-journey [data-node="waiting"] [data-field="title"]').inner_text()
        == "候诊叫号"
    )
    fits_phone(page)

    page.goto(f"{live_server_url}/console/visits/connections/")
    fits_phone(page)
    page.click(f"#connection-{connection.pk} [data-action=test]")
    page.locator(f"#connection-{connection.pk} [data-notice]:visible").wait_for()
    assert (
        "连接测试成功"
        in page.locator(f"#connection-{connection.pk} [data-notice]:visible").inner_text()
    )
    assert ConnectionTest.objects.get(connection=connection).ok is True
    screenshot(page, "visits-console-connections-phone", full_page=True)

    kept = journal.reject(
        channel="hl7",
        raw=f"MSH|^~\\&|HIS|{CODE}|||20261126090000||ADT^A99|M1|P|2.5\rPID|1||C001||{PATIENT_NAME}",
        error=MessageRejected("unknown_event", "不支持的事件类型 ADT^A99"),
        institution_code=CODE,
    )
    page.goto(f"{live_server_url}/console/visits/rejected/")
    fits_phone(page)
    page.click(f'[data-rejected="{kept}"] [data-action=open]')
    assert PATIENT_NAME not in page.locator("[data-field=raw]").inner_text()
    fits_phone(page)
    page.click("[data-action=reveal]")
    assert PATIENT_NAME in page.locator("[data-field=raw]").inner_text()
    screenshot(page, "visits-console-rejected-phone", full_page=True)
    assert problems.errors == []


@pytest.mark.req("VA-2")
def test_the_event_centre_draws_the_last_hour(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    own_screenshots: Path,
) -> None:
    journal.ingest([event(CODE, "MZ-B1", n, "registration", "unpaid", n) for n in range(1, 4)])
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    for options, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page, problems = open_page(**options)
        signed_in(page, regulator, live_server_url)
        page.goto(f"{live_server_url}/console/visits/centre/")
        page.locator("#chart-per-minute canvas").wait_for()
        assert page.locator('[data-count="journal"]').inner_text() == "3"
        if options is PHONE:
            fits_phone(page)
        screenshot(page, f"visits-console-centre-{name}", full_page=True)
        assert problems.errors == []
