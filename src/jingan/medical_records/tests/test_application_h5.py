from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.utils import timezone

from jingan.core.public import decrypt_file_bytes, sm3_hex
from jingan.medical_records.models import (
    ApplicationEvent,
    ApplicationMaterial,
    CopyApplication,
)
from jingan.medical_records.services import NO_ARCHIVE_MESSAGE, material_path
from jingan.medical_records.tests.application_fixtures import (
    JPEG,
    PDF,
    PNG,
    archive,
    id_number,
    inpatient,
    walk_wizard,
)
from jingan.testing.residents import DEFAULT_ID_NUMBER

__all__ = ["archive", "inpatient"]  # fixtures used by name


def _events(application: CopyApplication) -> list[tuple[str, str, str]]:
    return [
        (event.from_status, event.to_status, event.actor_kind)
        for event in ApplicationEvent.objects.filter(application=application)
    ]


@pytest.mark.req("MR-P1")
def test_intro_shows_the_process_step_by_step(make_resident: Any, resident_client: Any) -> None:
    client = resident_client(make_resident(verified=False))
    page = client.get("/h5/records/").content.decode()
    for step in (
        "选择医院",
        "确认申请人并上传材料",
        "选择住院记录",
        "选择用途、内容与取件方式",
        "提交并跟踪进度",
    ):
        assert step in page
    assert 'href="/h5/records/apply/"' in page


def test_an_unverified_resident_is_sent_to_real_name_verification(
    make_resident: Any, resident_client: Any
) -> None:
    client = resident_client(make_resident(verified=False))
    response = client.get("/h5/records/apply/")
    assert response.status_code == 302
    assert response["Location"] == "/h5/verify/?next=%2Fh5%2Frecords%2Fapply%2F"


def test_the_home_page_offers_the_service_tile(client: Any) -> None:
    page = client.get("/h5/").content.decode()
    assert "一键复印病案" in page
    assert 'href="/h5/records/"' in page


@pytest.mark.req("MR-P1")
@pytest.mark.req("MR-P2")
def test_a_resident_applies_for_their_own_record_through_every_step(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    resident = make_resident()
    older = archive(
        inpatient[0],
        DEFAULT_ID_NUMBER,
        "ZY2025001",
        discharged_on=datetime.date(2025, 3, 1),
    )
    newer = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY2026001")
    archive(inpatient[1], DEFAULT_ID_NUMBER, "ZY-OTHER")  # another institution: not offered
    client = resident_client(resident)

    page = client.get("/h5/records/apply/").content.decode()
    assert page.count('name="institution_id"') == len(inpatient) == 18
    client.post("/h5/records/apply/", {"institution_id": inpatient[0].pk})
    assert (
        client.post("/h5/records/apply/applicant/", {"applicant_type": "self"}).status_code == 302
    )
    page = client.get("/h5/records/apply/admissions/").content.decode()
    assert [int(pk) for pk in re.findall(r'name="admission_ids" value="(\d+)"', page)] == [
        newer.pk,
        older.pk,
    ]
    assert "急性心肌梗死" not in page  # diagnoses stay off the phone
    client.post("/h5/records/apply/admissions/", {"admission_ids": [newer.pk, older.pk]})
    page = client.get("/h5/records/apply/details/").content.decode()
    assert 'id="mr-purpose-sections"' in page
    response = client.post(
        "/h5/records/apply/details/",
        {
            "purpose": "insurance_claim",
            "sections": ["front_page", "discharge_summary", "lab_report"],
            "copies": "2",
            "delivery_method": "mail",
            "mail_recipient": "王秀英",
            "mail_phone": "13800138000",
            "mail_address": "上海市静安区共和新路 1000 号 3 室",
        },
    )
    assert response.status_code == 302
    page = client.get("/h5/records/apply/confirm/").content.decode()
    assert "王**" in page
    assert "138****8000" in page
    assert "上海市静安区****" in page
    response = client.post("/h5/records/apply/confirm/")

    application = CopyApplication.objects.unscoped().get()
    today = timezone.localdate()
    assert application.number == f"BA{today:%Y%m%d}000001"
    assert response["Location"] == f"/h5/records/applications/{application.number}/"
    assert (
        application.resident_id,
        application.institution_id,
        application.applicant_type,
        application.patient_name,
        application.patient_id_number,
        application.purpose,
        application.sections,
        application.copies,
        application.delivery_method,
        application.mail_address,
        application.status,
    ) == (
        resident.pk,
        inpatient[0].pk,
        "self",
        "王秀英",
        DEFAULT_ID_NUMBER,
        "insurance_claim",
        ["front_page", "discharge_summary", "lab_report"],
        2,
        "mail",
        "上海市静安区共和新路 1000 号 3 室",
        "submitted",
    )
    assert sorted(link.admission_id for link in application.admission_links.all()) == sorted(
        [newer.pk, older.pk]
    )
    assert _events(application) == [("", "submitted", "resident")]
    assert "medical_records_draft" not in client.session
    detail = client.get(response["Location"]).content.decode()
    assert f"申请已提交，申请编号 {application.number}" in detail
    assert "已提交" in detail
    assert "取消申请" in detail


@pytest.mark.req("MR-P2")
def test_an_agent_must_upload_the_authorisation_and_both_id_cards(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    patient_id = id_number("19500101", 11)
    admission = archive(inpatient[2], patient_id, "ZY-A1", patient_name="李建国")
    client = resident_client(make_resident())

    response = walk_wizard(
        client,
        institution=inpatient[2],
        applicant_type="agent",
        patient_name="李建国",
        patient_id_number=patient_id,
        files={"id_card_front": JPEG, "agent_id_card": PNG},
        admission_ids=[admission.pk],
    )
    assert response.status_code == 200
    assert "委托代理人申请需上传授权委托书" in response.content.decode()
    assert not CopyApplication.objects.unscoped().exists()

    response = walk_wizard(
        client,
        institution=inpatient[2],
        applicant_type="agent",
        patient_name="李建国",
        patient_id_number=patient_id,
        files={"authorisation_letter": PDF},
        admission_ids=[admission.pk],
    )
    assert response.status_code == 302
    application = CopyApplication.objects.unscoped().get()
    assert (
        application.applicant_type,
        application.patient_name,
        application.patient_id_number,
    ) == (
        "agent",
        "李建国",
        patient_id,
    )
    materials = {m.kind: m for m in ApplicationMaterial.objects.filter(application=application)}
    assert sorted(materials) == ["agent_id_card", "authorisation_letter", "id_card_front"]
    letter = materials["authorisation_letter"]
    assert (letter.content_type, letter.size, letter.sm3) == (
        "application/pdf",
        len(PDF),
        sm3_hex(PDF),
    )
    stored = material_path(letter).read_bytes()
    assert b"%PDF" not in stored
    assert decrypt_file_bytes(stored, context=letter.encryption_context) == PDF


@pytest.mark.req("MR-P2")
def test_a_guardian_of_a_minor_applies_with_the_birth_certificate(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    child_id = id_number("20180601", 21)
    admission = archive(inpatient[3], child_id, "ZY-G1", patient_name="王小宝")
    client = resident_client(make_resident())
    response = walk_wizard(
        client,
        institution=inpatient[3],
        applicant_type="guardian",
        patient_name="王小宝",
        patient_id_number=child_id,
        admission_ids=[admission.pk],
    )
    assert "监护人申请需上传监护关系证明或出生医学证明" in response.content.decode()
    response = walk_wizard(
        client,
        institution=inpatient[3],
        applicant_type="guardian",
        patient_name="王小宝",
        patient_id_number=child_id,
        files={"birth_certificate": JPEG},
        admission_ids=[admission.pk],
    )
    assert response.status_code == 302
    assert CopyApplication.objects.unscoped().get().applicant_type == "guardian"


@pytest.mark.req("MR-P2")
def test_an_heir_needs_the_death_certificate_and_the_proof_of_inheritance(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    deceased = id_number("19400101", 31)
    admission = archive(inpatient[4], deceased, "ZY-H1", patient_name="赵老伯")
    client = resident_client(make_resident())
    response = walk_wizard(
        client,
        institution=inpatient[4],
        applicant_type="heir",
        patient_name="赵老伯",
        patient_id_number=deceased,
        files={"death_certificate": PDF},
        admission_ids=[admission.pk],
    )
    assert "继承人申请需上传继承关系证明" in response.content.decode()
    response = walk_wizard(
        client,
        institution=inpatient[4],
        applicant_type="heir",
        patient_name="赵老伯",
        patient_id_number=deceased,
        files={"heir_proof": PDF},
        admission_ids=[admission.pk],
    )
    assert response.status_code == 302
    application = CopyApplication.objects.unscoped().get()
    assert sorted(m.kind for m in application.materials.all()) == [
        "death_certificate",
        "heir_proof",
    ]


def test_wrong_file_types_and_oversized_files_are_refused_with_a_clear_error(
    make_resident: Any, resident_client: Any, inpatient: list[Any], settings: Any
) -> None:
    client = resident_client(make_resident())
    common = {
        "institution": inpatient[0],
        "applicant_type": "heir",
        "patient_name": "赵老伯",
        "patient_id_number": id_number("19400101", 31),
    }
    response = walk_wizard(
        client, files={"death_certificate": b"MZ\x90\x00 not an image"}, **common
    )
    assert "死亡证明文件格式不支持：请上传 JPG、PNG 照片或 PDF 文件" in response.content.decode()
    big = JPEG + b"\x00" * (10 * 1024 * 1024)
    response = walk_wizard(client, files={"death_certificate": big}, **common)
    assert "死亡证明文件过大：每个文件不超过 10 MB" in response.content.decode()
    staging = settings.DATA_DIR / "medical_records" / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


@pytest.mark.req("MR-P3")
def test_without_an_archived_record_the_flow_stops_with_the_reason(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    archive(inpatient[1], DEFAULT_ID_NUMBER, "ZY-ELSEWHERE")  # at another institution only
    archive(inpatient[0], id_number("19500101", 11), "ZY-SOMEONE")  # someone else's
    client = resident_client(make_resident())
    response = walk_wizard(client, institution=inpatient[0])
    page = response.content.decode()
    assert NO_ARCHIVE_MESSAGE in page
    assert 'name="admission_ids"' not in page
    assert client.post("/h5/records/apply/details/", {"purpose": "other"}).status_code == 302
    assert client.post("/h5/records/apply/confirm/")["Location"] == "/h5/records/apply/"
    assert not CopyApplication.objects.unscoped().exists()


@pytest.mark.req("MR-P3")
def test_someone_elses_admission_cannot_be_slipped_in(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    mine = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-MINE")
    theirs = archive(inpatient[0], id_number("19500101", 11), "ZY-THEIRS", patient_name="李建国")
    client = resident_client(make_resident())
    response = walk_wizard(client, institution=inpatient[0], admission_ids=[mine.pk, theirs.pk])
    assert "所选住院记录不属于该患者或不在该机构，请重新选择" in response.content.decode()
    assert not CopyApplication.objects.unscoped().exists()


@pytest.mark.req("MR-P4")
def test_my_applications_filter_by_status_and_the_timeline_refreshes(
    make_resident: Any, resident_client: Any, inpatient: list[Any], archive: Any
) -> None:
    resident = make_resident()
    client = resident_client(resident)
    assert "您还没有病案复印申请" in client.get("/h5/records/applications/").content.decode()
    first = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-1")
    second = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-2")
    walk_wizard(client, institution=inpatient[0], admission_ids=[first.pk])
    walk_wizard(client, institution=inpatient[0], admission_ids=[second.pk], purpose="transfer")
    one, two = CopyApplication.objects.unscoped().order_by("pk")
    response = client.post(f"/h5/records/applications/{two.number}/cancel/")
    assert response.status_code == 302

    def numbers(tab: str) -> list[str]:
        page = client.get(f"/h5/records/applications/?tab={tab}").content.decode()
        return re.findall(r"申请编号 (BA\d{14})", page)

    assert numbers("all") == [two.number, one.number]
    assert numbers("reviewing") == [one.number]
    assert numbers("rejected") == []
    assert numbers("cancelled") == [two.number]
    assert numbers("completed") == []
    partial = client.get(f"/h5/records/applications/{one.number}/", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert body.lstrip().startswith('<section class="mr-card" id="mr-timeline"')
    assert 'hx-trigger="every 10s"' in body
    cancelled = client.get(f"/h5/records/applications/{two.number}/").content.decode()
    assert 'hx-trigger="every 10s"' not in cancelled  # nothing left to wait for
    assert "居民取消申请" in cancelled
    assert _events(two) == [("", "submitted", "resident"), ("submitted", "cancelled", "resident")]
