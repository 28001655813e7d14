from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import JPEG, archive, id_number, inpatient
from jingan.testing.browser import PHONE, screenshot

__all__ = ["archive", "inpatient"]

pytestmark = [pytest.mark.browser]


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": base_url}
            for name, morsel in client.cookies.items()
        ]
    )


def _fits(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


@pytest.mark.req("MR-P1")
def test_a_resident_applies_as_an_agent_on_a_phone(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_resident: Any,
    resident_client: Any,
    inpatient: list[Any],
    archive: Any,
    tmp_path: Path,
) -> None:
    patient_id = id_number("19500101", 11)
    archive(inpatient[0], patient_id, "ZY2026100001", patient_name="李建国")
    resident = make_resident()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(JPEG)
    page, problems = open_page(**PHONE)
    _signed_in(page, resident_client(resident), live_server_url)

    page.goto(live_server_url + "/h5/records/")
    _fits(page)
    screenshot(page, "records-h5-intro")
    page.get_by_role("link", name="开始申请").click()
    page.get_by_label(inpatient[0].name).check()
    screenshot(page, "records-h5-step1-institution")
    page.get_by_role("button", name="下一步").click()

    page.get_by_label("委托代理人").check()
    page.get_by_label("患者姓名").fill("李建国")
    page.get_by_label("患者身份证号").fill(patient_id)
    page.get_by_label("您与患者的关系").fill("子女")
    page.get_by_role("button", name="下一步").click()
    assert page.get_by_text("委托代理人申请需上传身份证人像面").count() == 1
    screenshot(page, "records-h5-step2-missing-materials")
    for label in ("身份证人像面", "授权委托书", "代理人身份证"):
        page.locator("[data-mr-for=agent]").get_by_label(label, exact=True).set_input_files(
            str(photo)
        )
    _fits(page)
    screenshot(page, "records-h5-step2-materials", full_page=True)
    page.get_by_role("button", name="下一步").click()

    page.get_by_text("心血管内科 · 住院号 ZY2026100001").click()
    screenshot(page, "records-h5-step3-admissions")
    page.get_by_role("button", name="下一步").click()

    page.get_by_label("司法").check()
    assert page.get_by_label("护理记录").is_checked()  # judicial pre-selects the whole record
    page.get_by_label("邮寄纸质件").check()
    page.get_by_label("收件人").fill("王秀英")
    page.get_by_label("联系电话").fill("13800138000")
    page.get_by_label("收件地址").fill("上海市静安区共和新路 1000 号 3 室")
    _fits(page)
    screenshot(page, "records-h5-step4-details", full_page=True)
    page.get_by_role("button", name="下一步").click()

    screenshot(page, "records-h5-step5-confirm", full_page=True)
    page.get_by_role("button", name="确认提交").click()
    application = CopyApplication.objects.unscoped().get()
    assert page.get_by_text(f"申请已提交，申请编号 {application.number}").count() == 1
    _fits(page)
    screenshot(page, "records-h5-detail", full_page=True)
    page.get_by_role("link", name="返回我的申请").click()
    assert page.get_by_text(f"申请编号 {application.number}").count() == 1
    screenshot(page, "records-h5-my-applications")
    assert (application.applicant_type, application.purpose, application.delivery_method) == (
        "agent",
        "judicial",
        "mail",
    )
    assert problems.errors == []


@pytest.mark.req("MR-P3")
def test_without_an_archive_the_phone_shows_why_and_what_to_do(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_resident: Any,
    resident_client: Any,
    inpatient: list[Any],
) -> None:
    page, problems = open_page(**PHONE)
    _signed_in(page, resident_client(make_resident()), live_server_url)
    page.goto(live_server_url + "/h5/records/apply/")
    page.get_by_label(inpatient[1].name).check()
    page.get_by_role("button", name="下一步").click()
    page.get_by_role("button", name="下一步").click()  # 本人 is pre-selected
    assert page.get_by_role("alert").inner_text() == (
        "未在该机构查询到您的归档住院病案，请确认出院时间（一般出院后 7 个工作日内完成归档）"
        "或联系医院病案室"
    )
    _fits(page)
    screenshot(page, "records-h5-no-archive")
    assert problems.errors == []
