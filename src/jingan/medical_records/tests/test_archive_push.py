"""The signed push API of the archive sync (MR-A1)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.db import connection

from jingan.core.public import create_api_client, sm3_hex
from jingan.integrations.archives.simulator import ArchiveSimulator
from jingan.medical_records.archive_models import (
    ArchivedAdmission,
    ArchivedSection,
    RejectedArchivePayload,
)
from jingan.medical_records.archive_queries import admissions_for_person
from jingan.medical_records.tests.archive_fixtures import (
    CENTRAL,
    ZHABEI,
    institution,
    post_signed,
    push_client,
    push_path,
    simulator,
    source,
)

__all__ = ["institution", "push_client", "simulator", "source"]

pytestmark = pytest.mark.django_db


def _payload(code: str = CENTRAL, index: int = 0) -> dict[str, Any]:
    return ArchiveSimulator().admissions(code)[index]


def _admissions() -> list[ArchivedAdmission]:
    return list(ArchivedAdmission.objects.unscoped().order_by("pk"))


@pytest.mark.req("MR-A1")
def test_signed_push_stores_the_admission_with_its_sections_encrypted(push_client, institution):
    app_id, key = push_client(CENTRAL)
    payload = _payload()

    response = post_signed(push_path(CENTRAL), payload, app_id=app_id, private_key=key)

    assert response.status_code == 200
    assert response.json() == {
        "institution_code": CENTRAL,
        "counts": {"accepted": 1},
        "results": [{"admission_no": payload["admission_no"], "outcome": "accepted", "reason": ""}],
    }
    (stored,) = _admissions()
    assert stored.institution_id == institution(CENTRAL).pk
    assert stored.admission_no == payload["admission_no"]
    assert stored.patient_name == payload["patient"]["name"]
    assert stored.patient_id_number == payload["patient"]["id_number"]
    assert stored.admitted_on == datetime.date.fromisoformat(payload["admitted_on"])
    assert stored.discharged_on == datetime.date.fromisoformat(payload["discharged_on"])
    assert stored.department_code == payload["department"]["code"]
    assert stored.department_name == payload["department"]["name"]
    assert stored.diagnosis_list() == payload["diagnoses"]
    assert stored.archived_at == datetime.datetime.fromisoformat(payload["archived_at"])
    assert stored.channel == "push"
    assert len(stored.source_digest) == 64
    sections = list(stored.sections.order_by("pk"))
    assert [
        (s.code, s.title, s.page_count, s.document_ref, s.document_digest, s.upload_status)
        for s in sections
    ] == [
        (s["code"], s["title"], s["page_count"], s["document_ref"], s["document_sm3"], "pending")
        for s in payload["sections"]
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT patient_name, patient_id_number, diagnoses FROM medical_records_archivedadmission"
        )
        raw = cursor.fetchone()
    for column, plain in zip(
        raw,
        (
            payload["patient"]["name"],
            payload["patient"]["id_number"],
            payload["diagnoses"][0]["name"],
        ),
        strict=True,
    ):
        assert column.startswith("sm4gcm1:")
        assert plain not in column
    found = admissions_for_person(
        institution_id=institution(CENTRAL).pk, id_number=payload["patient"]["id_number"].lower()
    )
    assert [a.admission_no for a in found] == [payload["admission_no"]]


@pytest.mark.req("MR-A1")
def test_the_same_payload_twice_is_unchanged_and_a_changed_one_updates(push_client):
    app_id, key = push_client(CENTRAL)
    payload = _payload()
    post_signed(push_path(CENTRAL), payload, app_id=app_id, private_key=key)
    ArchivedSection.objects.filter(code="front_page").update(upload_status="uploaded")

    again = post_signed(push_path(CENTRAL), [payload], app_id=app_id, private_key=key)
    assert again.status_code == 200
    assert again.json()["results"] == [
        {"admission_no": payload["admission_no"], "outcome": "unchanged", "reason": ""}
    ]

    changed = json.loads(json.dumps(payload))
    changed["diagnoses"] = [{"code": "I10", "name": "原发性高血压"}]
    changed["sections"][0]["document_sm3"] = sm3_hex(b"a new scan")
    updated = post_signed(push_path(CENTRAL), changed, app_id=app_id, private_key=key)
    assert updated.json()["counts"] == {"updated": 1}
    (stored,) = _admissions()
    assert stored.diagnosis_list() == [{"code": "I10", "name": "原发性高血压"}]
    front = stored.sections.get(code="front_page")
    assert (front.document_digest, front.upload_status) == (sm3_hex(b"a new scan"), "pending")
    assert stored.sections.count() == len(payload["sections"])


@pytest.mark.req("MR-A1")
def test_a_forged_signature_is_refused_and_nothing_is_stored(push_client):
    app_id, _ = push_client(CENTRAL)
    _, other_key = create_api_client(actor=None, app_id="someone-else", name="别人")

    response = post_signed(push_path(CENTRAL), _payload(), app_id=app_id, private_key=other_key)

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert _admissions() == []
    assert RejectedArchivePayload.objects.unscoped().count() == 0


@pytest.mark.req("MR-A1")
def test_another_institutions_client_gets_404_and_nothing_is_stored(push_client):
    push_client(CENTRAL)
    app_id, key = push_client(ZHABEI)

    response = post_signed(push_path(CENTRAL), _payload(CENTRAL), app_id=app_id, private_key=key)
    unknown = post_signed(push_path("999999999"), _payload(CENTRAL), app_id=app_id, private_key=key)

    assert response.status_code == 404
    assert response.json() == {
        "code": "institution_not_found",
        "message": "机构不存在或不属于本接入应用",
    }
    assert unknown.status_code == 404
    assert _admissions() == []
    assert RejectedArchivePayload.objects.unscoped().count() == 0


@pytest.mark.req("MR-A1")
def test_a_payload_for_another_institution_code_is_rejected_and_kept(push_client):
    app_id, key = push_client(CENTRAL)
    foreign = _payload(ZHABEI)

    response = post_signed(push_path(CENTRAL), foreign, app_id=app_id, private_key=key)

    assert response.status_code == 422
    reason = f"机构编码 {ZHABEI} 与接收机构编码 {CENTRAL} 不符"
    assert response.json()["results"] == [
        {"admission_no": foreign["admission_no"], "outcome": "rejected", "reason": reason}
    ]
    assert _admissions() == []


@pytest.mark.req("MR-A1")
def test_a_malformed_payload_answers_422_with_reasons_and_is_kept(push_client, institution):
    app_id, key = push_client(CENTRAL)
    good = _payload(CENTRAL, 0)
    bad = _payload(CENTRAL, 1)
    bad["discharged_on"] = "2025-02-30"
    bad["patient"]["id_number"] = "310106194503121003"
    bad["diagnoses"] = [{"code": "高血压", "name": "原发性高血压"}]
    del bad["sections"][0]["document_sm3"]

    response = post_signed(push_path(CENTRAL), [good, bad], app_id=app_id, private_key=key)

    assert response.status_code == 422
    reason = (
        "患者·身份证号：不是有效的 18 位居民身份证号（校验位不符或出生日期无效）；"
        "出院日期：日期格式不正确，应为 YYYY-MM-DD；"
        "诊断·第 1 项·编码：“高血压”不是 ICD-10 编码（例如 I10、E11.9）；"
        "病案组成部分·第 1 项·文档 SM3 摘要：缺少必填项"
    )
    assert response.json()["results"] == [
        {"admission_no": good["admission_no"], "outcome": "accepted", "reason": ""},
        {"admission_no": bad["admission_no"], "outcome": "rejected", "reason": reason},
    ]
    assert [a.admission_no for a in _admissions()] == [good["admission_no"]]
    (kept,) = RejectedArchivePayload.objects.unscoped().all()
    assert (kept.institution_id, kept.channel, kept.admission_no, kept.reason) == (
        institution(CENTRAL).pk,
        "push",
        bad["admission_no"],
        reason,
    )
    assert json.loads(kept.payload) == bad
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM medical_records_rejectedarchivepayload")
        (raw,) = cursor.fetchone()
    assert raw.startswith("sm4gcm1:")
    assert bad["patient"]["name"] not in raw


@pytest.mark.req("MR-A1")
def test_a_body_that_is_not_json_is_kept_with_its_reason(push_client):
    app_id, key = push_client(CENTRAL)

    response = post_signed(
        push_path(CENTRAL), b"<xml>not json</xml>", app_id=app_id, private_key=key
    )

    assert response.status_code == 422
    assert response.json()["results"] == [
        {"admission_no": "", "outcome": "rejected", "reason": "请求体不是有效的 UTF-8 JSON"}
    ]
    (kept,) = RejectedArchivePayload.objects.unscoped().all()
    assert json.loads(kept.payload) == "<xml>not json</xml>"


@pytest.mark.req("MR-A1")
def test_a_source_that_is_not_enabled_refuses_pushes(push_client):
    from jingan.medical_records.archive_models import ArchiveSource

    app_id, key = push_client(CENTRAL)
    ArchiveSource.objects.unscoped().update(is_enabled=False)

    response = post_signed(push_path(CENTRAL), _payload(), app_id=app_id, private_key=key)

    assert response.status_code == 409
    assert _admissions() == []


@pytest.mark.req("MR-A5")
def test_documents_of_pushed_archives_are_fetched_after_the_push(
    source, simulator, django_capture_on_commit_callbacks
):
    _, key = create_api_client(actor=None, app_id="archive-central", name="病案系统")
    source(CENTRAL, mode="push", base_url=simulator.url, api_app_id="archive-central")
    payload = simulator.admissions(CENTRAL)[0]

    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(
            push_path(CENTRAL), payload, app_id="archive-central", private_key=key
        )

    assert response.status_code == 200
    statuses = set(ArchivedSection.objects.values_list("upload_status", flat=True))
    assert statuses == {"uploaded"}
    assert ArchivedSection.objects.count() == len(payload["sections"])
