"""A phone-size journey in a real browser: a doctor writes and sends an e-prescription
in the console, the centre approves it (its notification reaches the platform over
HTTP), and the resident finds it in "我的处方" with the purchase slip's QR code."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jingan.config.environment import PROJECT_ROOT
from jingan.integrations.erx_centre.simulator import ErxCentreSimulator
from jingan.prescriptions.erx import demo, services
from jingan.prescriptions.erx.models import Prescription, PrescriptionStatus
from jingan.prescriptions.erx.tests.test_console import AMLODIPINE, institution_model, start_centre
from jingan.testing import browser
from jingan.testing.browser import PHONE, screenshot
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

pytestmark = [pytest.mark.browser]

SCREENSHOTS = PROJECT_ROOT / "var" / "test-pages"


@pytest.fixture
def pages_screenshots(monkeypatch: pytest.MonkeyPatch) -> Path:
    # This helper's screenshots go to its own data directory, not the shared one.
    monkeypatch.setattr(browser, "SCREENSHOTS", SCREENSHOTS)
    return SCREENSHOTS


@pytest.fixture
def live_centre(
    live_server_url: str, settings: Any, tmp_path: Path
) -> Iterator[tuple[ErxCentreSimulator, Any]]:
    simulator = start_centre(
        settings,
        tmp_path / "centre.json",
        notify_url=f"{live_server_url}/api/v1/erx/centre/notifications",
    )
    institution = institution_model().objects.unscoped().order_by("code").first()
    demo.ensure_connection(institution)
    services.sync_drug_catalogue(actor=services.SYSTEM_ACTOR, institution_id=institution.pk)
    try:
        yield simulator, institution
    finally:
        simulator.stop()


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": base_url}])


def _fits(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


def _message(page: Any) -> str:
    return str(page.locator("#page-messages").inner_text())


@pytest.mark.req("RX-M1")
@pytest.mark.req("RX-M2")
def test_a_doctor_sends_a_prescription_and_the_resident_sees_its_qr_on_a_phone(
    live_server_url: str,
    live_centre: tuple[ErxCentreSimulator, Any],
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    make_resident: Callable[..., Any],
    resident_client: Callable[..., Any],
    pages_screenshots: Path,
) -> None:
    simulator, institution = live_centre
    doctor = make_staff("doctor", roles=("erx_doctor",), institution=institution)
    pharmacist = client_for(
        make_staff("pharmacist", roles=("erx_pharmacist",), institution=institution)
    )
    resident = make_resident()

    page, problems = open_page(**PHONE)
    _signed_in(page, client_for(doctor), live_server_url)
    page.goto(f"{live_server_url}/console/erx/prescriptions/")
    assert "没有符合条件的处方" in page.locator("#prescription-table").inner_text()
    page.locator("#new-prescription").click()
    page.locator("#id_hosp_rxno").fill("RX20260310101")
    page.locator("#id_patient_name").fill(DEFAULT_NAME)
    page.locator("#id_patient_id_number").fill(DEFAULT_ID_NUMBER)
    page.locator("#id_patient_gender").select_option("2")
    page.locator("#id_patient_age").fill("80")
    page.locator("#id_mdtrt_id").fill("MZ202603100101")
    page.locator("#id_department_code").fill("A03")
    page.locator("#id_department_name").fill("心血管内科门诊")
    page.locator("#id_doctor_code").fill("D310106001")
    page.locator("#id_doctor_name").fill("张医生")
    page.locator("#id_diagnosis-0-code").fill("I10.X00")
    page.locator("#id_diagnosis-0-name").fill("原发性高血压")
    page.locator("#item-0-search").fill("氨氯地平")
    option = page.locator(f'[data-drug-pick][data-code="{AMLODIPINE["medListCodg"]}"]')
    option.click()
    assert page.locator("#id_item-0-med_list_codg").input_value() == AMLODIPINE["medListCodg"]
    assert "苯磺酸氨氯地平片" in page.locator('[data-role="drug-label"]').first.inner_text()
    page.locator("#id_item-0-quantity").fill("2")
    page.locator("#id_item-0-single_dose").fill("5 mg")
    page.locator("#id_item-0-frequency_code").select_option("qd")
    page.locator("#id_item-0-days").fill("14")
    # A second line appears and goes again: the formset stays numbered.
    page.get_by_role("button", name="添加药品").click()
    assert page.locator("[data-item-row]").count() == 2
    page.locator("[data-item-row]").nth(1).locator("[data-remove-row]").click()
    assert page.locator("input[name=item-TOTAL_FORMS]").input_value() == "1"
    _fits(page)
    screenshot(page, "erx-console-form-phone", full_page=True)
    page.locator("#save-prescription").click()

    assert "处方 RX20260310101 已保存为草稿" in _message(page)
    assert page.locator("#prescription-status").inner_text() == "草稿"
    page.locator("#action-preverify").click()
    assert "预核验通过" in _message(page)
    page.locator("#action-submit-review").click()
    assert "已提交院内审方" in _message(page)
    prescription = Prescription.objects.unscoped().get(hosp_rxno="RX20260310101")
    pharmacist.post(
        f"/console/erx/prescriptions/{prescription.reference}/actions/approve/",
        {"opinion": "用药合理"},
    )
    page.reload()
    page.locator("#action-sign-upload").click()
    assert "已签名并上传处方中心" in _message(page)
    assert page.locator("#prescription-status").inner_text() == "已上传待审核"
    _fits(page)
    screenshot(page, "erx-console-uploaded-phone", full_page=True)

    # The centre approves; its signed notification reaches the platform on its own.
    simulator.review(prescription.hi_rxno, approve=True, opinion="处方合理")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        prescription.refresh_from_db()
        if prescription.status == PrescriptionStatus.CENTRE_APPROVED:
            break
        time.sleep(0.2)
    assert prescription.status == PrescriptionStatus.CENTRE_APPROVED
    page.reload()
    assert page.locator('[data-role="slip-qr"] svg').count() == 1
    screenshot(page, "erx-console-approved-phone", full_page=True)

    resident_page, resident_problems = open_page(**PHONE)
    _signed_in(resident_page, resident_client(resident), live_server_url)
    resident_page.goto(f"{live_server_url}/h5/erx/prescriptions/")
    card = resident_page.locator('[data-prescription="RX20260310101"]')
    assert "医保审核通过" in card.inner_text()
    assert "审核：审核通过" in card.inner_text()
    _fits(resident_page)
    screenshot(resident_page, "erx-h5-list-phone", full_page=True)
    card.click()
    qr = resident_page.locator('#rx-slip [data-role="slip-qr"] svg')
    assert qr.count() == 1
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 180
    assert box["x"] >= 0
    assert resident_page.locator('[data-field="pickup"]').inner_text() == "未取药"
    _fits(resident_page)
    screenshot(resident_page, "erx-h5-detail-phone", full_page=True)
    assert problems.errors == []
    assert resident_problems.errors == []
