"""Excel exports of the record-room console (MR-A5): the statistics and a filtered list.

Names and ID numbers are masked in every cell; each export writes an audit row (who,
which filters, how many rows) before the file leaves the server.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from jingan.core.public import dictionary_entries, record_event
from jingan.lib.exports import Sheet, write_xlsx, write_xlsx_sheets
from jingan.lib.masking import mask_id_number, mask_name
from jingan.medical_records.console_queries import (
    ApplicationFilters,
    Statistics,
    applications_for_console,
    purpose_choices,
)
from jingan.medical_records.models import ApplicantType, ApplicationStatus, DeliveryMethod

EXPORT_LIMIT = 5000

APPLICATION_HEADERS = (
    "申请编号",
    "医疗机构",
    "患者姓名",
    "患者身份证号",
    "申请人类型",
    "复印用途",
    "复印内容",
    "份数",
    "取件方式",
    "状态",
    "提交时间",
    "审核时间",
    "完成时间",
)


class ExportError(ValueError):
    """An export the console refuses; ``str()`` is the Chinese text for the page."""


def _time(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def export_applications(
    *, actor: Any, filters: ApplicationFilters, request: HttpRequest | None = None
) -> bytes:
    """The filtered application list as a workbook, names and ID numbers masked; audited."""
    queryset = applications_for_console(actor, filters)
    count = queryset.count()
    if count > EXPORT_LIMIT:
        raise ExportError(
            f"符合条件的申请有 {count} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小筛选范围后再导出"
        )
    purposes = dict(purpose_choices())
    sections = dict(dictionary_entries("record_section", include_inactive=True))
    rows = [
        (
            application.number,
            application.institution.short_name or application.institution.name,
            mask_name(application.patient_name),
            mask_id_number(application.patient_id_number),
            ApplicantType(application.applicant_type).label,
            purposes.get(application.purpose, application.purpose),
            "、".join(sections.get(code, code) for code in application.sections),
            application.copies,
            DeliveryMethod(application.delivery_method).label,
            ApplicationStatus(application.status).label,
            _time(application.submitted_at),
            _time(application.reviewed_at),
            _time(application.completed_at),
        )
        for application in queryset
    ]
    content = write_xlsx("病案复印申请", APPLICATION_HEADERS, rows)
    with transaction.atomic():
        record_event(
            action="medical_records.application.export",
            actor=actor,
            object_type="medical_records.copyapplication",
            detail={"rows": count, "filters": filters.described()},
            request=request,
        )
    return content


def export_statistics(
    *, actor: Any, statistics: Statistics, request: HttpRequest | None = None
) -> bytes:
    """The statistics tables of one period, one sheet each; audited."""
    scope = statistics.institution_name or "数据范围内全部机构"
    notes = (
        f"统计期间：{statistics.start:%Y-%m-%d} 至 {statistics.end:%Y-%m-%d}（{statistics.grain_label}）",
        f"统计范围：{scope}",
        f"申请总数：{statistics.total}",
        f"导出时间：{timezone.localtime():%Y-%m-%d %H:%M}",
    )
    uploads = [
        (r.institution, r.uploaded, r.failed, r.pending, r.total) for r in statistics.uploads
    ]
    totals = statistics.upload_totals
    uploads.append(("合计", totals.uploaded, totals.failed, totals.pending, totals.total))
    content = write_xlsx_sheets(
        [
            Sheet(
                "按机构",
                ("医疗机构", "申请数"),
                [(r.label, r.count) for r in statistics.by_institution],
                notes,
            ),
            Sheet("按状态", ("状态", "申请数"), [(r.label, r.count) for r in statistics.by_status]),
            Sheet(
                "按用途",
                ("复印用途", "申请数"),
                [(r.label, r.count) for r in statistics.by_purpose],
            ),
            Sheet(
                f"按周期（{statistics.grain_label}）",
                ("周期", "申请数"),
                [(r.label, r.count) for r in statistics.by_period],
            ),
            Sheet(
                "病案上传",
                ("医疗机构", "已上传", "上传失败", "待上传", "合计"),
                uploads,
                ("统计期间内归档的住院病案，各组成部分文档的上传结果",),
            ),
        ]
    )
    with transaction.atomic():
        record_event(
            action="medical_records.statistics.export",
            actor=actor,
            object_type="medical_records.statistics",
            detail={
                "start": statistics.start.isoformat(),
                "end": statistics.end.isoformat(),
                "grain": statistics.grain,
                "institution": statistics.institution_name,
                "total": statistics.total,
            },
            request=request,
        )
    return content
