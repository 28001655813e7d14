"""The archive port, its HTTP adapter and the simulator that speaks the same protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from jingan.integrations.archives.adapter import ArchiveSourceConfig, HttpArchiveAdapter
from jingan.integrations.archives.port import ArchiveError, parse_payload
from jingan.integrations.archives.signing import sm3
from jingan.integrations.archives.simulator import (
    INPATIENT_INSTITUTIONS,
    ArchiveSimulator,
    patients,
)
from jingan.integrations.regional.simulator import population

CENTRAL = "310106001"


@pytest.fixture
def simulator() -> Iterator[ArchiveSimulator]:
    server = ArchiveSimulator(page_size=4)
    server.start()
    yield server
    server.stop()


def _adapter(simulator: ArchiveSimulator, code: str = CENTRAL) -> HttpArchiveAdapter:
    return HttpArchiveAdapter(ArchiveSourceConfig(base_url=simulator.url, institution_code=code))


def test_the_demo_population_is_deterministic_and_covers_every_registered_resident():
    first = {code: ArchiveSimulator().admissions(code) for code in INPATIENT_INSTITUTIONS}
    second = {code: ArchiveSimulator().admissions(code) for code in INPATIENT_INSTITUTIONS}
    assert first == second
    admitted: dict[str, int] = {}
    for items in first.values():
        for item in items:
            payload, reason = parse_payload(item)
            assert reason == ""
            assert payload is not None
            admitted[payload.patient.id_number] = admitted.get(payload.patient.id_number, 0) + 1
    assert {p.id_number for p in population()} <= set(admitted)
    assert set(admitted) == {p.id_number for p in patients()}
    assert set(admitted.values()) <= {1, 2, 3}
    assert len(INPATIENT_INSTITUTIONS) == 18
    assert all(first[code] for code in INPATIENT_INSTITUTIONS)


def test_the_adapter_reads_every_page_and_since_keeps_newer_archives(simulator):
    adapter = _adapter(simulator)
    expected = simulator.admissions(CENTRAL)
    seen: list[str] = []
    cursor = None
    while True:
        page = adapter.list_admissions(since=None, cursor=cursor)
        assert page.rejected == []
        seen += [item.admission_no for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [item["admission_no"] for item in expected]

    middle = datetime.fromisoformat(expected[len(expected) // 2]["archived_at"])
    newer = adapter.list_admissions(since=middle, cursor=None)
    assert [i.admission_no for i in newer.items] == [
        i["admission_no"] for i in expected if datetime.fromisoformat(i["archived_at"]) > middle
    ][:4]


def test_documents_are_multi_page_pdfs_matching_their_stated_digest(simulator):
    adapter = _adapter(simulator)
    section = simulator.admissions(CENTRAL)[0]["sections"][1]

    body = adapter.fetch_document(section["document_ref"])

    assert body.startswith(b"%PDF-1.4")
    assert body.rstrip().endswith(b"%%EOF")
    assert body.count(b"/Type /Page ") == section["page_count"]
    assert sm3(body).hex() == section["document_sm3"]
    assert adapter.fetch_document(section["document_ref"]) == body


def test_a_malformed_item_is_handed_back_with_its_reason(simulator):
    broken = dict(simulator.admissions(CENTRAL)[0], admission_no="ZY1", sections=[])
    simulator.put_raw(CENTRAL, broken)
    adapter = _adapter(simulator)

    rejected = []
    cursor = None
    while True:
        page = adapter.list_admissions(since=None, cursor=cursor)
        rejected += page.rejected
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [(r.raw["admission_no"], r.reason) for r in rejected] == [
        ("ZY1", "病案组成部分：至少需要 1 项")
    ]


def test_unknown_institutions_and_documents_are_clear_errors(simulator):
    with pytest.raises(ArchiveError) as unknown:
        _adapter(simulator, "999999999").list_admissions(since=None, cursor=None)
    assert unknown.value.retryable is False
    assert "HTTP 404" in unknown.value.message
    with pytest.raises(ArchiveError) as missing:
        _adapter(simulator).fetch_document("no-such-ref")
    assert missing.value.message.startswith("病案文档下载失败：HTTP 404")


def test_an_unreachable_archive_is_a_retryable_error():
    adapter = HttpArchiveAdapter(
        ArchiveSourceConfig(
            base_url="http://127.0.0.1:9", institution_code=CENTRAL, timeout_seconds=1
        )
    )
    with pytest.raises(ArchiveError) as error:
        adapter.list_admissions(since=None, cursor=None)
    assert error.value.retryable is True


def test_a_push_without_credentials_is_refused_by_the_simulator(simulator):
    response = httpx.post(f"{simulator.url}/simulator/push?institution={CENTRAL}", json={})
    assert response.status_code == 400
    assert json.loads(response.text)["message"] == f"机构 {CENTRAL} 未登记推送用的接入应用与私钥"


def test_a_newly_onboarded_code_gets_its_own_patients():
    server = ArchiveSimulator({"310106099": "上海市静安区新建医院"})
    items = server.admissions("310106099")
    assert len(items) == 6
    assert {i["institution_code"] for i in items} == {"310106099"}
