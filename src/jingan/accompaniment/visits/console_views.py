"""The visit assistant's staff console: journeys per institution (VA-1), the 26 HIS
connections with their tests (HI-1), rejected messages with replay, and the event
centre's status.

Views parse, call the services and render. Reads go through ``console_queries``
(``.restrict``; out of scope is a 404, no permission a 403); every write is a service
call. A service's refusal becomes a Chinese message on the page, never a stack trace.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.accompaniment.visits import connections, services
from jingan.accompaniment.visits import console_queries as queries
from jingan.accompaniment.visits.console_queries import (
    ADD_TEMPLATE,
    MANAGE_CONNECTION,
    REPLAY_REJECTED,
    VIEW_CENTRE,
    VIEW_CONNECTION,
    VIEW_REJECTED,
    VIEW_TEMPLATE,
)
from jingan.accompaniment.visits.forms import (
    ConnectionFilterForm,
    ConnectionForm,
    DiscardForm,
    JourneyForm,
    RejectedFilterForm,
)
from jingan.accompaniment.visits.models import HisConnection, RejectedMessage
from jingan.core.public import record_event
from jingan.integrations.his.port import DIALECT_TITLES

PAGE_SIZE = 25


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), *tail]


def _query(data: QueryDict, fields: tuple[str, ...]) -> str:
    """The filter part of a query string (no page), for pagination links."""
    return urlencode([(name, data[name]) for name in fields if data.get(name)])


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _institution_label(institution: Any) -> str:
    return str(institution.short_name or institution.name)


# -- journeys (VA-1) ------------------------------------------------------------------------


@login_required
@permission_required(VIEW_TEMPLATE, raise_exception=True)
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    rows = queries.journeys_for_user(user)
    # An institution's own staff have one journey to look at: take them straight to it.
    if len(rows) == 1 and not queries.sees_district(user, VIEW_TEMPLATE):
        return redirect("visits:template", code=rows[0].institution.code)
    return render(
        request,
        "visits/console/templates.html",
        {
            "breadcrumbs": _crumbs(("就诊流程配置", None)),
            "rows": rows,
            "customised": sum(1 for row in rows if not row.current.is_default),
        },
    )


def _template_crumbs(institution: Any, *tail: tuple[str, str | None]) -> list[Any]:
    return _crumbs(("就诊流程配置", "visits:templates"), *tail)


@login_required
@permission_required(VIEW_TEMPLATE, raise_exception=True)
@require_GET
def template_detail(request: HttpRequest, code: str) -> HttpResponse:
    user: Any = request.user
    institution = queries.get_institution_for_user(user, code, VIEW_TEMPLATE)
    versions = queries.journey_versions(institution)
    return render(
        request,
        "visits/console/template_detail.html",
        {
            "breadcrumbs": _template_crumbs(institution, (_institution_label(institution), None)),
            "institution": institution,
            "current": versions[0],
            "versions": versions,
            "can_edit": _may_edit(user, institution),
        },
    )


def _may_edit(user: Any, institution: Any) -> bool:
    return user.has_perm(ADD_TEMPLATE) and any(
        i.pk == institution.pk for i in queries.institutions_for(user, ADD_TEMPLATE)
    )


def _editor(
    request: HttpRequest, institution: Any, form: JourneyForm, *, status: int = 200
) -> HttpResponse:
    current = queries.current_journey(institution)
    return render(
        request,
        "visits/console/template_form.html",
        {
            "breadcrumbs": _template_crumbs(
                institution,
                (_institution_label(institution), None),
                ("修改就诊流程", None),
            ),
            "institution": institution,
            "form": form,
            "rows": form.rows(),
            "current": current,
        },
        status=status,
    )


@login_required
@permission_required(ADD_TEMPLATE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, code: str) -> HttpResponse:
    institution = queries.get_institution_for_user(request.user, code, ADD_TEMPLATE)
    nodes = queries.current_template_nodes(institution)
    if request.method != "POST":
        return _editor(request, institution, JourneyForm(nodes=nodes))
    form = JourneyForm(request.POST, nodes=nodes)
    if not form.is_valid():
        return _editor(request, institution, form, status=422)
    try:
        saved = services.save_node_template(
            actor=request.user,
            institution_id=institution.pk,
            nodes=form.cleaned_nodes,
            note=form.cleaned_data["note"],
        )
    except services.TemplateError as error:
        form.add_error(None, str(error))
        return _editor(request, institution, form, status=422)
    messages.success(
        request, f"已保存为第 {saved.version} 版；此后开始的就诊使用新版本，进行中的就诊不受影响"
    )
    return redirect("visits:template", code=institution.code)


@login_required
@permission_required(VIEW_TEMPLATE, raise_exception=True)
@require_GET
def template_version(request: HttpRequest, code: str, version: int) -> HttpResponse:
    user: Any = request.user
    institution = queries.get_institution_for_user(user, code, VIEW_TEMPLATE)
    shown = queries.get_journey_version(institution, version)
    current = queries.current_journey(institution)
    return render(
        request,
        "visits/console/template_version.html",
        {
            "breadcrumbs": _template_crumbs(
                institution,
                (_institution_label(institution), None),
                (f"第 {shown.version} 版", None),
            ),
            "institution": institution,
            "shown": shown,
            "current": current,
            "can_restore": _may_edit(user, institution)
            and shown.template is not None
            and shown.version != current.version,
        },
    )


@login_required
@permission_required(ADD_TEMPLATE, raise_exception=True)
@require_POST
def template_restore(request: HttpRequest, code: str, version: int) -> HttpResponse:
    institution = queries.get_institution_for_user(request.user, code, ADD_TEMPLATE)
    shown = queries.get_journey_version(institution, version)
    if shown.template is None:
        messages.error(request, "该版本尚未保存，无法恢复")
        return redirect("visits:template", code=institution.code)
    try:
        saved = services.save_node_template(
            actor=request.user,
            institution_id=institution.pk,
            nodes=shown.template.nodes,
            note=f"恢复第 {shown.version} 版",
        )
    except services.TemplateError as error:
        messages.error(request, f"无法恢复第 {shown.version} 版：{error}")
        return redirect("visits:template-version", code=institution.code, version=version)
    messages.success(request, f"已按第 {shown.version} 版内容保存为第 {saved.version} 版")
    return redirect("visits:template", code=institution.code)


# -- HIS connections (HI-1) -------------------------------------------------------------------


def _manageable(user: Any) -> set[int]:
    if not user.has_perm(MANAGE_CONNECTION):
        return set()
    return set(HisConnection.objects.restrict(user, MANAGE_CONNECTION).values_list("pk", flat=True))


@login_required
@permission_required(VIEW_CONNECTION, raise_exception=True)
@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ConnectionFilterForm(request.GET or None)
    rows = queries.connections_for_user(user, form.filters())
    context = {
        "breadcrumbs": _crumbs(("HIS 对接", None)),
        "form": form,
        "rows": rows,
        "summary": queries.connection_summary(user),
        "manageable": _manageable(user),
        "dialects": DIALECT_TITLES,
        "filtered": bool(form.is_bound and any(request.GET.get(n) for n in ("dialect", "circuit"))),
    }
    if _is_htmx(request):
        return render(request, "visits/console/connections.html#connection-table", context)
    return render(request, "visits/console/connections.html", context)


def _connection_row(
    request: HttpRequest, connection: HisConnection, *, notice: dict[str, Any] | None = None
) -> HttpResponse:
    return render(
        request,
        "visits/console/connections.html#connection-row",
        {
            "c": queries.with_last_test(connection),
            "manageable": {connection.pk},
            "dialects": DIALECT_TITLES,
            "notice": notice,
        },
    )


@login_required
@permission_required(MANAGE_CONNECTION, raise_exception=True)
@require_POST
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    connection = queries.get_connection_for_user(request.user, pk, MANAGE_CONNECTION)
    test = connections.test_connection(actor=request.user, connection_id=connection.pk)
    label = _institution_label(connection.institution)
    text = (
        f"{label}：连接测试{'成功' if test.ok else '失败'}，{test.message}（{test.elapsed_ms} ms）"
    )
    if _is_htmx(request):
        connection.refresh_from_db()
        return _connection_row(request, connection, notice={"ok": test.ok, "text": text})
    (messages.success if test.ok else messages.error)(request, text)
    return redirect("visits:connections")


@login_required
@permission_required(MANAGE_CONNECTION, raise_exception=True)
@require_POST
def connection_reset(request: HttpRequest, pk: int) -> HttpResponse:
    connection = queries.get_connection_for_user(request.user, pk, MANAGE_CONNECTION)
    connections.reset_circuit(actor=request.user, connection_id=connection.pk)
    text = f"{_institution_label(connection.institution)}：已恢复轮询"
    if _is_htmx(request):
        connection.refresh_from_db()
        return _connection_row(request, connection, notice={"ok": True, "text": text})
    messages.success(request, text)
    return redirect("visits:connections")


@login_required
@permission_required(MANAGE_CONNECTION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connection = queries.get_connection_for_user(request.user, pk, MANAGE_CONNECTION)
    label = _institution_label(connection.institution)
    status = 200
    if request.method == "POST":
        form = ConnectionForm(request.POST)
        if form.is_valid():
            try:
                connections.update_connection(
                    actor=request.user,
                    connection_id=connection.pk,
                    endpoint=form.cleaned_data["endpoint"],
                    is_enabled=form.cleaned_data["is_enabled"],
                    poll_interval_seconds=form.cleaned_data["poll_interval_seconds"],
                )
            except connections.ConnectionSettingsError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"{label} 的 HIS 对接已保存")
                return redirect("visits:connections")
        status = 422
    else:
        form = ConnectionForm(
            initial={
                "endpoint": connection.endpoint,
                "is_enabled": connection.is_enabled,
                "poll_interval_seconds": connection.poll_interval_seconds,
            }
        )
    return render(
        request,
        "visits/console/connection_form.html",
        {
            "breadcrumbs": _crumbs(("HIS 对接", "visits:connections"), (f"修改 {label}", None)),
            "form": form,
            "c": queries.with_last_test(connection),
            "dialect": DIALECT_TITLES.get(connection.institution.his_dialect, ""),
        },
        status=status,
    )


# -- rejected messages ------------------------------------------------------------------------

_REJECTED_FILTERS = ("status", "channel", "institution")


@login_required
@permission_required(VIEW_REJECTED, raise_exception=True)
@require_GET
def rejected_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = RejectedFilterForm(
        request.GET or None, institutions=queries.institutions_for(user, VIEW_REJECTED)
    )
    page = Paginator(queries.rejected_for_user(user, form.filters()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "visits/console/rejected.html",
        {
            "breadcrumbs": _crumbs(("被拒消息", None)),
            "form": form,
            "page": page,
            "rows": [
                {
                    "m": row,
                    "channel": queries.channel_title(row.channel),
                    "colour": queries.REJECTED_COLOURS.get(row.status, "secondary"),
                }
                for row in page.object_list
            ],
            "counts": queries.rejected_status_counts(user),
            "query": _query(request.GET, _REJECTED_FILTERS),
            "filtered": any(request.GET.get(n) for n in _REJECTED_FILTERS),
        },
    )


def _rejected_page(
    request: HttpRequest,
    message: RejectedMessage,
    *,
    revealed: bool = False,
    discard_form: DiscardForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user: Any = request.user
    may_act = (
        user.has_perm(REPLAY_REJECTED)
        and RejectedMessage.objects.restrict(user, REPLAY_REJECTED).filter(pk=message.pk).exists()
    )
    return render(
        request,
        "visits/console/rejected_detail.html",
        {
            "breadcrumbs": _crumbs(("被拒消息", "visits:rejected"), (f"消息 #{message.pk}", None)),
            "m": message,
            "channel": queries.channel_title(message.channel),
            "colour": queries.REJECTED_COLOURS.get(message.status, "secondary"),
            "raw": message.raw
            if revealed
            else queries.mask_raw_message(message.channel, message.raw),
            "revealed": revealed,
            "may_reveal": may_act,
            "may_act": may_act and message.status == RejectedMessage.Status.PENDING,
            "discard_form": discard_form or DiscardForm(),
        },
        status=status,
    )


@login_required
@permission_required(VIEW_REJECTED, raise_exception=True)
@require_GET
def rejected_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _rejected_page(request, queries.get_rejected_for_user(request.user, pk))


@login_required
@permission_required(REPLAY_REJECTED, raise_exception=True)
@require_POST
def rejected_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """The original message, for whoever must fix and replay it; every reveal is audited."""
    message = queries.get_rejected_for_user(request.user, pk, REPLAY_REJECTED)
    with transaction.atomic():
        record_event(
            action="visits.rejected_raw_read",
            actor=request.user,  # type: ignore[arg-type]
            object_type="visits.rejectedmessage",
            object_id=str(message.pk),
            institution_id=message.institution_id,
            detail={"what": f"被拒 HIS 消息 #{message.pk} 的原始报文（{message.channel}）"},
            request=request,
        )
    return _rejected_page(request, message, revealed=True)


@login_required
@permission_required(REPLAY_REJECTED, raise_exception=True)
@require_POST
def rejected_replay(request: HttpRequest, pk: int) -> HttpResponse:
    message = queries.get_rejected_for_user(request.user, pk, REPLAY_REJECTED)
    outcome = services.replay_rejected(actor=request.user, rejected_id=message.pk)
    if outcome.ok:
        messages.success(request, f"重放成功：{outcome.message}")
    else:
        messages.error(request, f"重放未成功：{outcome.message}")
    return redirect("visits:rejected-detail", pk=message.pk)


@login_required
@permission_required(REPLAY_REJECTED, raise_exception=True)
@require_POST
def rejected_discard(request: HttpRequest, pk: int) -> HttpResponse:
    message = queries.get_rejected_for_user(request.user, pk, REPLAY_REJECTED)
    if message.status != RejectedMessage.Status.PENDING:
        messages.error(request, "该消息已处理，不能再忽略")
        return redirect("visits:rejected-detail", pk=message.pk)
    form = DiscardForm(request.POST)
    if not form.is_valid():
        return _rejected_page(request, message, discard_form=form, status=422)
    try:
        services.discard_rejected(
            actor=request.user, rejected_id=message.pk, note=form.cleaned_data["note"]
        )
    except services.TemplateError as error:
        form.add_error("note", str(error))
        return _rejected_page(request, message, discard_form=form, status=422)
    messages.success(request, f"消息 #{message.pk} 已忽略")
    return redirect(reverse("visits:rejected-detail", kwargs={"pk": message.pk}))


# -- the event centre -------------------------------------------------------------------------


@login_required
@permission_required(VIEW_CENTRE, raise_exception=True)
@require_GET
def centre(request: HttpRequest) -> HttpResponse:
    status = queries.centre_status(request.user)
    return render(
        request,
        "visits/console/centre.html",
        {
            "breadcrumbs": _crumbs(("事件中心", None)),
            "status": status,
            "chart": {
                "labels": [label for label, _ in status.per_minute],
                "values": [count for _, count in status.per_minute],
            },
        },
    )
