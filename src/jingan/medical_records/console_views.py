"""The record-room console: application list and detail, review queue, statistics
(MR-A2..A5).

Reads need ``view_copyapplication`` and go through ``.restrict``; every action needs
``review_copyapplication`` and is done by the services, which check the scope and the
status again. Anything outside the caller's scope is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jingan.core.public import get_for_user, record_personal_data_read
from jingan.lib.exports import XLSX_CONTENT_TYPE
from jingan.medical_records import copy_services, services
from jingan.medical_records.console_forms import (
    ApplicationFilterForm,
    ApproveForm,
    RejectForm,
    ShipForm,
    StatisticsForm,
)
from jingan.medical_records.console_queries import (
    VIEW_PERMISSION,
    ApplicationFilters,
    admissions_of,
    application_statistics,
    applications_for_console,
    get_application_for_console,
    institutions_for,
    purpose_choices,
    queue_counts_for,
    queue_statuses_for,
    review_queue,
    rights_on,
    section_labels,
    status_counts_for_console,
    timeline_of,
    verification_of,
)
from jingan.medical_records.exports import ExportError, export_applications, export_statistics
from jingan.medical_records.models import (
    ApplicationStatus,
    CopyApplication,
    DeliveryMethod,
)

VIEW = VIEW_PERMISSION
REVIEW = services.REVIEW_PERMISSION
PAGE_SIZE = 25
# The page CSP's object-src 'none' would stop the browser's own PDF viewer; a served file
# needs no scripts, styles or connections of its own.
_FILE_CSP = (
    "default-src 'none'; img-src 'self'; object-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'self'"
)
_FILTER_FIELDS = (
    "status",
    "purpose",
    "applicant_type",
    "delivery_method",
    "institution",
    "submitted_from",
    "submitted_to",
    "q",
)


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), *tail]


def _query(data: QueryDict, *, without: tuple[str, ...] = ()) -> str:
    """The filter part of a query string (no page), for pagination and status tabs."""
    return urlencode(
        [(name, data[name]) for name in _FILTER_FIELDS if data.get(name) and name not in without]
    )


def _filters_of(form: ApplicationFilterForm) -> ApplicationFilters:
    if form.is_bound and form.is_valid():
        return form.filters()
    return ApplicationFilters()


def _rows(applications: Any) -> list[dict[str, Any]]:
    purposes = dict(purpose_choices())
    return [
        {"application": a, "purpose_label": purposes.get(a.purpose, a.purpose)}
        for a in applications
    ]


def _status_tabs(counts: list[Any], data: QueryDict, selected: str) -> list[dict[str, Any]]:
    base = _query(data, without=("status",))
    joiner = "&" if base else ""
    tabs = [
        {
            "code": "",
            "label": "全部",
            "colour": "dark",
            "count": sum(row.count for row in counts),
            "query": base,
            "active": not selected,
        }
    ]
    for row in counts:
        tabs.append(
            {
                "code": row.code,
                "label": row.label,
                "colour": row.colour,
                "count": row.count,
                "query": f"{base}{joiner}status={row.code}",
                "active": selected == row.code,
            }
        )
    return tabs


def _list_page(
    request: HttpRequest,
    *,
    template: str,
    title: str,
    form: ApplicationFilterForm,
    rows: Callable[[ApplicationFilters], Any],
    counts: Callable[[ApplicationFilters], Any],
    **extra: Any,
) -> HttpResponse:
    """A filtered, paginated list of applications with its status tabs (list and queue)."""
    filters = _filters_of(form)
    page = Paginator(rows(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        template,
        {
            "breadcrumbs": _crumbs((title, None)),
            "form": form,
            "page": page,
            "rows": _rows(page.object_list),
            "tabs": _status_tabs(counts(filters), request.GET, filters.status),
            "query": _query(request.GET),
            **extra,
        },
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def application_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    return _list_page(
        request,
        template="medical_records/console/list.html",
        title="病案复印申请",
        form=ApplicationFilterForm(request.GET or None, institutions=institutions_for(user)),
        rows=lambda filters: applications_for_console(user, filters),
        counts=lambda filters: status_counts_for_console(user, filters),
        can_review=user.has_perm(REVIEW),
    )


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_GET
def review_queue_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    statuses = queue_statuses_for(user)
    return _list_page(
        request,
        template="medical_records/console/queue.html",
        title="病案审核",
        form=ApplicationFilterForm(
            request.GET or None,
            institutions=institutions_for(user, REVIEW),
            statuses=[(code, ApplicationStatus(code).label) for code in statuses],
        ),
        rows=lambda filters: review_queue(user, filters),
        counts=lambda filters: queue_counts_for(user, filters),
    )


# -- detail ----------------------------------------------------------------------------


def _copy_document(application: CopyApplication) -> Any:
    # The copy is built after approval; until then the reverse one-to-one is missing,
    # which Django reports as an AttributeError.
    return getattr(application, "copy_document", None)


def _render_detail(
    request: HttpRequest,
    application: CopyApplication,
    *,
    revealed: services.RevealedIdentity | None = None,
    status: int = 200,
) -> HttpResponse:
    admissions = admissions_of(application)
    with transaction.atomic():
        # Diagnoses are health data shown in clear: every view of them is on the record.
        record_personal_data_read(
            actor=request.user,  # type: ignore[arg-type]
            resident_id=application.resident_id,
            what=f"病案复印申请 {application.number} 的申请详情与住院诊断",
            request=request,
        )
    rights = rights_on(request.user, application)
    is_mail = application.delivery_method == DeliveryMethod.MAIL
    purposes = dict(purpose_choices())
    return render(
        request,
        "medical_records/console/detail.html",
        {
            "breadcrumbs": _crumbs(
                ("病案复印申请", "medical_records:console-applications"),
                (f"申请 {application.number}", None),
            ),
            "application": application,
            "purpose_label": purposes.get(application.purpose, application.purpose),
            "section_labels": section_labels(application.sections),
            "admissions": admissions,
            "verification": verification_of(application),
            "materials": list(application.materials.all()),
            "timeline": timeline_of(application),
            "rights": rights,
            "revealed": revealed,
            "is_mail": is_mail,
            "copy_document": _copy_document(application),
            "can_rebuild_copy": rights.review
            and application.status in (ApplicationStatus.PREPARING, ApplicationStatus.READY),
            "approve_form": ApproveForm(),
            "reject_form": RejectForm(),
            "ship_form": ShipForm(),
            "second_review_blocked": (
                application.status == ApplicationStatus.SECOND_REVIEW
                and application.first_reviewer_id == request.user.pk
            ),
        },
        status=status,
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, get_application_for_console(request.user, pk))


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_POST
def application_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    revealed = services.reveal_identity_for_reviewer(
        actor=request.user, application_id=pk, request=request
    )
    return _render_detail(request, get_application_for_console(request.user, pk), revealed=revealed)


def _form_error(form: Any) -> str:
    return "；".join(str(error) for errors in form.errors.values() for error in errors)


def _approve(request: HttpRequest, pk: int) -> str:
    form = ApproveForm(request.POST)
    if not form.is_valid():
        raise services.ApplicationError(_form_error(form))
    application = services.approve_application(
        actor=request.user, application_id=pk, note=form.cleaned_data["note"], request=request
    )
    if application.status == ApplicationStatus.SECOND_REVIEW:
        return "初审通过，已提交复核"
    return "审核通过"


def _second_review(request: HttpRequest, pk: int) -> str:
    if not request.user.has_perm(services.SECOND_REVIEW_PERMISSION):
        raise services.ApplicationError("您没有复核权限", code="no_second_review_permission")
    form = ApproveForm(request.POST)
    if not form.is_valid():
        raise services.ApplicationError(_form_error(form))
    services.second_review_application(
        actor=request.user, application_id=pk, note=form.cleaned_data["note"], request=request
    )
    return "复核通过"


def _reject(request: HttpRequest, pk: int) -> str:
    form = RejectForm(request.POST)
    if not form.is_valid():
        raise services.ApplicationError("请选择拒绝原因")
    services.reject_application(
        actor=request.user,
        application_id=pk,
        reason_code=form.cleaned_data["reason"],
        note=form.cleaned_data["note"],
        request=request,
    )
    return "已拒绝该申请，居民将收到拒绝原因"


def _ship(request: HttpRequest, pk: int) -> str:
    form = ShipForm(request.POST)
    tracking = form.cleaned_data["tracking_no"] if form.is_valid() else ""
    application = services.mark_shipped(
        actor=request.user, application_id=pk, tracking_no=tracking, request=request
    )
    return f"已登记寄出，快递单号 {application.tracking_no}"


def _simple(step: Callable[..., object], message: str) -> Callable[[HttpRequest, int], str]:
    def run(request: HttpRequest, pk: int) -> str:
        step(actor=request.user, application_id=pk, request=request)
        return message

    return run


ACTIONS: dict[str, Callable[[HttpRequest, int], str]] = {
    "start-review": _simple(services.start_review, "已开始审核"),
    "approve": _approve,
    "second-review": _second_review,
    "reject": _reject,
    "prepare": _simple(services.mark_preparing, "已开始制作复印件"),
    "ready": _simple(services.mark_ready, "复印件已制作完成"),
    "ship": _ship,
    "complete": _simple(services.complete_application, "已确认签收，申请办结"),
    "rebuild-copy": _simple(copy_services.rebuild_copy, "复印件已重新生成"),
}


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_POST
def application_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    handler = ACTIONS.get(action)
    if handler is None:
        raise Http404("没有这个操作")
    # Out of scope is a 404 before any form is looked at.
    application = get_for_user(CopyApplication.objects, request.user, REVIEW, pk=pk)
    try:
        done = handler(request, application.pk)
    except services.ApplicationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"申请 {application.number}：{done}")
    return redirect("medical_records:console-application", pk=application.pk)


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_GET
def material_file(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        material, data = services.open_material_for_reviewer(
            actor=request.user, material_id=pk, request=request
        )
    except FileNotFoundError:
        return HttpResponse(
            "材料文件不存在，请联系系统管理员", status=410, content_type="text/plain; charset=utf-8"
        )
    except services.ApplicationError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(
        material.content_type, "bin"
    )
    filename = f"{material.get_kind_display()}-{material.application.number}.{extension}"
    response = HttpResponse(data, content_type=material.content_type)
    response["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = _FILE_CSP
    return response


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def copy_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The built copy, opened in the browser's PDF viewer to check or print (audited)."""
    try:
        document, data = copy_services.open_copy_for_staff(
            actor=request.user, application_id=pk, request=request
        )
    except services.ApplicationError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
    filename = f"病案复印件-{document.application.number}.pdf"
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = _FILE_CSP
    return response


# -- statistics and exports -------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def statistics_page(request: HttpRequest) -> HttpResponse:
    institutions = institutions_for(request.user)
    data = request.GET if "start" in request.GET else StatisticsForm.default_data()
    form = StatisticsForm(data, institutions=institutions)
    statistics = None
    if form.is_valid():
        statistics = application_statistics(
            request.user,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            grain=form.cleaned_data["grain"],
            institution_id=form.institution_id,
        )
    return render(
        request,
        "medical_records/console/statistics.html",
        {
            "breadcrumbs": _crumbs(("病案申请统计", None)),
            "form": form,
            "statistics": statistics,
            "chart_data": statistics.chart_data() if statistics else None,
        },
    )


def _xlsx(content: bytes, stem: str) -> HttpResponse:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{stem}-{stamp}.xlsx"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def statistics_export(request: HttpRequest) -> HttpResponse:
    form = StatisticsForm(request.POST, institutions=institutions_for(request.user))
    if not form.is_valid():
        messages.error(request, "导出条件有误：" + _form_error(form))
        return redirect("medical_records:console-statistics")
    statistics = application_statistics(
        request.user,
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
        grain=form.cleaned_data["grain"],
        institution_id=form.institution_id,
    )
    content = export_statistics(actor=request.user, statistics=statistics, request=request)
    return _xlsx(content, "records-statistics")


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def applications_export(request: HttpRequest) -> HttpResponse:
    form = ApplicationFilterForm(request.POST, institutions=institutions_for(request.user))
    back = reverse("medical_records:console-applications") + "?" + _query(request.POST)
    if not form.is_valid():
        messages.error(request, "导出条件有误：" + _form_error(form))
        return redirect(back)
    try:
        content = export_applications(actor=request.user, filters=form.filters(), request=request)
    except ExportError as error:
        messages.error(request, str(error))
        return redirect(back)
    return _xlsx(content, "records-applications")
