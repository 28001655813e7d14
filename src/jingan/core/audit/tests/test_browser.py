from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.audit.services import record_event, record_personal_data_read, sign_checkpoint
from jingan.testing.browser import DESKTOP, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.req("SEC-3")]


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": base_url}
            for name, morsel in client.cookies.items()
        ]
    )


def test_auditor_searches_opens_an_entry_and_verifies_the_chain(
    live_server_url: str, open_page: Callable[..., Any], make_staff: Any, client_for: Any
) -> None:
    auditor = make_staff("auditor", roles=("auditor",), display_name="审计员王敏")
    doctor = make_staff("doctor", permissions=("runtime.view_platform_status",))
    for number in range(3):
        record_event(
            action="auth.login.failure",
            outcome="failure",
            detail={"username": f"user{number}", "reason": "密码错误"},
        )
    record_personal_data_read(actor=doctor, resident_id=1024, what="身份证号、手机号")
    record_event(action="auth.login.success", actor=doctor, detail={"mobile": "13912345678"})
    sign_checkpoint()

    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(auditor), live_server_url)
    page.goto(live_server_url + "/console/audit/")
    assert page.locator("h1.page-title").inner_text() == "审计日志"
    screenshot(page, "audit-log", full_page=True)

    page.fill("input[name=action]", "auth.login")
    page.select_option("select[name=outcome]", "failure")
    page.click("button:has-text('查询')")
    page.wait_for_url("**/console/audit/?*action=auth.login*")
    assert page.locator("#results tbody tr").count() == 3

    page.goto(live_server_url + "/console/audit/?action=auth.login.success")
    page.click("#results tbody tr a")
    assert "138" not in page.locator("#entry-detail").inner_text()
    assert "139****5678" in page.locator("#entry-detail").inner_text()
    assert page.locator("[data-field=mac]").inner_text() == "与内容一致"
    screenshot(page, "audit-entry", full_page=True)

    page.goto(live_server_url + "/console/audit/")
    page.click("button:has-text('立即校验审计链')")
    page.wait_for_selector(".alert-success")
    assert "审计链完好" in page.locator(".alert-success").inner_text()
    assert page.locator("[data-field=verification]").inner_text().startswith("完好")
    screenshot(page, "audit-verified")
    assert problems.errors == []
