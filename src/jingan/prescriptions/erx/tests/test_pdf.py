from __future__ import annotations

import datetime
import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest
import segno
from pypdf import PdfReader

from jingan.prescriptions.erx import pdf
from jingan.prescriptions.erx.models import (
    CentreConnection,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
ID_NUMBER = "310106198503151234"
PRESCRIBED_AT = datetime.datetime(2026, 3, 9, 10, 25, tzinfo=SHANGHAI)


def _institution() -> Any:
    from django.apps import apps

    return apps.get_model("institutions", "Institution").objects.unscoped().order_by("code").first()


def _connection(institution: Any) -> CentreConnection:
    return CentreConnection.objects.create(
        institution=institution,
        fixmedins_code="H31010600101",
        fixmedins_name=institution.name,
        app_id="JAERX31010600101",
        app_secret="a" * 32,
        private_key_hex="1" * 64,
        public_key_hex="04" + "2" * 128,
        centre_public_key_hex="04" + "3" * 128,
    )


def _prescription(institution: Any, *, pharmacist: Any = None, **fields: Any) -> Prescription:
    values: dict[str, Any] = {
        "institution": institution,
        "hosp_rxno": "RX20260309001",
        "status": PrescriptionStatus.SIGNED,
        "patient_name": "王建国",
        "patient_id_number": ID_NUMBER,
        "patient_gender": "1",
        "patient_age": 40,
        "psn_no": "31000012345678",
        "insuplc_admdvs": "310106",
        "mdtrt_id": "MZ202603090042",
        "department_code": "A03.01",
        "department_name": "心血管内科门诊",
        "doctor_code": "D310106001",
        "doctor_name": "李明华",
        "doctor_title": "主治医师",
        "diagnoses": json.dumps(
            [
                {"code": "E11.900", "name": "2型糖尿病", "main": False},
                {"code": "I10.x00", "name": "原发性高血压", "main": True},
            ],
            ensure_ascii=False,
        ),
        "rx_type_code": "1",
        "prescribed_at": PRESCRIBED_AT,
        "valid_days": 3,
        "valid_until": PRESCRIBED_AT + datetime.timedelta(days=3),
        "total_amount": Decimal("86.40"),
        "hi_rxno": "HRX3101062026030900017",
        "rx_trace_code": "TC8F3A21C9D04E",
        "pharmacist": pharmacist,
        "created_via": "console",
    }
    values.update(fields)
    prescription = Prescription.objects.create(**values)
    PrescriptionItem.objects.create(
        prescription=prescription,
        line_no=1,
        med_list_codg="XC08CAA001A001010100001",
        generic_name="苯磺酸氨氯地平片",
        dosage_form="片剂",
        specification="5mg*28片",
        quantity=Decimal("2.00"),
        unit="盒",
        price=Decimal("28.5000"),
        amount=Decimal("57.00"),
        single_dose="5 mg",
        route_code="1",
        route_name="口服",
        frequency_code="qd",
        frequency_name="每日一次",
        days=28,
    )
    PrescriptionItem.objects.create(
        prescription=prescription,
        line_no=2,
        med_list_codg="XA10BAA001A001010100002",
        generic_name="盐酸二甲双胍片",
        dosage_form="片剂",
        specification="0.5g*20片",
        quantity=Decimal("3.00"),
        unit="盒",
        price=Decimal("9.8000"),
        amount=Decimal("29.40"),
        single_dose="0.5 g",
        route_code="1",
        route_name="口服",
        frequency_code="tid",
        frequency_name="每日三次",
        days=20,
    )
    return prescription


@pytest.fixture
def pharmacist(make_staff: Any) -> Any:
    return make_staff("pdf-pharmacist", institution=_institution(), display_name="赵雅琴")


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    # Layout puts spaces and line breaks between table cells: compare without them.
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def _pages(data: bytes) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(data))
    return [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]


A5_POINTS = (420, 595)


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_prescription_pdf_shows_every_field_of_the_paper_prescription(pharmacist: Any) -> None:
    institution = _institution()
    prescription = _prescription(institution, pharmacist=pharmacist)

    data = pdf.render_prescription_pdf(prescription)

    assert data.startswith(b"%PDF-")
    assert _pages(data) == [A5_POINTS]
    text = _text(data)
    for expected in (
        institution.name,
        "医保电子处方",
        "处方号：RX20260309001",
        "医保处方编号：HRX3101062026030900017",
        "姓名王建国",
        "性别男",
        "年龄40岁",
        "身份证号310***********1234",
        "科别心血管内科门诊",
        "日期2026年03月09日",
        "就诊号MZ202603090042",
        "临床诊断：原发性高血压（I10.x00）；2型糖尿病（E11.900）",
        "1.苯磺酸氨氯地平片5mg*28片×2盒",
        "用法：每次5mg口服每日一次共28天",
        "2.盐酸二甲双胍片0.5g*20片×3盒",
        "用法：每次0.5g口服每日三次共20天",
        "医师：李明华（主治医师）",
        "审核药师：赵雅琴",
        "金额：86.40元",
        "有效期：开具之日起3天内有效（至2026-03-1210:25）",
    ):
        assert expected in text, expected
    assert ID_NUMBER not in text


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_prescription_pdf_is_the_same_bytes_for_the_same_data(
    pharmacist: Any, tmp_path: Any
) -> None:
    prescription = _prescription(_institution(), pharmacist=pharmacist)

    first = pdf.render_prescription_pdf(prescription)
    again = pdf.render_prescription_pdf(Prescription.objects.unscoped().get(pk=prescription.pk))

    (tmp_path / "prescription.pdf").write_bytes(first)
    assert first == again
    assert b"/CreationDate" not in first
    assert b"/ModDate" not in first


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_prescription_pdf_changes_when_the_prescription_changes(pharmacist: Any) -> None:
    prescription = _prescription(_institution(), pharmacist=pharmacist)
    before = pdf.render_prescription_pdf(prescription)

    item = prescription.items.get(line_no=2)
    item.quantity = Decimal("4.00")
    item.save()

    after = pdf.render_prescription_pdf(prescription)
    assert before != after
    assert "2.盐酸二甲双胍片0.5g*20片×4盒" in _text(after)


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_prescription_pdf_before_review_shows_no_pharmacist_or_centre_number() -> None:
    prescription = _prescription(
        _institution(), status=PrescriptionStatus.DRAFT, hi_rxno="", rx_trace_code=""
    )

    text = _text(pdf.render_prescription_pdf(prescription))

    assert "医保处方编号：—" in text
    assert "审核药师：—" in text


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_prescription_without_drugs_has_no_pdf() -> None:
    prescription = _prescription(_institution())
    prescription.items.all().delete()

    with pytest.raises(pdf.PrescriptionDocumentError) as raised:
        pdf.render_prescription_pdf(prescription)

    assert str(raised.value) == "处方 RX20260309001 没有药品，不能生成处方笺"


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_slip_qr_payload_is_the_documented_compact_line() -> None:
    institution = _institution()
    _connection(institution)
    prescription = _prescription(institution, status=PrescriptionStatus.CENTRE_APPROVED)

    payload = pdf.slip_qr_payload(prescription)

    assert payload == "ERX1|HRX3101062026030900017|TC8F3A21C9D04E|H31010600101|20260312"


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_slip_qr_svg_is_segno_output_for_the_payload() -> None:
    institution = _institution()
    _connection(institution)
    prescription = _prescription(institution, status=PrescriptionStatus.CENTRE_APPROVED)
    payload = "ERX1|HRX3101062026030900017|TC8F3A21C9D04E|H31010600101|20260312"

    svg = pdf.slip_qr_svg(prescription)

    expected = segno.make(payload, error="m", micro=False).svg_inline(
        scale=4, border=2, omitsize=True, svgclass="erx-slip-qr", title="购药提示单二维码"
    )
    assert svg == expected
    assert svg.startswith("<svg")
    assert "<title>购药提示单二维码</title>" in svg
    assert pdf.slip_qr_code(prescription).designator == segno.make(payload, error="m").designator


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_purchase_slip_shows_centre_numbers_drugs_and_masked_patient(tmp_path: Any) -> None:
    institution = _institution()
    _connection(institution)
    prescription = _prescription(institution, status=PrescriptionStatus.CENTRE_APPROVED)

    data = pdf.render_purchase_slip_pdf(prescription)

    (tmp_path / "slip.pdf").write_bytes(data)
    assert _pages(data) == [A5_POINTS]
    text = _text(data)
    for expected in (
        "医保电子处方购药提示单",
        f"{institution.name}（H31010600101）",
        "医保处方编号HRX3101062026030900017",
        "处方追溯码TC8F3A21C9D04E",
        "患者王**（男，40岁）",
        "身份证号310***********1234",
        "有效期至2026-03-1210:25",
        "1苯磺酸氨氯地平片5mg*28片2盒",
        "2盐酸二甲双胍片0.5g*20片3盒",
        "请于2026年03月12日前，到任意开通医保电子处方流转的定点零售药店取药。",
        "取药时出示本人医保电子凭证和本提示单",
    ):
        assert expected in text, expected
    assert "王建国" not in text
    assert ID_NUMBER not in text
    assert "不能取药" not in text


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_purchase_slip_of_a_revoked_prescription_says_it_cannot_be_used() -> None:
    institution = _institution()
    _connection(institution)
    prescription = _prescription(institution, status=PrescriptionStatus.REVOKED)

    text = _text(pdf.render_purchase_slip_pdf(prescription))

    assert "本处方已撤销，不能取药" in text


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_no_slip_before_pre_verification() -> None:
    institution = _institution()
    _connection(institution)
    prescription = _prescription(
        institution, status=PrescriptionStatus.DRAFT, hi_rxno="", rx_trace_code=""
    )
    message = (
        "处方 RX20260309001 尚未通过医保预核验，没有医保处方编号和处方追溯码，不能生成购药提示单"
    )

    with pytest.raises(pdf.PrescriptionDocumentError) as slip:
        pdf.render_purchase_slip_pdf(prescription)
    with pytest.raises(pdf.PrescriptionDocumentError) as payload:
        pdf.slip_qr_payload(prescription)
    with pytest.raises(pdf.PrescriptionDocumentError) as svg:
        pdf.slip_qr_svg(prescription)

    assert str(slip.value) == str(payload.value) == str(svg.value) == message


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_no_slip_without_a_centre_connection() -> None:
    institution = _institution()
    prescription = _prescription(institution, status=PrescriptionStatus.CENTRE_APPROVED)

    with pytest.raises(pdf.PrescriptionDocumentError) as raised:
        pdf.slip_qr_payload(prescription)

    assert str(raised.value) == (
        f"{institution.name}尚未配置医保电子处方中心接入，无法生成购药提示单"
    )


@pytest.mark.req("RX-W1")
@pytest.mark.django_db
def test_validity_date_in_the_payload_is_the_shanghai_date() -> None:
    institution = _institution()
    _connection(institution)
    # 23:30 UTC is already the next morning in Shanghai, where the slip is used.
    late = datetime.datetime(2026, 3, 12, 23, 30, tzinfo=datetime.UTC)
    prescription = _prescription(institution, valid_until=late)

    assert pdf.slip_qr_payload(prescription).endswith("|H31010600101|20260313")
