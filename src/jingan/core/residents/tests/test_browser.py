from __future__ import annotations

from importlib import resources

import pytest

from jingan.core.residents.models import Resident
from jingan.integrations.regional.simulator import population
from jingan.testing.browser import PHONE, screenshot
from jingan.testing.residents import Simulators

PERSON = population()[20]


@pytest.mark.browser
@pytest.mark.req("SEC-2")
def test_resident_signs_in_verifies_and_sees_a_masked_profile(
    live_server_url: str, simulators: Simulators, open_page, tmp_path
) -> None:
    page, problems = open_page(**PHONE)
    page.goto(f"{live_server_url}/h5/me/")
    page.get_by_role("link", name="微信授权登录").click()

    # The WeChat simulator's authorisation page: a new user with a nickname.
    page.wait_for_url(f"{simulators.wechat.url}/connect/oauth2/authorize*")
    page.get_by_label("新用户的微信昵称").fill("雅琴")
    page.locator("input[value=__new__]").check()
    screenshot(page, "residents-wechat-authorize")
    page.get_by_role("button", name="允许").click()

    page.wait_for_url(f"{live_server_url}/h5/verify/*")
    page.get_by_label("姓名").fill(PERSON.name)
    page.get_by_label("身份证号").fill(PERSON.id_number)
    page.get_by_label("手机号").fill("13912345678")
    face = resources.files("jingan.integrations.regional").joinpath("static/regional/demo-face.png")
    page.set_input_files("#id_photo", str(face))
    screenshot(page, "residents-verify", full_page=True)
    page.get_by_role("button", name="提交认证").click()

    page.wait_for_url(f"{live_server_url}/h5/me/")
    page.get_by_role("link", name="个人信息").first.click()
    page.wait_for_url(f"{live_server_url}/h5/me/profile/")
    assert page.locator("[data-field=name]").inner_text() == "郑**"
    assert page.locator("[data-field=id_number]").inner_text() == (
        PERSON.id_number[:3] + "*" * 11 + PERSON.id_number[-4:]
    )
    assert page.locator("[data-field=mobile]").inner_text() == "139****5678"
    body = page.content()
    assert PERSON.id_number not in body
    assert PERSON.name not in body
    screenshot(page, "residents-profile")
    assert problems.errors == []
    resident = Resident.objects.get(nickname="雅琴")
    assert resident.is_verified is True
