"""Fixtures of the copy-application tests: inpatient institutions, archives, an applying client."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from jingan.core.public import encrypt_file_bytes, sm3_hex
from jingan.integrations.archives.pdf import Line, build_pdf

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n%test\n" + b"0" * 200


def id_number(birth: str, sequence: int) -> str:
    """A valid GB 11643 ID number (Jing'an) born on ``birth`` (YYYYMMDD)."""
    body = f"310106{birth}{sequence:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def upload(kind: str, data: bytes = JPEG, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, "image/jpeg")


@pytest.fixture
def inpatient(db: None) -> list[Any]:
    """The district's active inpatient institutions, by code."""
    from django.apps import apps

    model = apps.get_model("institutions", "Institution")
    return list(
        model.objects.unscoped().filter(has_inpatient=True, is_active=True).order_by("code")
    )


@pytest.fixture
def archive(db: None) -> Callable[..., Any]:
    """``archive(institution, id_number, admission_no, discharged_on=…)``: an archived stay."""
    from jingan.medical_records.models import ArchivedAdmission

    def _make(
        institution: Any,
        patient_id_number: str,
        admission_no: str,
        *,
        patient_name: str = "王秀英",
        discharged_on: datetime.date = datetime.date(2026, 10, 20),
        department_name: str = "心血管内科",
    ) -> Any:
        now = timezone.now()
        return ArchivedAdmission.objects.create(
            institution=institution,
            admission_no=admission_no,
            patient_name=patient_name,
            patient_id_number=patient_id_number,
            admitted_on=discharged_on - datetime.timedelta(days=9),
            discharged_on=discharged_on,
            department_code="0301",
            department_name=department_name,
            diagnoses='[{"code": "I21.9", "name": "急性心肌梗死"}]',
            archived_at=now,
            synced_at=now,
            channel="push",
            source_digest="0" * 64,
        )

    return _make


def walk_wizard(
    client: Client,
    *,
    institution: Any,
    applicant_type: str = "self",
    patient_name: str = "",
    patient_id_number: str = "",
    files: dict[str, bytes] | None = None,
    admission_ids: list[int] | None = None,
    purpose: str = "insurance_claim",
    sections: list[str] | None = None,
    delivery: dict[str, str] | None = None,
) -> Any:
    """Drive the five H5 steps; returns the response of the last POST (or first refusal)."""
    response = client.post("/h5/records/apply/", {"institution_id": institution.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    data: dict[str, Any] = {
        "applicant_type": applicant_type,
        "patient_name": patient_name,
        "patient_id_number": patient_id_number,
        "applicant_relation": "子女" if applicant_type != "self" else "",
    }
    for kind, content in (files or {}).items():
        name = "scan.pdf" if content.startswith(b"%PDF") else "photo.jpg"
        data[kind] = io.BytesIO(content)
        data[kind].name = name
    response = client.post("/h5/records/apply/applicant/", data)
    if response.status_code != 302:
        return response
    response = client.get("/h5/records/apply/admissions/")
    if admission_ids is None or "未查询到" in response.content.decode():
        return response
    response = client.post("/h5/records/apply/admissions/", {"admission_ids": admission_ids})
    if response.status_code != 302:
        return response
    details = {
        "purpose": purpose,
        "sections": sections or ["front_page", "discharge_summary"],
        "copies": "2",
        "delivery_method": "electronic",
        **(delivery or {}),
    }
    response = client.post("/h5/records/apply/details/", details)
    if response.status_code != 302:
        return response
    return client.post("/h5/records/apply/confirm/")


def section_pdf(title: str, pages: int, admission_no: str, code: str) -> bytes:
    return build_pdf(
        [[Line(title, 14), Line(f"{admission_no} {code} page {n}", 9, True)] for n in range(pages)],
        footers=[f"{admission_no} {code} {n + 1}/{pages}" for n in range(pages)],
        title=title,
    )


def store_sections(admission: Any, pages: dict[str, int]) -> None:
    """Archived sections whose documents are already fetched and stored (SM4)."""
    from jingan.medical_records.archive_services import _context, _relative_path
    from jingan.medical_records.models import ArchivedSection

    for code, count in pages.items():
        pdf = section_pdf(code, count, admission.admission_no, code)
        section = ArchivedSection.objects.create(
            admission=admission,
            code=code,
            title=code,
            page_count=count,
            document_ref=f"{admission.admission_no}-{code}",
            document_digest=sm3_hex(pdf),
            upload_status="uploaded",
        )
        section.stored_path = _relative_path(section)
        target = Path(settings.DATA_DIR) / section.stored_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encrypt_file_bytes(pdf, context=_context(section)))
        section.save()
