"""The supervision console: alert inbox and rules (SB-5), run history and 按日重跑 (SB-6,
SB-7), the exchange register (SB-2) and the indicator catalogue (SB-4).

Views parse, call the services and render. Alerts are institution-scoped: every read
goes through ``.restrict`` and anything outside the caller's scope is a 404.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingan.core.public import get_for_user, users_with_permission
from jingan.supervision import pipeline
from jingan.supervision.alerts import services as alert_services
from jingan.supervision.datasets import DATASETS
from jingan.supervision.indicators import catalogue, queries, runner
from jingan.supervision.models import (
    Alert,
    AlertRule,
    AlertState,
    ExchangeFile,
    ExchangeState,
    JobKind,
    JobRun,
    JobStatus,
)

logger = logging.getLogger(__name__)

VIEW_ALERT = "supervision.view_alert"
HANDLE_ALERT = "supervision.handle_alert"
VIEW_RULE = "supervision.view_alertrule"
CHANGE_RULE = "supervision.change_alertrule"
VIEW_RUN = "supervision.view_jobrun"
RERUN = "supervision.rerun_jobrun"
VIEW_EXCHANGE = "supervision.view_exchangefile"
PAGE_SIZE = 25
SEVERITY_COLOURS = {"critical": "red", "warning": "orange", "info": "azure"}
STATE_COLOURS = {"open": "red", "acknowledged": "yellow", "resolved": "green"}
STATUS_COLOURS = {"running": "blue", "succeeded": "green", "partial": "yellow", "failed": "red"}
EXCHANGE_COLOURS = {"inbox": "blue", "accepted": "green", "quarantined": "red"}
# Errors the alert services raise for a refused step; each carries its Chinese reason.
_REFUSED = (ValueError, ValidationError, PermissionDenied)


def _crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), *tail]


def _select(choices: list[tuple[str, str]], label: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=[("", "全部"), *choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def _date(label: str, *, required: bool = False) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d"),
    )


def _query(data: QueryDict, names: tuple[str, ...], *, without: tuple[str, ...] = ()) -> str:
    return urlencode([(n, data[n]) for n in names if data.get(n) and n not in without])


def _form_error(form: forms.Form) -> str:
    return "；".join(str(error) for errors in form.errors.values() for error in errors)


# -- 预警中心 (SB-5) ---------------------------------------------------------------------------


class AlertFilterForm(forms.Form):
    severity = _select(list(AlertRule.Severity.choices), "级别")
    kind = _select(list(AlertRule.Kind.choices), "规则类型")
    q = forms.CharField(
        label="关键词",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "标题或规则"}),
    )


_ALERT_FILTERS = ("state", "severity", "kind", "q")


def _alerts_for(user: Any) -> Any:
    return Alert.objects.restrict(user, VIEW_ALERT).select_related(
        "rule", "institution", "assignee"
    )


@login_required
@permission_required(VIEW_ALERT, raise_exception=True)
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    alerts = _alerts_for(request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["severity"]:
            alerts = alerts.filter(severity=data["severity"])
        if data["kind"]:
            alerts = alerts.filter(rule__kind=data["kind"])
        if data["q"]:
            alerts = alerts.filter(
                Q(title__icontains=data["q"]) | Q(rule__code__icontains=data["q"])
            )
    state = request.GET.get("state", AlertState.OPEN)
    if state not in AlertState.values:
        state = AlertState.OPEN
    base = _query(request.GET, _ALERT_FILTERS, without=("state",))
    tabs = [
        {
            "code": code,
            "label": label,
            "colour": STATE_COLOURS[code],
            "count": alerts.filter(state=code).count(),
            "query": f"{base}{'&' if base else ''}state={code}",
            "active": code == state,
        }
        for code, label in AlertState.choices
    ]
    page = Paginator(alerts.filter(state=state), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "supervision/console/alerts.html",
        {
            "breadcrumbs": _crumbs(("预警中心", None)),
            "form": form,
            "tabs": tabs,
            "page": page,
            "query": _query(request.GET, _ALERT_FILTERS),
            "severity_colours": SEVERITY_COLOURS,
            "can_view_rules": request.user.has_perm(VIEW_RULE),
        },
    )


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="处理说明",
        max_length=500,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
        error_messages={"required": "请填写处理说明"},
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label="处理记录",
        max_length=1000,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
        error_messages={"required": "请填写处理记录"},
    )


def _handlers_for(alert: Alert) -> list[Any]:
    """Who may take the alert: holders of handle_alert whose scope covers it."""
    return users_with_permission(HANDLE_ALERT, institution_id=alert.institution_id)


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(
        label="处理人", coerce=int, widget=forms.Select(attrs={"class": "form-select"})
    )

    def __init__(self, *args: Any, handlers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            (user.pk, f"{getattr(user, 'display_name', '') or user.username}（{user.username}）")
            for user in handlers
        ]


@login_required
@permission_required(VIEW_ALERT, raise_exception=True)
@require_GET
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_for_user(_alerts_for(request.user), request.user, VIEW_ALERT, pk=pk)
    can_handle = request.user.has_perm(HANDLE_ALERT)
    change = None
    if alert.value is not None and alert.baseline:
        change = (alert.value - alert.baseline) / alert.baseline * 100
    return render(
        request,
        "supervision/console/alert_detail.html",
        {
            "breadcrumbs": _crumbs(("预警中心", "supervision:alerts"), (alert.title, None)),
            "alert": alert,
            "change": change,
            "comments": list(alert.comments.select_related("author")),
            "can_handle": can_handle,
            "can_view_catalogue": request.user.has_perm(VIEW_RUN),
            "severity_colour": SEVERITY_COLOURS.get(alert.severity, "secondary"),
            "state_colour": STATE_COLOURS.get(alert.state, "secondary"),
            "assign_form": AssignForm(
                initial={"assignee": alert.assignee_id},
                handlers=_handlers_for(alert) if can_handle else [],
            ),
            "resolve_form": ResolveForm(),
            "comment_form": CommentForm(),
        },
    )


def _acknowledge(request: HttpRequest, alert: Alert) -> str:
    alert_services.acknowledge_alert(actor=request.user, alert_id=alert.pk)
    return "已确认该预警"


def _resolve(request: HttpRequest, alert: Alert) -> str:
    form = ResolveForm(request.POST)
    if not form.is_valid():
        raise ValueError(_form_error(form))
    alert_services.resolve_alert(
        actor=request.user, alert_id=alert.pk, note=form.cleaned_data["note"]
    )
    return "已解决该预警"


def _assign(request: HttpRequest, alert: Alert) -> str:
    form = AssignForm(request.POST, handlers=_handlers_for(alert))
    if not form.is_valid():
        raise ValueError("请选择有预警处理权限的处理人")
    alert_services.assign_alert(
        actor=request.user, alert_id=alert.pk, assignee_id=form.cleaned_data["assignee"]
    )
    return "已指派处理人"


def _comment(request: HttpRequest, alert: Alert) -> str:
    form = CommentForm(request.POST)
    if not form.is_valid():
        raise ValueError(_form_error(form))
    alert_services.comment_alert(
        actor=request.user, alert_id=alert.pk, body=form.cleaned_data["body"]
    )
    return "已添加处理记录"


ALERT_ACTIONS = {
    "acknowledge": _acknowledge,
    "resolve": _resolve,
    "assign": _assign,
    "comment": _comment,
}


@login_required
@permission_required(HANDLE_ALERT, raise_exception=True)
@require_POST
def alert_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    handler = ALERT_ACTIONS.get(action)
    if handler is None:
        raise Http404("没有这个操作")
    # Out of scope is a 404 before the form is looked at.
    alert = get_for_user(Alert.objects, request.user, HANDLE_ALERT, pk=pk)
    try:
        done = handler(request, alert)
    except _REFUSED as error:
        messages.error(request, _reason(error))
    else:
        messages.success(request, done)
    return redirect("supervision:alert", pk=alert.pk)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "；".join(error.messages)
    return str(error) or "操作未完成"


# -- 预警规则 --------------------------------------------------------------------------------


class RuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ("threshold", "baseline_days", "cooldown_minutes", "severity", "is_enabled")
        widgets = {
            "threshold": forms.NumberInput(attrs={"class": "form-control", "step": "any"}),
            "baseline_days": forms.NumberInput(attrs={"class": "form-control", "min": 1}),
            "cooldown_minutes": forms.NumberInput(attrs={"class": "form-control", "min": 0}),
            "severity": forms.Select(attrs={"class": "form-select"}),
            "is_enabled": forms.CheckboxInput(attrs={"class": "form-check-input"}),
        }

    def clean_threshold(self) -> float:
        value = self.cleaned_data["threshold"]
        if self.instance.kind == AlertRule.Kind.RELATIVE and not 0 < value < 10:
            raise forms.ValidationError("相对基线的阈值是变化比例，例如 0.3 表示 30%")
        if self.instance.kind == AlertRule.Kind.FRESHNESS and value < 1:
            raise forms.ValidationError("数据断供阈值是天数，至少 1 天")
        return float(value)

    def clean_baseline_days(self) -> int:
        value = int(self.cleaned_data["baseline_days"])
        if value < 1:
            raise forms.ValidationError("基线天数至少 1 天")
        return value


@login_required
@permission_required(VIEW_RULE, raise_exception=True)
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "supervision/console/rules.html",
        {
            "breadcrumbs": _crumbs(("预警中心", "supervision:alerts"), ("预警规则", None)),
            "rules": AlertRule.objects.all(),
            "can_change": request.user.has_perm(CHANGE_RULE),
            "severity_colours": SEVERITY_COLOURS,
        },
    )


@login_required
@permission_required(VIEW_RULE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    if request.method == "POST":
        if not request.user.has_perm(CHANGE_RULE):
            raise PermissionDenied("您没有修改预警规则的权限")
        form = RuleForm(request.POST, instance=rule)
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in RuleForm.Meta.fields}
            alert_services.update_alert_rule(
                actor=request.user, rule_id=rule.pk, changes=changes, request=request
            )
            messages.success(request, f"预警规则 {rule.name} 已保存")
            return redirect("supervision:rules")
    else:
        form = RuleForm(instance=rule)
    return render(
        request,
        "supervision/console/rule_edit.html",
        {
            "breadcrumbs": _crumbs(
                ("预警中心", "supervision:alerts"),
                ("预警规则", "supervision:rules"),
                (rule.name, None),
            ),
            "rule": rule,
            "form": form,
            "can_change": request.user.has_perm(CHANGE_RULE),
        },
    )


# -- 作业运行 (SB-6, SB-7) ---------------------------------------------------------------------


class RunFilterForm(forms.Form):
    kind = _select(list(JobKind.choices), "作业类型")
    status = _select(list(JobStatus.choices), "状态")
    target = forms.CharField(
        label="作业对象",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "数据集或指标"}),
    )
    day = _date("数据日期")


_RUN_FILTERS = ("kind", "status", "target", "day")


class RerunForm(forms.Form):
    day = _date("重跑日期", required=True)

    def clean_day(self) -> datetime.date:
        day: datetime.date = self.cleaned_data["day"]
        if day >= timezone.localdate():
            raise forms.ValidationError("只能重跑已经结束的日期（今天之前）")
        return day


@login_required
@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET or None)
    runs = JobRun.objects.select_related("actor")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["kind"]:
            runs = runs.filter(kind=data["kind"])
        if data["status"]:
            runs = runs.filter(status=data["status"])
        if data["target"]:
            runs = runs.filter(target__icontains=data["target"])
        if data["day"]:
            runs = runs.filter(day=data["day"])
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "supervision/console/runs.html",
        {
            "breadcrumbs": _crumbs(("作业运行", None)),
            "form": form,
            "page": page,
            "rows": [{"run": run, "detail": detail_json(run)} for run in page.object_list],
            "query": _query(request.GET, _RUN_FILTERS),
            "status_colours": STATUS_COLOURS,
            "can_rerun": request.user.has_perm(RERUN),
            "rerun_form": RerunForm(
                initial={"day": timezone.localdate() - datetime.timedelta(days=1)}
            ),
        },
    )


@login_required
@permission_required(RERUN, raise_exception=True)
@require_POST
def run_rerun(request: HttpRequest) -> HttpResponse:
    form = RerunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "无法重跑：" + _form_error(form))
        return redirect("supervision:runs")
    day = form.cleaned_data["day"]
    # rerun_day writes the audit row (success or failure) itself.
    try:
        runs = pipeline.rerun_day(day, actor=request.user)
    except Exception as error:
        logger.exception("manual re-run of %s failed", day)
        messages.error(request, f"{day:%Y-%m-%d} 重跑失败：{error}")
        return redirect(f"{reverse('supervision:runs')}?day={day.isoformat()}")
    failed = [run for run in runs if run.status == JobStatus.FAILED]
    summary = f"{day:%Y-%m-%d} 已重跑 {len(runs)} 个作业"
    if failed:
        messages.warning(request, f"{summary}，其中 {len(failed)} 个失败，请查看错误信息")
    else:
        messages.success(request, summary)
    return redirect(f"{reverse('supervision:runs')}?day={day.isoformat()}")


# -- 数据交换 (SB-2) ---------------------------------------------------------------------------


class ExchangeFilterForm(forms.Form):
    state = _select(list(ExchangeState.choices), "状态")
    dataset = _select([(d.name, f"{d.title}（{d.name}）") for d in DATASETS], "数据集")
    day = _date("数据日期")


_EXCHANGE_FILTERS = ("state", "dataset", "day")


@login_required
@permission_required(VIEW_EXCHANGE, raise_exception=True)
@require_GET
def exchange_list(request: HttpRequest) -> HttpResponse:
    form = ExchangeFilterForm(request.GET or None)
    files = ExchangeFile.objects.all()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["state"]:
            files = files.filter(state=data["state"])
        if data["dataset"]:
            files = files.filter(dataset=data["dataset"])
        if data["day"]:
            files = files.filter(day=data["day"])
    page = Paginator(files, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "supervision/console/exchange.html",
        {
            "breadcrumbs": _crumbs(("数据交换", None)),
            "form": form,
            "page": page,
            "query": _query(request.GET, _EXCHANGE_FILTERS),
            "state_colours": EXCHANGE_COLOURS,
            "titles": {d.name: d.title for d in DATASETS},
        },
    )


# -- 指标目录 (SB-4) ---------------------------------------------------------------------------


def _generated_sql(indicator: Any, through: datetime.date | None) -> str:
    """The SQL the runner executes, shown for the last 30 days of data."""
    end = through or timezone.localdate()
    return str(runner.sql_for(indicator, start=end - datetime.timedelta(days=29), end=end))


@login_required
@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def catalogue_page(request: HttpRequest) -> HttpResponse:
    rows = []
    for indicator in catalogue.INDICATORS:
        state = queries.freshness(indicator.code)
        through = state.data_through if state is not None else None
        rows.append(
            {
                "indicator": indicator,
                "dimensions": "、".join(indicator.dimensions) or "—",
                "datasets": "、".join(indicator.datasets),
                "state": state,
                "sql": _generated_sql(indicator, through),
            }
        )
    return render(
        request,
        "supervision/console/catalogue.html",
        {"breadcrumbs": _crumbs(("指标目录", None)), "rows": rows},
    )


def detail_json(run: JobRun) -> str:
    """A run's detail JSON, pretty-printed for the run list's collapsible block."""
    try:
        return json.dumps(json.loads(run.detail or "{}"), ensure_ascii=False, indent=2)
    except ValueError:
        return run.detail
