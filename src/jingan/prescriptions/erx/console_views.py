"""The e-prescription console (RX-M1, RX-M2, RX-C1): prescriptions, the in-hospital
review queue, the drug catalogue, pickup results, the exception log and the 26
institutions' centre connections.

Views parse, call the services and render. Reads go through ``queries`` (``.restrict``;
out of scope is a 404); every write is a service call, which checks the scope and the
status again. An ``ErxError`` becomes a Chinese alert, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.prescriptions.erx import pdf, queries, services
from jingan.prescriptions.erx.errors import ErrorCode, ErxError
from jingan.prescriptions.erx.forms import (
    CatalogueSearchForm,
    PickupFilterForm,
    PrescriptionEditor,
    PrescriptionFilterForm,
    ReviewForm,
    RevokeForm,
    editor_diagnoses,
    editor_initial,
    editor_items,
    new_rxno,
)
from jingan.prescriptions.erx.models import Prescription, PrescriptionStatus, RevokeOutcome
from jingan.prescriptions.erx.queries import (
    ADD_PERMISSION,
    CHANGE_PERMISSION,
    DELETE_PERMISSION,
    MANAGE_CONNECTION_PERMISSION,
    PRESCRIBE_PERMISSION,
    REPLAY_PERMISSION,
    REVIEW_PERMISSION,
    SYNC_CATALOGUE_PERMISSION,
    VIEW_CALL_PERMISSION,
    VIEW_CATALOGUE_PERMISSION,
    VIEW_CONNECTION_PERMISSION,
    VIEW_NOTIFICATION_PERMISSION,
    VIEW_PERMISSION,
)
from jingan.prescriptions.erx.schemas import FREQUENCIES, ROUTES
from jingan.prescriptions.erx.views import (
    pdf_response,
    record_prescription_read,
    safe_next,
    text_response,
)

PAGE_SIZE = 25
_FILTER_FIELDS = ("status", "rxno", "id_number", "doctor", "date_from", "date_to", "institution")
# Who may re-ask the centre for a prescription's state: its doctor or a pharmacist.
REFRESH_PERMISSIONS = (PRESCRIBE_PERMISSION, REVIEW_PERMISSION)
# Who may see a prescription's patient in full: the clinical staff, not the regulator.
REVEAL_PERMISSIONS = (PRESCRIBE_PERMISSION, REVIEW_PERMISSION)


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), *tail]


def _query(data: QueryDict, fields: tuple[str, ...], *, without: tuple[str, ...] = ()) -> str:
    """The filter part of a query string (no page), for pagination and status tabs."""
    return urlencode([(n, data[n]) for n in fields if data.get(n) and n not in without])


def _actor(request: HttpRequest) -> Any:
    return services.staff_actor(request.user)


def _detail_url(prescription: Prescription) -> str:
    return reverse("erx:prescription", args=[prescription.reference])


def _page(request: HttpRequest, rows: Any) -> Any:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


# -- prescriptions ---------------------------------------------------------------------


def _status_tabs(user: Any, data: QueryDict, filters: queries.PrescriptionFilters) -> list[Any]:
    counts = queries.status_counts_for_user(user, filters)
    base = _query(data, _FILTER_FIELDS, without=("status",))
    joiner = "&" if base else ""
    tabs = [
        {
            "code": "",
            "label": "全部",
            "colour": "dark",
            "count": sum(row.count for row in counts),
            "query": base,
            "active": not filters.status,
        }
    ]
    tabs += [
        {
            "code": row.code,
            "label": row.label,
            "colour": row.colour,
            "count": row.count,
            "query": f"{base}{joiner}status={row.code}",
            "active": filters.status == row.code,
        }
        for row in counts
        # Empty statuses stay out of the way unless selected: thirteen pills are a wall.
        if row.count or filters.status == row.code
    ]
    return tabs


def _rows(prescriptions: Any) -> list[dict[str, Any]]:
    return [
        {"p": p, "colour": queries.status_colour(p.status), "centre": queries.centre_labels(p)}
        for p in prescriptions
    ]


@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
@require_GET
def prescription_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = PrescriptionFilterForm(
        request.GET or None, institutions=queries.institutions_for(user, VIEW_PERMISSION)
    )
    filters = form.filters()
    page = _page(request, queries.prescriptions_for_user(user, filters))
    return render(
        request,
        "erx/console/list.html",
        {
            "breadcrumbs": _crumbs(("医保电子处方", None)),
            "form": form,
            "page": page,
            "rows": _rows(page.object_list),
            "tabs": _status_tabs(user, request.GET, filters),
            "query": _query(request.GET, _FILTER_FIELDS),
            "can_add": user.has_perm(ADD_PERMISSION),
        },
    )


def _rights(user: Any, prescription: Prescription) -> dict[str, bool]:
    """What ``user`` may do to this prescription (scope included); services check again."""

    def holds(permission: str) -> bool:
        return (
            user.has_perm(permission)
            and Prescription.objects.restrict(user, permission).filter(pk=prescription.pk).exists()
        )

    prescribe = holds(PRESCRIBE_PERMISSION)
    review = holds(REVIEW_PERMISSION)
    status = prescription.status
    rights = {
        "prescribe": prescribe,
        "review": review and status == PrescriptionStatus.PENDING_REVIEW,
        "edit": holds(CHANGE_PERMISSION) and prescription.is_editable,
        "delete": holds(DELETE_PERMISSION) and prescription.is_deletable,
        "preverify": prescribe
        and status in (PrescriptionStatus.DRAFT, PrescriptionStatus.REVIEW_REJECTED),
        "submit_review": prescribe and status == PrescriptionStatus.VERIFIED,
        "sign_upload": prescribe
        and status in (PrescriptionStatus.REVIEWED, PrescriptionStatus.SIGNED),
        "revoke": prescribe and prescription.is_revocable,
        "refresh": (prescribe or review) and bool(prescription.hi_rxno),
        "reveal": prescribe or review,
        "slip": bool(prescription.hi_rxno)
        and status in (PrescriptionStatus.CENTRE_APPROVED, PrescriptionStatus.DISPENSED),
        "calls": user.has_perm(VIEW_CALL_PERMISSION),
    }
    rights["any"] = (
        any(
            rights[key]
            for key in ("review", "edit", "delete", "preverify", "submit_review", "sign_upload")
        )
        or rights["revoke"]
        or rights["refresh"]
    )
    return rights


def _render_detail(
    request: HttpRequest, prescription: Prescription, *, revealed: bool = False
) -> HttpResponse:
    # Diagnoses and drugs are health data shown in clear: every view is on the record.
    record_prescription_read(
        request, prescription, "完整患者信息" if revealed else "处方详情、诊断与药品"
    )
    rights = _rights(request.user, prescription)
    return render(
        request,
        "erx/console/detail.html",
        {
            "breadcrumbs": _crumbs(
                ("医保电子处方", "erx:prescriptions"), (f"处方 {prescription.hosp_rxno}", None)
            ),
            "p": prescription,
            "colour": queries.status_colour(prescription.status),
            "items": list(prescription.items.order_by("line_no")),
            "diagnoses": queries.diagnoses_of(prescription),
            "dispensed": queries.dispense_details_of(prescription),
            "events": queries.events_of(prescription),
            "calls": queries.calls_of(request.user, prescription) if rights["calls"] else [],
            "centre": queries.centre_labels(prescription),
            "rights": rights,
            "revealed": revealed,
            "revoke_form": RevokeForm(),
            "slip_svg": _slip_svg(prescription) if rights["slip"] else "",
        },
    )


def _slip_svg(prescription: Prescription) -> str:
    try:
        return pdf.slip_qr_svg(prescription)
    except Exception:  # noqa: BLE001 - a QR that cannot be drawn must not break the page
        return ""


@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
@require_GET
def prescription_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return _render_detail(request, queries.get_prescription_for_user(request.user, reference))


@login_required
@require_POST
def prescription_reveal(request: HttpRequest, reference: str) -> HttpResponse:
    prescription = queries.get_prescription_for_any(request.user, reference, REVEAL_PERMISSIONS)
    return _render_detail(request, prescription, revealed=True)


def _editor_page(
    request: HttpRequest,
    editor: PrescriptionEditor,
    *,
    prescription: Prescription | None,
    status: int = 200,
) -> HttpResponse:
    title = f"修改处方 {prescription.hosp_rxno}" if prescription else "新开处方"
    # Show each line's drug by name, not only by its catalogue code.
    labels = queries.drug_labels([str(f["med_list_codg"].value() or "") for f in editor.items])
    for item in editor.items:
        item.drug_label = labels.get(str(item["med_list_codg"].value() or ""), "")  # type: ignore[attr-defined]
    crumbs = [("医保电子处方", "erx:prescriptions")]
    return render(
        request,
        "erx/console/form.html",
        {
            "breadcrumbs": _crumbs(*crumbs, (title, None)),
            "title": title,
            "editor": editor,
            "p": prescription,
            "routes": ROUTES,
            "frequencies": FREQUENCIES,
        },
        status=status,
    )


def _save(
    request: HttpRequest, editor: PrescriptionEditor, prescription: Prescription | None
) -> HttpResponse:
    if not editor.is_valid():
        editor.error = editor.errors_text()
        return _editor_page(request, editor, prescription=prescription, status=422)
    try:
        saved = services.save_draft(
            actor=_actor(request),
            institution_id=editor.institution_id,
            draft=editor.draft(),
            prescription_id=prescription.pk if prescription else None,
        )
    except ErxError as error:
        editor.error = error.message
        return _editor_page(request, editor, prescription=prescription, status=422)
    messages.success(
        request, f"处方 {saved.hosp_rxno} 已{'保存修改' if prescription else '保存为草稿'}"
    )
    return redirect(_detail_url(saved))


@login_required
@permission_required(ADD_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def prescription_create(request: HttpRequest) -> HttpResponse:
    institutions = queries.institutions_for(request.user, ADD_PERMISSION)
    if request.method == "POST":
        editor = PrescriptionEditor(request.POST, institutions=institutions)
        return _save(request, editor, None)
    user: Any = request.user
    editor = PrescriptionEditor(
        institutions=institutions,
        initial={"hosp_rxno": new_rxno(), "doctor_name": user.display_name, "valid_days": 3},
        diagnoses=[{"main": True}],
        items=[{"days": 3, "route_code": "01", "frequency_code": "tid"}],
    )
    return _editor_page(request, editor, prescription=None)


@login_required
@permission_required(CHANGE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def prescription_edit(request: HttpRequest, reference: str) -> HttpResponse:
    prescription = queries.get_prescription_for_user(request.user, reference, CHANGE_PERMISSION)
    if not prescription.is_editable:
        messages.error(request, f"处方当前状态为“{prescription.get_status_display()}”，不能修改")
        return redirect(_detail_url(prescription))
    institutions = [prescription.institution]
    if request.method == "POST":
        return _save(
            request, PrescriptionEditor(request.POST, institutions=institutions), prescription
        )
    record_prescription_read(request, prescription, "修改页（患者信息、诊断与药品）")
    editor = PrescriptionEditor(
        institutions=institutions,
        initial=editor_initial(prescription),
        diagnoses=editor_diagnoses(prescription),
        items=editor_items(prescription),
    )
    return _editor_page(request, editor, prescription=prescription)


@login_required
@permission_required(DELETE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def prescription_delete(request: HttpRequest, reference: str) -> HttpResponse:
    prescription = queries.get_prescription_for_user(request.user, reference, DELETE_PERMISSION)
    if request.method == "POST":
        try:
            services.delete_prescription(actor=_actor(request), prescription_id=prescription.pk)
        except ErxError as error:
            messages.error(request, error.message)
            return redirect(_detail_url(prescription))
        messages.success(request, f"处方 {prescription.hosp_rxno} 已删除")
        return redirect("erx:prescriptions")
    return render(
        request,
        "erx/console/delete.html",
        {
            "breadcrumbs": _crumbs(
                ("医保电子处方", "erx:prescriptions"),
                (f"处方 {prescription.hosp_rxno}", None),
            ),
            "p": prescription,
            "colour": queries.status_colour(prescription.status),
        },
    )


# -- actions -----------------------------------------------------------------------------


def _preverify(request: HttpRequest, prescription: Prescription) -> str:
    done = services.preverify(actor=_actor(request), prescription_id=prescription.pk)
    return f"预核验通过，医保处方编号 {done.hi_rxno}"


def _submit_review(request: HttpRequest, prescription: Prescription) -> str:
    done = services.submit_for_review(actor=_actor(request), prescription_id=prescription.pk)
    if done.status == PrescriptionStatus.PENDING_REVIEW:
        return "已提交院内审方"
    return f"本机构无需院内审方，处方状态：{done.get_status_display()}"


def _sign_upload(request: HttpRequest, prescription: Prescription) -> str:
    actor = _actor(request)
    if prescription.status != PrescriptionStatus.SIGNED:
        services.sign(actor=actor, prescription_id=prescription.pk)
    done = services.upload(actor=actor, prescription_id=prescription.pk)
    return f"已签名并上传处方中心，处方状态：{done.get_status_display()}"


def _revoke(request: HttpRequest, prescription: Prescription) -> str:
    form = RevokeForm(request.POST)
    if not form.is_valid():
        raise ErxError(ErrorCode.INVALID_INPUT, "请填写撤销原因", "reason")
    outcome = services.revoke(
        actor=_actor(request), prescription_id=prescription.pk, reason=form.cleaned_data["reason"]
    )
    return f"撤销结果：{RevokeOutcome(outcome).label}"


def _refresh(request: HttpRequest, prescription: Prescription) -> str:
    done = services.refresh_from_centre(actor=_actor(request), prescription_id=prescription.pk)
    return f"已查询处方中心，当前状态：{done.get_status_display()}"


def _review(approve: bool) -> Callable[[HttpRequest, Prescription], str]:
    def run(request: HttpRequest, prescription: Prescription) -> str:
        form = ReviewForm(request.POST)
        opinion = form.cleaned_data["opinion"] if form.is_valid() else ""
        if not approve and not opinion:
            raise ErxError(ErrorCode.INVALID_INPUT, "审方不通过时请填写审方意见", "opinion")
        services.review_by_pharmacist(
            actor=_actor(request),
            prescription_id=prescription.pk,
            approve=approve,
            opinion=opinion,
        )
        return "院内审方通过" if approve else "院内审方不通过，已退回医师"

    return run


# action -> (handler, permissions that allow it)
ACTIONS: dict[str, tuple[Callable[[HttpRequest, Prescription], str], tuple[str, ...]]] = {
    "preverify": (_preverify, (PRESCRIBE_PERMISSION,)),
    "submit-review": (_submit_review, (PRESCRIBE_PERMISSION,)),
    "sign-upload": (_sign_upload, (PRESCRIBE_PERMISSION,)),
    "revoke": (_revoke, (PRESCRIBE_PERMISSION,)),
    "refresh": (_refresh, REFRESH_PERMISSIONS),
    "approve": (_review(True), (REVIEW_PERMISSION,)),
    "reject": (_review(False), (REVIEW_PERMISSION,)),
}


@login_required
@require_POST
def prescription_action(request: HttpRequest, reference: str, action: str) -> HttpResponse:
    entry = ACTIONS.get(action)
    if entry is None:
        raise Http404("没有这个操作")
    handler, permissions = entry
    # No permission is a 403, out of scope a 404, both before any form is looked at.
    prescription = queries.get_prescription_for_any(request.user, reference, permissions)
    try:
        done = handler(request, prescription)
    except ErxError as error:
        messages.error(request, f"处方 {prescription.hosp_rxno}：{error.message}")
    else:
        messages.success(request, f"处方 {prescription.hosp_rxno}：{done}")
    return redirect(safe_next(request, _detail_url(prescription)))


# -- documents -----------------------------------------------------------------------------


@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
@require_GET
def prescription_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    """The prescription as a PDF (the document that is signed), audited."""
    prescription = queries.get_prescription_for_user(request.user, reference)
    try:
        data = pdf.render_prescription_pdf(prescription)
    except pdf.PrescriptionDocumentError as error:
        return text_response(str(error), 409)
    record_prescription_read(request, prescription, "处方 PDF")
    return pdf_response(data, f"医保电子处方-{prescription.hosp_rxno}.pdf")


@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
@require_GET
def prescription_slip(request: HttpRequest, reference: str) -> HttpResponse:
    """The purchase slip (购药提示单) with its QR code, to print for the patient."""
    prescription = queries.get_prescription_for_user(request.user, reference)
    try:
        data = pdf.render_purchase_slip_pdf(prescription)
    except pdf.PrescriptionDocumentError as error:
        return text_response(str(error), 409)
    record_prescription_read(request, prescription, "购药提示单 PDF")
    return pdf_response(data, f"购药提示单-{prescription.hosp_rxno}.pdf")


# -- drug search for the editor (HTMX) ----------------------------------------------------


@login_required
@permission_required(VIEW_CATALOGUE_PERMISSION, raise_exception=True)
@require_GET
def drug_search(request: HttpRequest) -> HttpResponse:
    keyword = (request.GET.get("drug_q") or request.GET.get("q") or "").strip()[:50]
    entries = (
        list(queries.catalogue_entries(keyword).filter(is_listed=True)[:10]) if keyword else []
    )
    return render(
        request, "erx/console/_drug_options.html", {"entries": entries, "keyword": keyword}
    )


# -- RX-M2: review queue, catalogue, pickups, exceptions -------------------------------------


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    page = _page(request, queries.review_queue_for_user(request.user))
    return render(
        request,
        "erx/console/review.html",
        {
            "breadcrumbs": _crumbs(("院内审方", None)),
            "page": page,
            "rows": _rows(page.object_list),
            "query": "",
        },
    )


@login_required
@permission_required(VIEW_CATALOGUE_PERMISSION, raise_exception=True)
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = CatalogueSearchForm(
        request.GET or None,
        institutions=[
            row.institution
            for row in queries.connections_for_user(user)
            if row.connection is not None
        ]
        if user.has_perm(VIEW_CONNECTION_PERMISSION)
        else queries.institutions_for(user, VIEW_CATALOGUE_PERMISSION),
    )
    keyword = form.keyword
    live = None
    live_error = ""
    if request.GET.get("live") and form.institution_id is not None:
        try:
            live = services.query_drug_catalogue(
                actor=_actor(request),
                institution_id=form.institution_id,
                keyword=keyword,
                page=_int(request.GET.get("live_page"), 1),
            )
        except ErxError as error:
            live_error = error.message
    elif request.GET.get("live"):
        live_error = "您所在的机构尚未配置处方中心接入，无法查询"
    page = _page(request, queries.catalogue_entries(keyword))
    return render(
        request,
        "erx/console/catalogue.html",
        {
            "breadcrumbs": _crumbs(("药品目录", None)),
            "form": form,
            "page": page,
            "query": urlencode({"q": keyword}) if keyword else "",
            "live": live,
            "live_error": live_error,
            "synced_at": queries.catalogue_synced_at(),
            "can_sync": user.has_perm(SYNC_CATALOGUE_PERMISSION)
            and form.institution_id is not None,
            "sync_institutions": queries.institutions_for(user, SYNC_CATALOGUE_PERMISSION),
        },
    )


def _int(value: Any, default: int) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


@login_required
@permission_required(SYNC_CATALOGUE_PERMISSION, raise_exception=True)
@require_POST
def catalogue_sync(request: HttpRequest) -> HttpResponse:
    allowed = {i.pk for i in queries.institutions_for(request.user, SYNC_CATALOGUE_PERMISSION)}
    institution_id = _int(request.POST.get("institution"), 0)
    if institution_id not in allowed:
        # Only one institution in scope: that one; anything else named is not the caller's.
        if request.POST.get("institution") or len(allowed) != 1:
            raise Http404("机构不存在或不在您的数据范围内")
        institution_id = next(iter(allowed))
    try:
        count = services.sync_drug_catalogue(actor=_actor(request), institution_id=institution_id)
    except ErxError as error:
        messages.error(request, f"同步目录失败：{error.message}")
    else:
        messages.success(request, f"药品目录已同步，共 {count} 种药品")
    return redirect("erx:catalogue")


@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
@require_GET
def pickups(request: HttpRequest) -> HttpResponse:
    form = PickupFilterForm(request.GET or None)
    status = form.cleaned_data.get("status", "") if form.is_valid() else ""
    page = _page(request, queries.pickups_for_user(request.user, status))
    user = request.user
    return render(
        request,
        "erx/console/pickups.html",
        {
            "breadcrumbs": _crumbs(("取药结果", None)),
            "form": form,
            "page": page,
            "rows": _rows(page.object_list),
            "query": urlencode({"status": status}) if status else "",
            "can_refresh": any(user.has_perm(p) for p in REFRESH_PERMISSIONS),
        },
    )


@login_required
@require_GET
def exceptions(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_calls = user.has_perm(VIEW_CALL_PERMISSION)
    can_notifications = user.has_perm(VIEW_NOTIFICATION_PERMISSION)
    if not (can_calls or can_notifications):
        return text_response("您没有查看异常记录的权限", 403)
    rows: Any = queries.calls_for_user(user, failed_only=True) if can_calls else []
    calls = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    notifications = (
        list(queries.notifications_for_user(user, rejected_only=True)[:50])
        if can_notifications
        else []
    )
    return render(
        request,
        "erx/console/exceptions.html",
        {
            "breadcrumbs": _crumbs(("异常记录", None)),
            "page": calls,
            "calls": calls.object_list,
            "notifications": notifications,
            "can_calls": can_calls,
            "can_notifications": can_notifications,
            "can_replay": user.has_perm(REPLAY_PERMISSION),
            "query": "",
        },
    )


@login_required
@permission_required(REPLAY_PERMISSION, raise_exception=True)
@require_POST
def call_replay(request: HttpRequest, pk: int) -> HttpResponse:
    call = queries.get_call_for_user(request.user, pk, REPLAY_PERMISSION)
    try:
        replay = services.replay_call(actor=_actor(request), call_id=call.pk)
    except ErxError as error:
        messages.error(request, f"重放失败：{error.message}")
    else:
        messages.success(
            request, f"已重放 {call.operation} 调用，结果：{replay.get_outcome_display()}"
        )
    return redirect(safe_next(request, reverse("erx:exceptions")))


@login_required
@permission_required(REPLAY_PERMISSION, raise_exception=True)
@require_POST
def notification_replay(request: HttpRequest, pk: int) -> HttpResponse:
    notification = queries.get_notification_for_user(request.user, pk, REPLAY_PERMISSION)
    try:
        done = services.replay_notification(actor=_actor(request), notification_id=notification.pk)
    except ErxError as error:
        messages.error(request, f"重放失败：{error.message}")
    else:
        messages.success(request, f"已重新处理该通知，结果：{done.get_outcome_display()}")
    return redirect(reverse("erx:exceptions"))


# -- RX-C1: connections ---------------------------------------------------------------------


@login_required
@permission_required(VIEW_CONNECTION_PERMISSION, raise_exception=True)
@require_GET
def connections(request: HttpRequest) -> HttpResponse:
    rows = queries.connections_for_user(request.user)
    return render(
        request,
        "erx/console/connections.html",
        {
            "breadcrumbs": _crumbs(("处方中心接入", None)),
            "rows": rows,
            "configured": sum(1 for row in rows if row.connection is not None),
            "enabled": sum(1 for row in rows if row.connection and row.connection.is_enabled),
            "can_test": request.user.has_perm(MANAGE_CONNECTION_PERMISSION),
            "result": request.session.pop("erx_connection_test", None),
        },
    )


@login_required
@permission_required(MANAGE_CONNECTION_PERMISSION, raise_exception=True)
@require_POST
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    connection = queries.get_connection_for_user(request.user, pk, MANAGE_CONNECTION_PERMISSION)
    try:
        result = services.test_connection(
            actor=_actor(request), institution_id=connection.institution_id
        )
    except ErxError as error:
        ok, message, elapsed = False, error.message, 0
    else:
        ok, message, elapsed = result.ok, result.message, result.elapsed_ms
    request.session["erx_connection_test"] = {
        "connection": connection.pk,
        "ok": ok,
        "message": f"{connection.fixmedins_name}：{message}",
        "elapsed_ms": elapsed,
    }
    return redirect("erx:connections")
