from __future__ import annotations

import datetime
import io
import re
from typing import Any

import pytest
import time_machine
from django.http import Http404
from django.utils import timezone
from pypdf import PdfReader, PdfWriter

from jingan.core.public import encrypt_file_bytes, sm3_hex
from jingan.medical_records import copy_services, services
from jingan.medical_records.archive_services import (
    ingest_archive_payload,
)
from jingan.medical_records.copy_services import Watermark
from jingan.medical_records.models import (
    ApplicationEvent,
    ArchivedSection,
    CopyApplication,
    CopyDocument,
)
from jingan.medical_records.services import ApplicationError, MailAddress
from jingan.medical_records.tests.application_fixtures import (
    archive,
    id_number,
    inpatient,
    section_pdf,
    store_sections,
)
from jingan.medical_records.tests.archive_fixtures import institution, simulator, source
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

__all__ = ["archive", "inpatient", "institution", "simulator", "source"]

REVIEW = "medical_records.review_copyapplication"
VIEW = "medical_records.view_copyapplication"
PERSONAL_DATA_READ = "resident.personal_data.read"
SECTION_PAGES = {"front_page": 2, "discharge_summary": 3, "lab_report": 1}


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


def _submit(resident: Any, institution: Any, admission: Any, **overrides: Any) -> CopyApplication:
    fields: dict[str, Any] = {
        "actor": resident,
        "institution_id": institution.pk,
        "admission_ids": [admission.pk],
        "applicant_type": "self",
        "purpose": "insurance_claim",
        "sections": ["front_page", "discharge_summary", "lab_report"],
        "copies": 1,
        "delivery_method": "electronic",
    }
    fields.update(overrides)
    return services.submit_application(**fields)


def _approve(reviewer: Any, application: CopyApplication, capture: Any) -> CopyApplication:
    # Huey runs immediately in tests: the copy is built when the approval commits.
    with capture(execute=True):
        services.approve_application(actor=reviewer, application_id=application.pk)
    application.refresh_from_db()
    return application


def _texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _timeline(application: CopyApplication) -> list[tuple[str, str, str]]:
    return [
        (e.from_status, e.to_status, e.actor_kind)
        for e in ApplicationEvent.objects.filter(application=application)
    ]


def _document(application: CopyApplication) -> CopyDocument:
    return CopyDocument.objects.get(application=application)


@pytest.fixture
def approved_copy(
    make_resident: Any,
    make_staff: Any,
    inpatient: list[Any],
    archive: Any,
    simulators: Any,
    django_capture_on_commit_callbacks: Any,
) -> tuple[Any, Any, CopyApplication]:
    """A resident's electronic application, approved and built (READY)."""
    resident = make_resident()
    admission = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-C1")
    store_sections(admission, SECTION_PAGES)
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=inpatient[0])
    application = _approve(
        reviewer, _submit(resident, inpatient[0], admission), django_capture_on_commit_callbacks
    )
    return resident, reviewer, application


def _link(client: Any, application: CopyApplication) -> str:
    response = client.post(f"/h5/records/applications/{application.number}/download/")
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"].startswith("/h5/records/copies/")
    return str(response["Location"])


# -- the PDF ------------------------------------------------------------------------------


@pytest.mark.req("MR-A4")
def test_every_page_of_a_copy_carries_the_watermark_and_its_page_footer() -> None:
    landscape = PdfWriter()
    landscape.add_blank_page(842, 595)
    landscape.add_blank_page(842, 595)
    buffer = io.BytesIO()
    landscape.write(buffer)
    sections = [section_pdf("出院记录", 3, "ZY1", "discharge_summary"), buffer.getvalue()]
    watermark = Watermark("BA20261020000001", "王**", datetime.date(2026, 10, 20), "商业保险理赔")

    pdf, pages = copy_services.build_watermarked_pdf(
        sections,
        watermark=watermark,
        cover=lambda total: (
            f"<html><body><h1>病案复印件 BA20261020000001 王** 共 {total} 页</h1></body></html>"
        ),
    )

    assert pages == 1 + 3 + 2
    texts = _texts(pdf)
    assert len(texts) == pages
    assert "共 6 页" in texts[0]
    for number, text in enumerate(texts, start=1):
        assert "BA20261020000001" in text
        assert "王**" in text
        assert "商业保险理赔" in text
        assert f"静安区便捷就医 · 病案复印件 BA20261020000001 · 第 {number} / {pages} 页" in text
        assert DEFAULT_NAME not in text
    sizes = [
        (round(float(p.mediabox.width)), round(float(p.mediabox.height)))
        for p in PdfReader(io.BytesIO(pdf)).pages
    ]
    assert sizes == [(595, 842)] * 4 + [(842, 595)] * 2
    # The section's own content is still there, under the overlay.
    assert "ZY1 discharge_summary page 0" in texts[1]


def test_an_unreadable_section_pdf_is_a_build_error() -> None:
    watermark = Watermark("BA1", "王**", datetime.date(2026, 10, 20), "其他")
    with pytest.raises(copy_services.CopyBuildError, match="病案文档无法解析"):
        copy_services.build_watermarked_pdf([b"%PDF-1.4 broken"], watermark=watermark)


# -- approval to download ---------------------------------------------------------------


@pytest.mark.req("MR-A4")
@pytest.mark.req("MR-P4")
def test_an_approved_application_is_built_and_the_first_download_completes_it(
    approved_copy: Any, resident_client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    assert application.status == "ready"
    assert _timeline(application) == [
        ("", "submitted", "resident"),
        ("submitted", "approved", "staff"),
        ("approved", "preparing", "system"),
        ("preparing", "ready", "system"),
    ]
    notes = list(
        ApplicationEvent.objects.filter(application=application).values_list("note", flat=True)
    )
    assert notes[2:] == ["正在制作复印件", "复印件已制作完成，可下载（30 天内有效）"]
    document = _document(application)
    assert (document.pages, document.download_count, document.build_error) == (1 + 6, 0, "")
    assert document.first_downloaded_at is None
    stored = copy_services.copy_path(document).read_bytes()
    assert not stored.startswith(b"%PDF")  # encrypted at rest

    client = resident_client(resident)
    detail = client.get(f"/h5/records/applications/{application.number}/").content.decode()
    assert "下载电子复印件" in detail
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=1), tick=False):
        response = client.get(_link(client, application))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert "%E7%97%85%E6%A1%88%E5%A4%8D%E5%8D%B0%E4%BB%B6-" in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment;")
    assert sm3_hex(response.content) == document.sm3
    texts = _texts(response.content)
    assert len(texts) == 7
    for text in texts:
        assert application.number in text
        assert "王**" in text
        assert DEFAULT_NAME not in text
    assert "本复印件仅供保险理赔使用" in texts[0]
    assert "ZY-C1" in texts[0]

    document.refresh_from_db()
    application.refresh_from_db()
    assert document.download_count == 1
    first = document.first_downloaded_at
    assert first is not None
    assert document.last_downloaded_at == first
    assert application.status == "completed"
    assert application.completed_at is not None
    assert _timeline(application)[-1] == ("ready", "completed", "resident")

    later = timezone.now() + datetime.timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        again = client.get(_link(client, application))
    assert again.status_code == 200
    document.refresh_from_db()
    assert document.download_count == 2
    assert document.first_downloaded_at == first
    assert document.last_downloaded_at == later
    assert _timeline(application)[-1] == ("ready", "completed", "resident")  # no second step
    assert list(
        _model("audit.AuditEntry")
        .objects.filter(object_id=application.number, action__startswith="medical_records.copy.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "medical_records.copy.build",
        "medical_records.copy.download",
        "medical_records.copy.download",
    ]


@pytest.mark.req("MR-A4")
def test_auto_approval_at_submission_builds_the_copy_too(
    make_resident: Any,
    inpatient: list[Any],
    archive: Any,
    simulators: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    resident = make_resident()
    admission = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-C2")
    store_sections(admission, {"front_page": 2})
    _model("dictionary.InstitutionSetting").objects.unscoped().update_or_create(
        institution=inpatient[0],
        key="medical_records.review_mode",
        defaults={"value": "auto_when_verified"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        application = _submit(resident, inpatient[0], admission, sections=["front_page"])
    application.refresh_from_db()
    assert application.status == "ready"
    assert _document(application).pages == 3
    assert _timeline(application)[1:] == [
        ("submitted", "approved", "system"),
        ("approved", "preparing", "system"),
        ("preparing", "ready", "system"),
    ]


def test_a_section_the_admission_lacks_is_named_on_the_cover_and_skipped(
    approved_copy: Any, make_staff: Any
) -> None:
    _resident, reviewer, application = approved_copy
    ArchivedSection.objects.filter(code="lab_report").delete()
    document = copy_services.rebuild_copy(actor=reviewer, application_id=application.pk)
    assert document.pages == 1 + 2 + 3
    _, data = copy_services.open_copy_for_staff(actor=reviewer, application_id=application.pk)
    assert "归档中无：检验报告" in _texts(data)[0]


@pytest.mark.req("MR-A4")
def test_a_mailed_copy_is_built_for_printing_then_shipped_and_completed(
    make_resident: Any,
    make_staff: Any,
    inpatient: list[Any],
    archive: Any,
    resident_client: Any,
    simulators: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    resident = make_resident()
    admission = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-C3")
    store_sections(admission, SECTION_PAGES)
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=inpatient[0])
    application = _submit(
        resident,
        inpatient[0],
        admission,
        delivery_method="mail",
        mail=MailAddress("王秀英", "13812345678", "上海市静安区武定路 100 弄 1 号"),
    )
    application = _approve(reviewer, application, django_capture_on_commit_callbacks)
    assert application.status == "ready"
    assert list(
        ApplicationEvent.objects.filter(application=application).values_list("note", flat=True)
    )[-1] == ("复印件已制作完成，待邮寄")
    assert _document(application).pages == 7

    client = resident_client(resident)
    assert (
        "下载电子复印件"
        not in client.get(f"/h5/records/applications/{application.number}/").content.decode()
    )
    refused = client.post(f"/h5/records/applications/{application.number}/download/")
    assert refused.status_code == 403
    assert "纸质件邮寄申请不提供电子版下载" in refused.content.decode()

    services.mark_shipped(actor=reviewer, application_id=application.pk, tracking_no="SF1234567890")
    services.complete_application(actor=reviewer, application_id=application.pk)
    application.refresh_from_db()
    assert application.status == "completed"
    assert application.tracking_no == "SF1234567890"
    assert _timeline(application)[-2:] == [
        ("ready", "shipped", "staff"),
        ("shipped", "completed", "staff"),
    ]
    events = ApplicationEvent.objects.filter(application=application)
    times = [event.occurred_at for event in events]
    assert all(time is not None for time in times)
    assert times == sorted(times)
    assert _document(application).download_count == 0


def test_preparing_twice_changes_nothing(approved_copy: Any) -> None:
    _resident, _reviewer, application = approved_copy
    before = _document(application).file_key
    assert copy_services.prepare_copy(application.pk) is None
    assert _document(application).file_key == before
    assert len(_timeline(application)) == 4


# -- outsiders ------------------------------------------------------------------------------


def _assert_not_counted(application: CopyApplication) -> None:
    application.refresh_from_db()
    document = _document(application)
    assert document.download_count == 0
    assert document.first_downloaded_at is None
    assert application.status == "ready"


@pytest.mark.req("MR-P4")
def test_another_residents_link_or_session_is_refused_and_nothing_counted(
    approved_copy: Any, make_resident: Any, resident_client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    link = _link(resident_client(resident), application)
    other = resident_client(make_resident("李建国", id_number("19500101", 101)))

    response = other.get(link)
    assert response.status_code == 403
    assert "该下载链接不属于当前登录的账号" in response.content.decode()
    assert b"%PDF" not in response.content
    assert other.post(f"/h5/records/applications/{application.number}/download/").status_code == 404
    _assert_not_counted(application)


def test_an_anonymous_visitor_is_sent_to_sign_in_and_nothing_counted(
    approved_copy: Any, resident_client: Any, client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    link = _link(resident_client(resident), application)
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"].startswith("/h5/login/")
    anonymous_start = client.post(f"/h5/records/applications/{application.number}/download/")
    assert anonymous_start.status_code == 302
    assert "/copies/" not in anonymous_start["Location"]
    _assert_not_counted(application)


def test_an_expired_link_is_refused_with_410_and_nothing_counted(
    approved_copy: Any, resident_client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    client = resident_client(resident)
    link = _link(client, application)
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=601)):
        response = client.get(link)
    assert response.status_code == 410
    assert "下载链接已过期（有效期 10 分钟）" in response.content.decode()
    _assert_not_counted(application)


def test_a_tampered_link_is_refused_and_nothing_counted(
    approved_copy: Any, resident_client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    client = resident_client(resident)
    link = _link(client, application)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(f"/h5/records/copies/{forged}/")
    assert response.status_code == 403
    assert "下载链接无效" in response.content.decode()
    _assert_not_counted(application)


def test_a_link_made_before_a_rebuild_no_longer_works(
    approved_copy: Any, resident_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    resident, reviewer, application = approved_copy
    client = resident_client(resident)
    link = _link(client, application)
    old_path = copy_services.copy_path(_document(application))
    with django_capture_on_commit_callbacks(execute=True):
        copy_services.rebuild_copy(actor=reviewer, application_id=application.pk)
    assert not old_path.exists()
    response = client.get(link)
    assert response.status_code == 410
    assert "复印件已重新制作" in response.content.decode()
    _assert_not_counted(application)


@pytest.mark.req("MR-P4")
def test_after_the_retention_period_the_copy_cannot_be_downloaded(
    approved_copy: Any, resident_client: Any
) -> None:
    resident, _reviewer, application = approved_copy
    with time_machine.travel(timezone.now() + datetime.timedelta(days=30, minutes=1)):
        client = resident_client(resident)
        detail = client.get(f"/h5/records/applications/{application.number}/").content.decode()
        assert "下载期限（制作完成后 30 天）已过" in detail
        assert "下载电子复印件" not in detail
        response = client.post(f"/h5/records/applications/{application.number}/download/")
    assert response.status_code == 410
    _assert_not_counted(application)


def _personal_reads() -> int:
    return int(_model("audit.AuditEntry").objects.filter(action=PERSONAL_DATA_READ).count())


def test_staff_open_the_copy_only_within_their_scope_and_the_read_is_audited(
    approved_copy: Any, make_staff: Any, inpatient: list[Any]
) -> None:
    _resident, reviewer, application = approved_copy
    stranger = make_staff("stranger", permissions=(REVIEW, VIEW), institution=inpatient[1])
    before = _personal_reads()
    with pytest.raises(Http404):
        copy_services.open_copy_for_staff(actor=stranger, application_id=application.pk)
    assert _personal_reads() == before
    viewer = make_staff("viewer", permissions=(VIEW,), institution=inpatient[0])
    document, data = copy_services.open_copy_for_staff(actor=viewer, application_id=application.pk)
    assert sm3_hex(data) == document.sm3
    assert _personal_reads() == before + 1
    with pytest.raises(Http404):
        copy_services.rebuild_copy(actor=stranger, application_id=application.pk)
    with pytest.raises(Http404):
        copy_services.rebuild_copy(actor=viewer, application_id=application.pk)


def test_a_stored_copy_that_was_altered_is_not_served(approved_copy: Any, make_staff: Any) -> None:
    _resident, reviewer, application = approved_copy
    document = _document(application)
    copy_services.copy_path(document).write_bytes(
        encrypt_file_bytes(b"%PDF-1.4 other", context=document.encryption_context)
    )
    with pytest.raises(ApplicationError, match="复印件文件校验失败"):
        copy_services.open_copy_for_staff(actor=reviewer, application_id=application.pk)


# -- a build that fails ---------------------------------------------------------------------


@pytest.mark.req("MR-A4")
def test_a_section_missing_at_the_institution_keeps_it_preparing_until_rebuilt(
    make_resident: Any,
    make_staff: Any,
    institution: Any,
    source: Any,
    simulator: Any,
    simulators: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    code = "310106006"  # the simulator's archive holds a stay of 王秀英 there
    hospital = institution(code)
    source(code, mode="poll", base_url=simulator.url)
    payload = next(
        item
        for item in simulator.admissions(code)
        if item["patient"]["id_number"] == DEFAULT_ID_NUMBER
    )
    broken = {
        **payload,
        "sections": [
            {**s, "document_ref": "NOT-AT-THE-HOSPITAL"} if s["code"] == "discharge_summary" else s
            for s in payload["sections"]
        ],
    }
    ingested = ingest_archive_payload(payload=broken, channel="push", institution_id=hospital.pk)
    admission = (
        _model("medical_records.ArchivedAdmission").objects.unscoped().get(pk=ingested.admission_id)
    )
    resident = make_resident()
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=hospital)
    application = _submit(
        resident, hospital, admission, sections=["front_page", "discharge_summary"]
    )

    application = _approve(reviewer, application, django_capture_on_commit_callbacks)

    assert application.status == "preparing"
    document = _document(application)
    assert not document.is_built
    assert document.build_error == (
        f"住院号 {payload['admission_no']} 的出院记录：病案文档获取失败："
        '病案文档下载失败：HTTP 404 {"code": "unknown_document", "message": "文档不存在"}'
    )
    last = ApplicationEvent.objects.filter(application=application).last()
    assert last is not None
    assert (last.from_status, last.to_status, last.actor_kind) == (
        "preparing",
        "preparing",
        "system",
    )
    assert last.note.startswith("复印件制作未成功，病案室处理后将重新制作")
    staff_messages = list(_model("messaging.Message").objects.filter(staff_user_id=reviewer.pk))
    assert [m.title for m in staff_messages] == [f"病案复印件制作失败：{application.number}"]
    assert document.build_error in staff_messages[0].body

    # The institution pushes the corrected index; the record room has the copy made again.
    ingest_archive_payload(payload=payload, channel="push", institution_id=hospital.pk)
    document = copy_services.rebuild_copy(actor=reviewer, application_id=application.pk)

    application.refresh_from_db()
    assert application.status == "ready"
    assert document.build_error == ""
    front, discharge = (
        ArchivedSection.objects.get(admission=admission, code=c).page_count
        for c in ("front_page", "discharge_summary")
    )
    assert document.pages == 1 + front + discharge
    assert _timeline(application)[-1] == ("preparing", "ready", "staff")
    assert (
        _model("audit.AuditEntry")
        .objects.filter(action="medical_records.copy.rebuild", actor_id=reviewer.pk)
        .count()
        == 1
    )


def test_rebuild_is_refused_before_approval(approved_copy: Any, make_resident: Any) -> None:
    _resident, reviewer, application = approved_copy
    CopyApplication.objects.unscoped().filter(pk=application.pk).update(status="under_review")
    with pytest.raises(ApplicationError, match=re.escape("申请当前状态为“审核中”")):
        copy_services.rebuild_copy(actor=reviewer, application_id=application.pk)
