"""Creating a department through the console in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.institutions.models import Institution
from jingan.core.institutions.tests.conftest import LOCAL_PERMISSIONS
from jingan.testing.browser import DESKTOP, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.req("MR-A7")]


def test_institution_admin_adds_a_department(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    central = Institution.objects.unscoped().get(code="310106001")
    central.departments.create(code="03", name="内科", category="outpatient")
    admin = make_staff("central-admin", permissions=LOCAL_PERMISSIONS, institution=central)
    session = client_for(admin).cookies["sessionid"].value
    page, problems = open_page(**DESKTOP)
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server_url}])

    page.goto(f"{live_server_url}/console/institutions/")
    assert page.locator("#institution-table tbody tr").count() == 1
    page.get_by_role("link", name="上海市静安区中心医院").click()
    page.get_by_role("link", name="新增科室").click()

    page.get_by_label("科室编码").fill("03")
    page.get_by_label("科室名称").fill("心血管内科")
    page.get_by_label("科室类别").select_option("outpatient")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_text("科室编码 03 已被本机构的「内科」使用").count() == 1
    screenshot(page, "institutions-department-duplicate-code")

    page.get_by_label("科室编码").fill("03.01")
    page.get_by_label("设有住院病区").check()
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(f"{live_server_url}/console/institutions/{central.pk}/")
    assert page.get_by_text("已新增科室「心血管内科」").count() == 1
    row = page.locator("tr", has_text="心血管内科")
    assert row.locator("td").nth(0).inner_text() == "03.01"
    screenshot(page, "institutions-department-created", full_page=True)

    # Disable it in place (HTMX swaps the row).
    row.get_by_role("button", name="停用").click()
    page.locator("tr", has_text="心血管内科").get_by_role("button", name="启用").wait_for()
    assert central.departments.get(code="03.01").is_active is False
    assert problems.errors == []
