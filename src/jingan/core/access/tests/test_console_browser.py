from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.access.models import RoleAssignment
from jingan.testing.browser import DESKTOP, PHONE, screenshot

pytestmark = [pytest.mark.browser]


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    """Carry a test client's session (second factor satisfied) into the browser."""
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": base_url}
            for name, morsel in client.cookies.items()
        ]
    )


@pytest.mark.req("MR-A8")
def test_a_security_admin_reads_the_matrix_and_grants_a_role_in_the_browser(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Any,
    client_for: Any,
) -> None:
    from jingan.core.access.services import create_role
    from jingan.core.institutions.models import Institution

    central = Institution.objects.unscoped().get(code="310106001")
    admin = make_staff("secadmin", roles=("security_admin",), display_name="安全管理员")
    make_staff("sysadmin", roles=("system_admin",), display_name="系统管理员")
    newcomer = make_staff(
        "wang.fang", institution=central, display_name="王芳", mobile="13812345678"
    )
    create_role(
        actor=None,
        code="record_clerk",
        name="病案室登记员",
        duty="business",
        scope_kind="institution",
        permissions=("institutions.view_institution", "institutions.view_department"),
    )
    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(admin), live_server_url)

    page.goto(live_server_url + "/console/access/roles/")
    assert page.locator("#role-security_admin").get_by_text("内置").count() == 1
    screenshot(page, "access-roles")
    page.goto(live_server_url + "/console/access/roles/record_clerk/edit/")
    matrix = page.locator("#permission-matrix")
    group = matrix.locator('fieldset[data-app="institutions"]')
    assert group.locator("input[name=permissions]:checked").count() == 2
    # "全选" ticks the whole module.
    group.get_by_label("全选机构与科室").check()
    assert (
        group.locator("input[name=permissions]:checked").count()
        == group.locator("input[name=permissions]").count()
    )
    screenshot(page, "access-role-matrix", full_page=True)

    page.goto(f"{live_server_url}/console/access/users/{newcomer.pk}/")
    assert page.locator('[data-field="mobile"]').inner_text() == "138****5678"
    # District roles hide the institution picker; institution roles show it.
    page.locator("#grant-role").select_option("district_regulator")
    page.locator("#id_institution").wait_for(state="hidden")
    assert page.locator("#id_institution").is_disabled()
    page.locator("#grant-role").select_option("record_room_reviewer")
    page.locator("#id_institution").wait_for(state="visible")
    assert page.locator("#id_institution").is_enabled()
    page.locator("#id_institution").select_option(str(central.pk))
    page.get_by_role("button", name="授予").click()
    page.locator("#grant-notice").wait_for()
    assert page.locator("#grant-notice").inner_text().strip() == (
        f"已授予「病案室审核员」（{central.name}），立即生效"
    )
    assert list(
        RoleAssignment.objects.filter(user=newcomer).values_list("role__code", "institution_id")
    ) == [("record_room_reviewer", central.pk)]
    screenshot(page, "access-user-detail", full_page=True)

    page.goto(live_server_url + "/console/access/users/")
    screenshot(page, "access-users")

    phone, phone_problems = open_page(**PHONE)
    _signed_in(phone, client_for(admin), live_server_url)
    phone.goto(live_server_url + "/console/access/users/")
    screenshot(phone, "access-users-phone", full_page=True)
    assert problems.errors == []
    assert phone_problems.errors == []
