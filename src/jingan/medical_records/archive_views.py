"""Console pages of the archive sync: status per institution, onboarding, rejected payloads.

Reads go through ``.restrict`` with the view permission, writes need
``manage_archive_source`` within the caller's scope; anything outside it is a 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.public import get_for_user
from jingan.lib.http import mask_for_journal
from jingan.medical_records.archive_forms import ArchiveSourceForm
from jingan.medical_records.archive_models import ArchiveSource, RejectedArchivePayload
from jingan.medical_records.archive_queries import (
    MANAGE_SOURCE,
    VIEW_SOURCE,
    failed_sections_for,
    inpatient_institutions_for,
    rejected_for,
    sync_status_for,
)
from jingan.medical_records.archive_services import (
    ArchiveSyncError,
    configure_archive_source,
    replay_rejected,
    sync_now,
)

OUTCOME_LABELS = {"accepted": "新增", "updated": "更新", "unchanged": "未变化", "rejected": "拒收"}


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [
        ("工作台", "web:console-home"),
        ("病案归档同步", "medical_records:archive-status"),
        *tail,
    ]


def _manageable(user: Any, institution_id: int) -> Any:
    """The inpatient institution if ``user`` may configure it, else 404."""
    return get_for_user(
        inpatient_institutions_for(user, MANAGE_SOURCE), user, MANAGE_SOURCE, pk=institution_id
    )


@login_required
@permission_required(VIEW_SOURCE, raise_exception=True)
@require_GET
def archive_status(request: HttpRequest) -> HttpResponse:
    rows = sync_status_for(request.user)
    can_manage = request.user.has_perm(MANAGE_SOURCE)
    totals = {
        "configured": sum(1 for r in rows if r.source is not None),
        "admissions": sum(r.admissions for r in rows),
        "uploaded": sum(r.uploaded for r in rows),
        "pending": sum(r.pending for r in rows),
        "failed": sum(r.failed for r in rows),
        "rejected": sum(r.rejected_open for r in rows),
    }
    return render(
        request,
        "medical_records/archives/status.html",
        {
            "breadcrumbs": _crumbs(),
            "rows": rows,
            "totals": totals,
            "can_manage": can_manage,
        },
    )


@login_required
@permission_required(MANAGE_SOURCE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def archive_configure(request: HttpRequest, institution_id: int | None = None) -> HttpResponse:
    institutions = list(inpatient_institutions_for(request.user, MANAGE_SOURCE))
    fixed = _manageable(request.user, institution_id) if institution_id is not None else None
    source = (
        ArchiveSource.objects.restrict(request.user, MANAGE_SOURCE)
        .filter(institution_id=fixed.pk)
        .first()
        if fixed is not None
        else None
    )
    initial: dict[str, Any] = {}
    if source is not None:
        initial = {
            "institution": source.institution_id,
            "mode": source.mode,
            "base_url": source.base_url,
            "api_app_id": source.api_app_id,
            "poll_interval_minutes": source.poll_interval_minutes,
            "is_enabled": source.is_enabled,
        }
    elif fixed is not None:
        initial = {"institution": fixed.pk}
    form = ArchiveSourceForm(
        request.POST or None, initial=initial, institutions=institutions, fixed=fixed
    )
    if request.method == "POST" and form.is_valid():
        target = fixed or _manageable(request.user, form.cleaned_data["institution"])
        try:
            configure_archive_source(
                actor=request.user,
                institution_id=target.pk,
                mode=form.cleaned_data["mode"],
                base_url=form.cleaned_data["base_url"] or "",
                api_app_id=form.cleaned_data["api_app_id"] or "",
                poll_interval_minutes=form.cleaned_data["poll_interval_minutes"],
                is_enabled=form.cleaned_data["is_enabled"],
            )
        except ArchiveSyncError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"已保存「{target.name}」的病案归档接口配置")
            return redirect("medical_records:archive-status")
    title = f"配置病案归档接口 · {fixed.name}" if fixed is not None else "接入新机构的病案归档"
    return render(
        request,
        "medical_records/archives/form.html",
        {"breadcrumbs": _crumbs((title, None)), "form": form, "title": title},
    )


@login_required
@permission_required(MANAGE_SOURCE, raise_exception=True)
@require_POST
def archive_sync_now(request: HttpRequest, institution_id: int) -> HttpResponse:
    institution = _manageable(request.user, institution_id)
    try:
        result = sync_now(actor=request.user, institution_id=institution.pk)
    except ArchiveSyncError as error:
        messages.error(request, f"{institution.name}：{error}")
    else:
        if result.error:
            messages.error(request, f"{institution.name} 同步失败：{result.error}")
        else:
            summary = "，".join(
                f"{OUTCOME_LABELS.get(k, k)} {v} 条" for k, v in sorted(result.counts.items())
            )
            messages.success(request, f"{institution.name} 同步完成：{summary or '没有新的归档'}")
    return redirect("medical_records:archive-status")


@login_required
@permission_required(VIEW_SOURCE, raise_exception=True)
@require_GET
def archive_failures(request: HttpRequest, institution_id: int) -> HttpResponse:
    institution = get_for_user(
        inpatient_institutions_for(request.user, VIEW_SOURCE),
        request.user,
        VIEW_SOURCE,
        pk=institution_id,
    )
    sections = failed_sections_for(request.user, institution.pk)
    return render(
        request,
        "medical_records/archives/failures.html",
        {
            "breadcrumbs": _crumbs((f"{institution.display_name} 上传失败", None)),
            "institution": institution,
            "sections": sections,
        },
    )


@login_required
@permission_required(VIEW_SOURCE, raise_exception=True)
@require_GET
def rejected_list(request: HttpRequest) -> HttpResponse:
    show_all = request.GET.get("all") == "1"
    page = Paginator(rejected_for(request.user, only_open=not show_all), 20).get_page(
        request.GET.get("page")
    )
    rows = []
    for rejected in page.object_list:
        rows.append({"item": rejected, "masked": _masked_payload(rejected)})
    return render(
        request,
        "medical_records/archives/rejected.html",
        {
            "breadcrumbs": _crumbs(("拒收的归档数据", None)),
            "page": page,
            "rows": rows,
            "show_all": show_all,
            "query": "all=1" if show_all else "",
            "can_manage": request.user.has_perm(MANAGE_SOURCE),
        },
    )


def _masked_payload(rejected: RejectedArchivePayload) -> str:
    # Names and ID numbers masked: the page helps fix a format, it is no way to read records.
    try:
        data = json.loads(rejected.payload)
    except ValueError:
        return "（无法解析的原始数据）"
    if isinstance(data, str):
        return f"（非 JSON 原始数据，{len(data)} 个字符）"
    return json.dumps(mask_for_journal(data), ensure_ascii=False, indent=2)[:4000]


@login_required
@permission_required(MANAGE_SOURCE, raise_exception=True)
@require_POST
def rejected_replay(request: HttpRequest, pk: int) -> HttpResponse:
    rejected = get_for_user(RejectedArchivePayload.objects, request.user, MANAGE_SOURCE, pk=pk)
    try:
        result = replay_rejected(actor=request.user, rejected_id=rejected.pk)
    except ArchiveSyncError as error:
        messages.error(request, str(error))
    else:
        if result.outcome == "rejected":
            messages.error(
                request, f"住院号 {result.admission_no or '（无）'} 仍无法接收：{result.reason}"
            )
        else:
            messages.success(
                request,
                f"住院号 {result.admission_no} 重新处理成功（{OUTCOME_LABELS[result.outcome]}）",
            )
    return redirect("medical_records:archive-rejected")
