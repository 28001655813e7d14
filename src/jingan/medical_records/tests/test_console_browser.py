"""The record-room console in a real browser: a reviewer on a phone, the statistics charts."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from jingan.medical_records.archive_models import ArchivedAdmission, ArchivedSection
from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import archive, inpatient
from jingan.medical_records.tests.console_fixtures import ConsoleData, console_data
from jingan.testing.browser import DESKTOP, PHONE, screenshot

__all__ = ["archive", "console_data", "inpatient"]

pytestmark = [pytest.mark.browser]


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": base_url}])


def _fits(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


@pytest.mark.req("MR-A2")
@pytest.mark.req("MR-A3")
@pytest.mark.req("MR-A4")
def test_a_reviewer_reviews_an_agent_application_on_a_phone(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    console_data: ConsoleData,
) -> None:
    application = console_data.agent_application
    reviewer = make_staff(
        "reviewer", roles=("record_room_reviewer",), institution=console_data.central
    )
    page, problems = open_page(**PHONE)
    _signed_in(page, client_for(reviewer), live_server_url)

    page.goto(f"{live_server_url}/console/records/applications/")
    _fits(page)
    page.locator('[data-status-tab="submitted"]').click()
    assert page.locator("tr[data-application]").count() == 2
    page.get_by_label("复印用途").select_option("judicial")
    page.get_by_role("button", name="查询").click()
    assert page.locator("tr[data-application]").count() == 1
    screenshot(page, "records-console-list-phone", full_page=True)
    page.get_by_role("link", name=application.number).click()
    _fits(page)
    assert page.locator('[data-field="purpose"]').inner_text() == "司法"
    images = page.locator("img.mr-material-thumb")
    assert images.count() == 2
    images.first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.mr-material-thumb')].some(i => i.complete)"
    )
    screenshot(page, "records-console-detail-phone", full_page=True)

    page.get_by_role("button", name="显示完整信息").click()
    assert page.locator('[data-field="revealed-name"]').inner_text() == "李建国"
    page.get_by_role("button", name="开始审核").click()
    assert "已开始审核" in page.locator("#page-messages").inner_text()
    page.locator("#approve-note").fill("材料齐全")
    page.get_by_role("button", name="通过", exact=True).click()
    assert "审核通过" in page.locator("#page-messages").inner_text()
    # Approval hands the application to the copy builder, which may already have moved it on.
    steps = page.locator("#application-timeline [data-step]")
    assert [steps.nth(i).get_attribute("data-step") for i in range(3)] == [
        "submitted",
        "under_review",
        "approved",
    ]
    assert (
        page.locator('#application-timeline [data-role="step-time"]')
        .first.inner_text()
        .startswith(f"{timezone.localdate():%Y-%m-%d}")
    )
    _fits(page)
    screenshot(page, "records-console-approved-phone", full_page=True)
    assert CopyApplication.objects.unscoped().get(pk=application.pk).status not in (
        "submitted",
        "under_review",
    )
    assert problems.errors == []


@pytest.mark.req("MR-A5")
def test_the_regulator_sees_the_statistics_charts(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    console_data: ConsoleData,
) -> None:
    admission = ArchivedAdmission.objects.unscoped().get(admission_no="ZY-C3")
    for number, status in enumerate(("uploaded", "failed", "pending")):
        ArchivedSection.objects.create(
            admission=admission,
            code=f"s{number}",
            title="组成部分",
            page_count=1,
            document_ref=f"doc-{number}",
            document_digest="0" * 64,
            upload_status=status,
        )
    regulator = make_staff("regulator", roles=("district_regulator",))
    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(regulator), live_server_url)
    start = (timezone.localdate() - datetime.timedelta(days=6)).isoformat()
    page.goto(
        f"{live_server_url}/console/records/statistics/?start={start}&end={timezone.localdate()}&grain=day"
    )
    for chart in ("periods", "institutions", "statuses", "purposes", "uploads"):
        assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
    assert page.locator('[data-count="total"]').first.inner_text() == "3"
    screenshot(page, "records-console-statistics", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 Excel").click()
    assert download.value.suggested_filename.startswith("records-statistics-")

    phone, phone_problems = open_page(**PHONE)
    _signed_in(phone, client_for(regulator), live_server_url)
    phone.goto(f"{live_server_url}/console/records/statistics/")
    _fits(phone)
    assert phone.locator("#chart-statuses canvas").count() == 1
    screenshot(phone, "records-console-statistics-phone", full_page=True)
    # A download ends the navigation that fetched it: Chromium reports that request as aborted.
    export = f"{live_server_url}/console/records/statistics/export/"
    assert [e for e in problems.errors if e != f"failed: {export}"] == []
    assert phone_problems.errors == []
