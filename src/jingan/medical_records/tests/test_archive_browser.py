"""The archive sync console in a real browser: status, 立即同步, rejected payloads, onboarding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.medical_records.archive_models import ArchivedAdmission, ArchiveSource
from jingan.medical_records.tests.archive_fixtures import (
    CENTRAL,
    institution,
    simulator,
    source,
)
from jingan.testing.browser import DESKTOP, screenshot

__all__ = ["institution", "simulator", "source"]

pytestmark = [pytest.mark.browser]


@pytest.mark.req("MR-A5")
def test_a_system_admin_syncs_an_institution_and_replays_a_rejected_archive(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    simulator: Any,
    source: Callable[..., Any],
    institution: Callable[[str], Any],
) -> None:
    source(CENTRAL, base_url=simulator.url)
    broken = dict(simulator.admissions(CENTRAL)[0], admission_no="ZY2025000001", diagnoses=[])
    simulator.put_raw(CENTRAL, broken)
    admin = make_staff("sysadmin", roles=("system_admin",))
    session = client_for(admin).cookies["sessionid"].value
    page, problems = open_page(**DESKTOP)
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server_url}])

    page.goto(f"{live_server_url}/console/records/archives/")
    row = page.locator(f'tr[data-institution="{CENTRAL}"]')
    row.get_by_role("button", name="立即同步").click()
    expected = len(simulator.admissions(CENTRAL)) - 1
    alert = page.locator("#page-messages").inner_text()
    assert alert.strip() == f"上海市静安区中心医院 同步完成：新增 {expected} 条，拒收 1 条"
    row = page.locator(f'tr[data-institution="{CENTRAL}"]')
    assert row.locator('[data-count="admissions"]').inner_text() == str(expected)
    assert row.locator('[data-count="failed"]').inner_text() == "0"
    screenshot(page, "archives-status-after-sync", full_page=True)

    page.get_by_role("link", name="拒收的数据").click()
    assert page.locator('[data-role="reason"]').first.inner_text().startswith("诊断：至少需要 1 项")
    screenshot(page, "archives-rejected")
    page.get_by_role("button", name="重新处理").click()
    assert page.get_by_text("住院号 ZY2025000001 仍无法接收：诊断：至少需要 1 项").count() == 1

    page.goto(f"{live_server_url}/console/records/archives/configure/")
    page.get_by_label("同步方式").select_option("poll")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_text("平台定时拉取方式必须填写归档接口地址").count() == 1
    screenshot(page, "archives-configure-error")
    assert problems.errors == []
    assert ArchivedAdmission.objects.unscoped().count() == expected
    assert ArchiveSource.objects.unscoped().count() == 1
