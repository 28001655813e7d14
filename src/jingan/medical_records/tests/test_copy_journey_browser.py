"""The whole journey on phones: a resident applies, a reviewer approves, the resident downloads.

Both sides at 375×667 in a real browser against the live server; the worker runs the copy
build when the approval commits (Huey runs tasks immediately in tests), and the PDF the
browser downloads is opened and read page by page.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from jingan.lib.masking import mask_name
from jingan.medical_records.models import CopyApplication, CopyDocument
from jingan.medical_records.tests.application_fixtures import archive, inpatient, store_sections
from jingan.testing.browser import PHONE, screenshot
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

__all__ = ["archive", "inpatient"]

pytestmark = [pytest.mark.browser]

SECTIONS = {"front_page": 2, "discharge_summary": 3, "lab_report": 2, "orders": 1}


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": base_url}
            for name, morsel in client.cookies.items()
        ]
    )


def _fits(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


@pytest.mark.req("MR-P1", "MR-P4", "MR-A3", "MR-A4")
def test_apply_approve_and_download_a_watermarked_copy_on_phones(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_resident: Any,
    resident_client: Any,
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    inpatient: list[Any],
    archive: Any,
    tmp_path: Path,
) -> None:
    institution = inpatient[0]
    admission = archive(institution, DEFAULT_ID_NUMBER, "ZY2026100088", patient_name=DEFAULT_NAME)
    store_sections(admission, SECTIONS)
    resident = make_resident()
    reviewer = make_staff("reviewer", roles=("record_room_reviewer",), institution=institution)

    # The resident applies for their own record, for reimbursement, electronic copy.
    phone, problems = open_page(**PHONE)
    _signed_in(phone, resident_client(resident), live_server_url)
    phone.goto(live_server_url + "/h5/records/apply/")
    phone.get_by_label(institution.name).check()
    phone.get_by_role("button", name="下一步").click()
    phone.get_by_role("button", name="下一步").click()  # 本人 is pre-selected
    phone.get_by_text("心血管内科 · 住院号 ZY2026100088").click()
    phone.get_by_role("button", name="下一步").click()
    phone.get_by_label("报销").check()
    assert phone.get_by_label("电子版下载").is_checked()
    phone.get_by_role("button", name="下一步").click()
    phone.get_by_role("button", name="确认提交").click()
    application = CopyApplication.objects.unscoped().get()
    assert phone.get_by_text(f"申请已提交，申请编号 {application.number}").count() == 1

    # The reviewer takes it from the review queue and approves it on their phone.
    desk, desk_problems = open_page(**PHONE)
    _signed_in(desk, client_for(reviewer), live_server_url)
    desk.goto(live_server_url + "/console/records/review/")
    _fits(desk)
    desk.get_by_role("link", name=application.number).click()
    desk.get_by_role("button", name="开始审核").click()
    desk.locator("#approve-note").fill("本人申请，实名与人脸核验通过")
    desk.get_by_role("button", name="通过", exact=True).click()
    assert "审核通过" in desk.locator("#page-messages").inner_text()
    desk.reload()
    assert desk.locator("#copy-panel [data-field=copy-pages]").inner_text() == "9 页"
    _fits(desk)
    screenshot(desk, "records-journey-reviewer-approved", full_page=True)
    application.refresh_from_db()
    assert application.status == "ready"

    # The resident sees it ready and downloads the PDF.
    phone.goto(f"{live_server_url}/h5/records/applications/{application.number}/")
    _fits(phone)
    screenshot(phone, "records-journey-resident-ready", full_page=True)
    with phone.expect_download() as download_info:
        phone.get_by_role("button", name="下载电子复印件").click()
    download = download_info.value
    assert download.suggested_filename == f"病案复印件-{application.number}.pdf"
    target = tmp_path / "copy.pdf"
    download.save_as(str(target))

    reader = PdfReader(io.BytesIO(target.read_bytes()))
    # The cover, then the sections in the order the purpose lists them.
    assert len(reader.pages) == 1 + sum(SECTIONS.values())
    assert f"共 {len(reader.pages)} 页（含本页）" in reader.pages[0].extract_text()
    masked = mask_name(DEFAULT_NAME)
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert application.number in text, f"page {number} lacks the application number"
        assert masked in text, f"page {number} lacks the masked name"
        assert f"第 {number} / {len(reader.pages)} 页" in text
    assert DEFAULT_NAME not in "".join(page.extract_text() for page in reader.pages)

    application.refresh_from_db()
    document = CopyDocument.objects.get(application=application)
    assert (application.status, document.download_count) == ("completed", 1)
    phone.reload()
    assert phone.locator("#mr-timeline [data-status]").get_attribute("data-status") == "completed"
    screenshot(phone, "records-journey-resident-completed", full_page=True)
    assert problems.errors == []
    assert desk_problems.errors == []
