"""Pulling archives and documents from institutions that cannot push (MR-A1, MR-A5)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings

from jingan.integrations.archives.signing import sm3
from jingan.medical_records.archive_models import (
    ArchivedAdmission,
    ArchivedSection,
    ArchiveSource,
    RejectedArchivePayload,
)
from jingan.medical_records.archive_services import (
    fetch_pending_documents,
    poll_due_sources,
    poll_institution,
    read_section_pdf,
    replay_rejected,
)
from jingan.medical_records.tests.archive_fixtures import (
    CENTRAL,
    institution,
    simulator,
    source,
)

__all__ = ["institution", "simulator", "source"]

pytestmark = pytest.mark.django_db


def _source(code: str) -> ArchiveSource:
    return ArchiveSource.objects.unscoped().get(institution__code=code)


@pytest.mark.req("MR-A1")
def test_a_poll_pulls_every_page_and_the_next_poll_only_newer_archives(
    simulator, source, institution
):
    source(CENTRAL, base_url=simulator.url)
    expected = simulator.admissions(CENTRAL)

    result = poll_institution(institution_id=institution(CENTRAL).pk)

    assert result.error == ""
    assert result.counts == {"accepted": len(expected)}
    assert result.pages == -(-len(expected) // 3)
    stored = ArchivedAdmission.objects.unscoped().filter(institution__code=CENTRAL)
    assert sorted(a.admission_no for a in stored) == sorted(i["admission_no"] for i in expected)
    state = _source(CENTRAL)
    assert state.last_success_at is not None
    assert state.last_archived_at == max(
        datetime.datetime.fromisoformat(i["archived_at"]) for i in expected
    )
    assert state.last_cursor == ""
    assert state.received_count == len(expected)

    newer = dict(expected[0], admission_no="ZY2026999999", archived_at="2026-11-20T09:00:00+08:00")
    simulator.put_raw(CENTRAL, newer)
    again = poll_institution(institution_id=institution(CENTRAL).pk)
    assert again.counts == {"accepted": 1}
    assert again.pages == 1


@pytest.mark.req("MR-A1")
def test_an_unreachable_archive_is_recorded_as_the_last_failure(source, institution):
    source(CENTRAL, base_url="http://127.0.0.1:9")

    result = poll_institution(institution_id=institution(CENTRAL).pk)

    assert result.error.startswith("病案归档接口不可达：")
    state = _source(CENTRAL)
    assert state.last_failure_at is not None
    assert state.last_failure_reason == result.error
    assert state.last_success_at is None


@pytest.mark.req("MR-A1")
def test_due_sources_are_polled_by_their_interval(simulator, source, institution):
    source(CENTRAL, base_url=simulator.url)

    assert poll_due_sources() == [institution(CENTRAL).pk]
    assert poll_due_sources() == []


@pytest.mark.req("MR-A5")
def test_documents_are_verified_and_stored_encrypted(simulator, source, institution):
    source(CENTRAL, base_url=simulator.url)
    poll_institution(institution_id=institution(CENTRAL).pk)
    total = ArchivedSection.objects.count()

    counts = fetch_pending_documents(institution_id=institution(CENTRAL).pk, limit=1000)

    assert counts == {"uploaded": total, "failed": 0}
    section = ArchivedSection.objects.select_related("admission").order_by("pk")[0]
    assert section.upload_status == "uploaded"
    raw = (Path(settings.DATA_DIR) / section.stored_path).read_bytes()
    assert b"%PDF" not in raw
    plain = read_section_pdf(section)
    assert plain == simulator.document(CENTRAL, section.document_ref)
    assert plain.startswith(b"%PDF-1.4")
    assert plain.count(b"/Type /Page ") == section.page_count
    assert sm3(plain).hex() == section.document_digest


@pytest.mark.req("MR-A5")
def test_a_document_whose_digest_does_not_match_fails_with_the_reason(
    simulator, source, institution
):
    source(CENTRAL, base_url=simulator.url)
    poll_institution(institution_id=institution(CENTRAL).pk)
    section = ArchivedSection.objects.order_by("pk")[0]
    simulator.tamper_document(section.document_ref, b"%PDF-1.4 tampered")

    counts = fetch_pending_documents(institution_id=institution(CENTRAL).pk, limit=1)

    assert counts == {"uploaded": 0, "failed": 1}
    section.refresh_from_db()
    assert section.upload_status == "failed"
    assert section.stored_path == ""
    assert section.upload_error == (
        f"文档 SM3 摘要不符：归档索引声明 {section.document_digest[:16]}…，"
        f"实际收到 {sm3(b'%PDF-1.4 tampered').hex()[:16]}…（17 字节），文档可能在传输中损坏或被篡改"
    )


@pytest.mark.req("MR-A1")
def test_a_malformed_pulled_archive_is_kept_and_replayed_once_the_source_is_fixed(
    simulator, source, institution, make_staff
):
    source(CENTRAL, base_url=simulator.url)
    good = simulator.admissions(CENTRAL)[0]
    broken = dict(good, admission_no="ZY2025000001", admitted_on="2025-13-01")
    simulator.put_raw(CENTRAL, broken)

    result = poll_institution(institution_id=institution(CENTRAL).pk)

    assert result.counts["rejected"] == 1
    kept = RejectedArchivePayload.objects.unscoped().get()
    assert (kept.channel, kept.admission_no, kept.reason) == (
        "poll",
        "ZY2025000001",
        "入院日期：日期格式不正确，应为 YYYY-MM-DD",
    )
    assert _source(CENTRAL).rejected_count == 1
    admin = make_staff("archive-admin", permissions=("medical_records.manage_archive_source",))

    still = replay_rejected(actor=admin, rejected_id=kept.pk)
    assert (still.outcome, still.reason) == (
        "rejected",
        "入院日期：日期格式不正确，应为 YYYY-MM-DD",
    )

    simulator.put_raw(CENTRAL, dict(broken, admitted_on=good["admitted_on"]))
    fixed = replay_rejected(actor=admin, rejected_id=kept.pk)

    assert fixed.outcome == "accepted"
    kept.refresh_from_db()
    assert (kept.is_resolved, kept.replay_result) == (True, "已接收")
    stored = ArchivedAdmission.objects.unscoped().get(admission_no="ZY2025000001")
    assert stored.admitted_on == datetime.date.fromisoformat(good["admitted_on"])
