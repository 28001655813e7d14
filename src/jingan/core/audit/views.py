"""The auditors' console: search, detail, masked CSV export and the chain's status."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jingan.core.audit import queries, services
from jingan.core.audit.chain import chain_mac_valid, entry_values
from jingan.core.audit.forms import AuditSearchForm
from jingan.core.audit.models import GENESIS, AuditEntry

VIEW = queries.VIEW_PERMISSION
PAGE_SIZE = 30
_FILTER_FIELDS = ("since", "until", "action", "actor", "resident_id", "institution", "outcome")
_BREADCRUMBS = [("工作台", "web:console-home"), ("审计日志", "audit:console-log")]


def _filter_query(data: Any) -> str:
    return urlencode([(name, data[name]) for name in _FILTER_FIELDS if data.get(name)])


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def console_log(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    entries: QuerySet[AuditEntry] = AuditEntry.objects.none()
    if not request.GET:
        entries = queries.search_entries(request.user, queries.AuditFilters())
    elif form.is_valid():
        entries = queries.search_entries(request.user, form.filters())
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "breadcrumbs": [_BREADCRUMBS[0], ("审计日志", None)],
        "form": form,
        "page": page,
        "query": _filter_query(request.GET),
        "status": queries.chain_status(),
        "actions": queries.known_actions(),
        "now": timezone.now(),
    }
    if getattr(request, "htmx", False):
        return render(request, "audit/console/log.html#results", context)
    return render(request, "audit/console/log.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def console_entry(request: HttpRequest, sequence: int) -> HttpResponse:
    entry = queries.entry_for_user(request.user, sequence)
    if entry is None:
        raise Http404("没有这条审计记录")
    predecessor_mac = (
        AuditEntry.objects.filter(sequence=sequence - 1).values_list("mac", flat=True).first()
        if sequence > 1
        else GENESIS
    )
    detail = entry.detail_data
    context = {
        "breadcrumbs": [*_BREADCRUMBS, (f"记录 #{entry.sequence}", None)],
        "entry": entry,
        "detail_pretty": json.dumps(detail, ensure_ascii=False, indent=2, sort_keys=True),
        "mac_ok": chain_mac_valid(entry_values(entry), entry.mac),
        "link_ok": predecessor_mac == entry.prev_mac,
        "back": request.GET.get("back", ""),
    }
    return render(request, "audit/console/entry.html", context)


class _Echo:
    """A write-only file for csv.writer that hands each line back to the stream."""

    def write(self, value: str) -> str:
        return value


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def console_export(request: HttpRequest) -> HttpResponseBase:
    form = AuditSearchForm(request.POST)
    back = "/console/audit/?" + _filter_query(request.POST)
    if not form.is_valid():
        flash.error(
            request,
            "导出条件有误：" + "；".join(str(e) for errs in form.errors.values() for e in errs),
        )
        return redirect(back)
    try:
        rows = services.export_audit_entries(
            actor=request.user,  # type: ignore[arg-type]
            filters=form.filters(),
            request=request,
        )
    except services.AuditExportError as error:
        flash.error(request, str(error))
        return redirect(back)
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # so spreadsheet software reads the Chinese headers as UTF-8
        for row in rows:
            yield writer.writerow(row)

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def console_verify(request: HttpRequest) -> HttpResponse:
    report = services.run_verification(actor=request.user, request=request)  # type: ignore[arg-type]
    if report.ok:
        flash.success(request, report.summary)
    else:
        flash.error(request, report.summary)
    return redirect("audit:console-log")


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def console_checkpoint(request: HttpRequest) -> HttpResponse:
    checkpoint = services.sign_checkpoint(actor=request.user, request=request)  # type: ignore[arg-type]
    if checkpoint is None:
        flash.info(request, "自上一检查点以来没有新的审计记录，无需签名。")
    else:
        flash.success(
            request,
            f"已签名检查点 #{checkpoint.sequence}（SM2 密钥版本 {checkpoint.key_version}）。",
        )
    return redirect("audit:console-log")
