"""Record-room statistics and the Excel exports (MR-A5)."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from jingan.medical_records import services
from jingan.medical_records.archive_models import ArchivedAdmission, ArchivedSection
from jingan.medical_records.console_queries import application_statistics, period_starts
from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import archive, inpatient
from jingan.medical_records.tests.console_fixtures import (
    AGENT_PATIENT_ID,
    AGENT_PATIENT_NAME,
    OTHER_PATIENT_ID,
    OTHER_PATIENT_NAME,
    REVIEW,
    ConsoleData,
    console_data,
)
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

__all__ = ["archive", "console_data", "inpatient"]

STATISTICS = "/console/records/statistics/"


def _local(year: int, month: int, day: int, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def dataset(console_data: ConsoleData, make_staff: Any) -> ConsoleData:
    """Known submission times (one 30 minutes after a local midnight), statuses, uploads."""
    data = console_data
    times = {
        data.self_application.pk: _local(2026, 3, 2, 10, 0),
        # 00:30 in Shanghai is still 9 March in UTC: it counts on the 10th.
        data.agent_application.pk: _local(2026, 3, 10, 0, 30),
        data.other_application.pk: _local(2026, 4, 1, 8, 0),
    }
    for pk, moment in times.items():
        CopyApplication.objects.unscoped().filter(pk=pk).update(submitted_at=moment)
    reviewer = make_staff("r", permissions=(REVIEW,), institution=data.central)
    services.reject_application(
        actor=reviewer, application_id=data.self_application.pk, reason_code="other"
    )
    services.start_review(actor=reviewer, application_id=data.agent_application.pk)
    uploads = {
        "ZY-C1": ["uploaded", "uploaded", "failed"],
        "ZY-C2": ["pending"],
        "ZY-C3": ["uploaded"],
    }
    for admission in ArchivedAdmission.objects.unscoped().all():
        admission.archived_at = _local(2026, 3, 5, 9, 0)
        admission.save(update_fields=["archived_at"])
        for position, status in enumerate(uploads[admission.admission_no]):
            ArchivedSection.objects.create(
                admission=admission,
                code=f"section_{position}",
                title=f"第 {position} 部分",
                page_count=2,
                document_ref=f"doc-{admission.admission_no}-{position}",
                document_digest="0" * 64,
                upload_status=status,
            )
    return data


def _rows(rows: list[Any]) -> list[tuple[str, int]]:
    return [(row.label, row.count) for row in rows if row.count]


@pytest.mark.req("MR-A5")
def test_statistics_count_exactly_by_institution_status_purpose_and_period(
    dataset: ConsoleData, make_staff: Any
) -> None:
    data = dataset
    regulator = make_staff("regulator", roles=("district_regulator",))
    months = application_statistics(
        regulator, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 4, 30), grain="month"
    )
    central, other = data.central.short_name, data.other.short_name
    assert months.total == 3
    assert _rows(months.by_institution) == [(central, 2), (other, 1)]
    assert len(months.by_institution) == len(
        [i for i in data.central.__class__.objects.unscoped().filter(has_inpatient=True)]
    )
    assert [(r.key, r.count, r.colour) for r in months.by_status if r.count] == [
        ("submitted", 1, "blue"),
        ("under_review", 1, "azure"),
        ("rejected", 1, "red"),
    ]
    assert _rows(months.by_purpose) == [("报销", 1), ("保险理赔", 1), ("司法", 1)]
    assert [(r.label, r.count) for r in months.by_period] == [("2026-03", 2), ("2026-04", 1)]
    uploads = {r.institution: (r.uploaded, r.failed, r.pending) for r in months.uploads}
    assert uploads[central] == (2, 1, 1)
    assert uploads[other] == (1, 0, 0)
    assert (months.upload_totals.uploaded, months.upload_totals.failed) == (3, 1)

    weeks = application_statistics(
        regulator, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 4, 5), grain="week"
    )
    assert [(r.key, r.count) for r in weeks.by_period] == [
        ("2026-02-23", 0),
        ("2026-03-02", 1),
        ("2026-03-09", 1),
        ("2026-03-16", 0),
        ("2026-03-23", 0),
        ("2026-03-30", 1),
    ]
    days = application_statistics(
        regulator,
        start=datetime.date(2026, 3, 9),
        end=datetime.date(2026, 3, 10),
        grain="day",
        institution_id=data.central.pk,
    )
    assert [(r.key, r.count) for r in days.by_period] == [("2026-03-09", 0), ("2026-03-10", 1)]
    assert _rows(days.by_institution) == [(central, 1)]
    assert days.institution_name == central
    assert period_starts(datetime.date(2026, 12, 15), datetime.date(2027, 1, 2), "month") == [
        datetime.date(2026, 12, 1),
        datetime.date(2027, 1, 1),
    ]


@pytest.mark.req("MR-A5")
def test_the_statistics_page_shows_charts_data_and_tables_in_scope(
    dataset: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    data = dataset
    reviewer = make_staff("reviewer", roles=("record_room_reviewer",), institution=data.central)
    page = client_for(reviewer).get(
        STATISTICS, {"start": "2026-03-01", "end": "2026-04-30", "grain": "month"}
    )
    html = page.content.decode()
    assert 'data-count="total">2<' in html
    assert (
        f'data-key="{data.central.code}"><td>{data.central.short_name}</td><td class="text-end" data-count="{data.central.code}">2<'
        in html
    )
    assert data.other.short_name not in html
    assert 'data-count="2026-03-01">2<' in html
    assert 'data-count="2026-04-01">0<' in html
    assert '<script id="records-statistics-data" type="application/json">' in html
    assert "/static/vendor/echarts/echarts.min.js" in html
    assert "/static/medical_records/console-statistics.js" in html
    assert 'name="institution"' not in html  # one institution: no institution filter
    refused = client_for(reviewer).get(
        STATISTICS, {"start": "2026-01-01", "end": "2027-03-01", "grain": "day"}
    )
    assert "按日统计最多 366 个周期" in refused.content.decode()
    assert "records-statistics-data" not in refused.content.decode()
    backwards = client_for(reviewer).get(
        STATISTICS, {"start": "2026-05-01", "end": "2026-04-01", "grain": "day"}
    )
    assert "开始日期不能晚于结束日期" in backwards.content.decode()


def _cells(content: bytes) -> dict[str, list[list[Any]]]:
    workbook = load_workbook(io.BytesIO(content))
    return {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }


def _all_text(sheets: dict[str, list[list[Any]]]) -> str:
    return "\n".join(str(cell) for rows in sheets.values() for row in rows for cell in row)


@pytest.mark.req("MR-A5")
def test_the_statistics_export_is_an_audited_workbook_of_the_same_tables(
    dataset: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    from django.apps import apps

    data = dataset
    regulator = make_staff("regulator", roles=("district_regulator",))
    response = client_for(regulator).post(
        f"{STATISTICS}export/",
        {"start": "2026-03-01", "end": "2026-04-30", "grain": "month", "institution": ""},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response["Content-Disposition"].startswith('attachment; filename="records-statistics-')
    sheets = _cells(response.content)
    assert list(sheets) == ["按机构", "按状态", "按用途", "按周期（按月）", "病案上传"]
    by_institution = sheets["按机构"]
    assert by_institution[0] == ["统计期间：2026-03-01 至 2026-04-30（按月）", None]
    assert by_institution[2] == ["申请总数：3", None]
    assert by_institution[4] == ["医疗机构", "申请数"]
    assert [data.central.short_name, 2] in by_institution
    assert [data.other.short_name, 1] in by_institution
    assert sheets["按周期（按月）"] == [["周期", "申请数"], ["2026-03", 2], ["2026-04", 1]]
    assert ["已拒绝", 1] in sheets["按状态"]
    assert sheets["病案上传"][-1] == ["合计", 3, 1, 1, 5]
    entry = apps.get_model("audit.AuditEntry").objects.get(
        action="medical_records.statistics.export"
    )
    assert entry.actor_id == regulator.pk
    assert entry.detail_data == {
        "start": "2026-03-01",
        "end": "2026-04-30",
        "grain": "month",
        "institution": "",
        "total": 3,
    }


@pytest.mark.req("MR-A5")
def test_the_list_export_masks_names_and_id_numbers(
    dataset: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    from django.apps import apps

    regulator = make_staff("regulator", roles=("district_regulator",))
    response = client_for(regulator).post(
        "/console/records/applications/export/", {"submitted_from": "2026-03-01"}
    )
    assert response.status_code == 200
    sheets = _cells(response.content)
    rows = sheets["病案复印申请"]
    assert rows[0][:4] == ["申请编号", "医疗机构", "患者姓名", "患者身份证号"]
    assert [row[0] for row in rows[1:]] == [
        dataset.other_application.number,
        dataset.agent_application.number,
        dataset.self_application.number,
    ]
    assert [row[2] for row in rows[1:]] == ["欧阳**", "李**", "王**"]
    assert rows[2][3] == f"310***********{AGENT_PATIENT_ID[-4:]}"
    assert rows[2][5:10] == ["司法", "住院病案首页、手术记录", 1, "邮寄纸质件", "审核中"]
    text = _all_text(sheets)
    for secret in (DEFAULT_NAME, AGENT_PATIENT_NAME, OTHER_PATIENT_NAME):
        assert secret not in text
    for secret in (DEFAULT_ID_NUMBER, AGENT_PATIENT_ID, OTHER_PATIENT_ID):
        assert secret not in text
        assert secret[6:14] not in text  # not even the birth date part
    entry = apps.get_model("audit.AuditEntry").objects.get(
        action="medical_records.application.export"
    )
    assert entry.detail_data == {"rows": 3, "filters": {"submitted_from": "2026-03-01"}}
