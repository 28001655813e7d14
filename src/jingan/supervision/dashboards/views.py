"""The public-account dashboards (SP-1 … SP-7): registrations and real name, active users,
module visits.

Every figure comes from the indicator store through ``indicators.queries`` (scoped to the
viewer); a page never queries the lake. Each dashboard is built once as a ``Dashboard``
(KPI cards, chart specifications, tables) so that the page, its charts (one generic
script reading a ``json_script`` block) and its Excel export show the same numbers.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.db.models import Min
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jingan.core.public import record_event
from jingan.lib.exports import XLSX_CONTENT_TYPE, Sheet, write_xlsx_sheets
from jingan.supervision.datasets import AGE_GROUPS, MODULES
from jingan.supervision.indicators import queries
from jingan.supervision.indicators.catalogue import dimension_label
from jingan.supervision.models import IndicatorValue

VIEW = "supervision.view_indicatorvalue"
PRESETS = {"30": "近30天", "90": "近90天", "365": "近一年", "custom": "自定义"}
GRAINS = {"day": "按日", "month": "按月"}
# Long custom ranges make unreadable day charts and slow pages; two years covers a
# year-on-year comparison.
MAX_DAYS = 731
# Shown even when zero; other codes (未知, 未说明) only when someone falls in them.
MAIN_GENDERS = ("1", "2")


def _crumbs(title: str) -> list[tuple[str, str | None]]:
    return [("工作台", "web:console-home"), (title, None)]


# -- the period form ---------------------------------------------------------------------


def _select() -> forms.Select:
    return forms.Select(attrs={"class": "form-select"})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d")


class PeriodForm(forms.Form):
    """近30天/近90天/近一年 end on the newest data day; 自定义 takes both dates."""

    period = forms.ChoiceField(label="统计期间", choices=list(PRESETS.items()), widget=_select())
    start = forms.DateField(label="开始日期", required=False, widget=_date())
    end = forms.DateField(label="结束日期", required=False, widget=_date())
    grain = forms.ChoiceField(label="趋势粒度", choices=list(GRAINS.items()), widget=_select())
    institution = forms.ChoiceField(label="医疗机构", required=False, widget=_select())

    def __init__(
        self,
        data: Any,
        *,
        newest: datetime.date,
        with_grain: bool = False,
        institutions: Sequence[Any] = (),
    ) -> None:
        super().__init__(data)
        self.newest = newest
        if not with_grain:
            del self.fields["grain"]
        if institutions:
            cast(forms.ChoiceField, self.fields["institution"]).choices = [("", "全部机构")] + [
                (i.code, f"{i.code} {i.short_name or i.name}") for i in institutions
            ]
            self.institutions = {i.code: i for i in institutions}
        else:
            del self.fields["institution"]
            self.institutions = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        period = data.get("period")
        if period == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("自定义期间请填写开始日期和结束日期")
            if start > end:
                raise forms.ValidationError("开始日期不能晚于结束日期")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"统计期间最长 {MAX_DAYS} 天，请缩短时间范围")
        elif period:
            data["end"] = self.newest
            data["start"] = self.newest - datetime.timedelta(days=int(period) - 1)
        return data

    @property
    def selected_institution(self) -> Any:
        return self.institutions.get(self.cleaned_data.get("institution") or "")


# -- what a dashboard is made of ---------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = True


@dataclass
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def cells(self) -> list[dict[str, Any]]:
        """Rows as the template walks them: the row key and (column, shown value) pairs."""
        return [
            {
                "key": row["key"],
                "cells": [(column, _shown(row.get(column.key))) for column in self.columns],
            }
            for row in self.rows
        ]


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float | None
    unit: str
    icon: str
    tone: str

    @property
    def shown(self) -> str:
        return _shown(self.value)


@dataclass(frozen=True)
class Freshness:
    data_through: datetime.date | None
    # The first period any of the page's indicators has a value for: before it the
    # charts show a gap, not zeros.
    computed_at: datetime.datetime | None
    is_stale: bool
    errors: tuple[str, ...]
    data_from: datetime.date | None = None


@dataclass
class Dashboard:
    slug: str
    title: str
    start: datetime.date
    end: datetime.date
    scope: str
    freshness: Freshness
    kpis: list[Kpi] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    has_data: bool = False
    notes: list[str] = field(default_factory=list)

    def chart_data(self) -> dict[str, Any]:
        return {"charts": self.charts}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value)}"
        return f"{value:.2f}"
    return str(value)


def _number(value: float | None) -> float | int | None:
    """A JSON-friendly number: counts as integers, so charts and exports show 12 not 12.0."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 4)


# -- reading the store ---------------------------------------------------------------------


def _dimensions(point: Any) -> dict[str, str]:
    value = point.dimensions
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return {str(k): str(v) for k, v in (value or {}).items()}


def _series(
    user: Any,
    code: str,
    grain: str,
    start: datetime.date,
    end: datetime.date,
    *,
    dimensions_key: str = "",
    institution: Any = None,
) -> list[Any]:
    return list(
        queries.series(
            user,
            code,
            grain=grain,
            start=start,
            end=end,
            dimensions_key=dimensions_key,
            institution=institution,
        )
    )


def _by_day(points: Iterable[Any]) -> dict[datetime.date, float]:
    return {point.period_start: point.value for point in points}


def _days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


def _month_starts(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return months


def _filled(
    values: dict[datetime.date, float],
    periods: list[datetime.date],
    since: datetime.date | None,
    through: datetime.date | None,
) -> list[float | None]:
    """A count missing on a day the data covers is a zero (a module nobody opened that
    day has no row); before the data starts and after it ends it is unknown: a gap."""
    if since is not None and periods and all(period.day == 1 for period in periods):
        since = since.replace(day=1)  # month periods: the month the data starts in
    filled: list[float | None] = []
    for period in periods:
        if period in values:
            filled.append(values[period])
        elif through is not None and period <= through and (since is None or period >= since):
            filled.append(0.0)
        else:
            filled.append(None)
    return filled


def _freshness(codes: Sequence[str]) -> Freshness:
    states = [queries.freshness(code) for code in codes]
    through = [s.data_through for s in states if s is not None and s.data_through]
    runs = [s.last_run_at for s in states if s is not None and s.last_run_at]
    errors = tuple(
        f"{code}：{s.last_error}"
        for code, s in zip(codes, states, strict=True)
        if s and s.last_error
    )
    data_through = min(through) if len(through) == len(states) else None
    stale_days = int(cast(dict[str, Any], settings.SUPERVISION).get("feed_stale_days", 2))
    stale = (
        data_through is None
        or (timezone.localdate() - data_through).days > stale_days
        or bool(errors)
    )
    # Only a date, over every institution: it tells where the series start, nothing more.
    data_from = (
        IndicatorValue.objects.unscoped()
        .filter(indicator__in=list(codes), grain="day")
        .aggregate(first=Min("period_start"))["first"]
    )
    return Freshness(data_through, max(runs) if runs else None, stale, errors, data_from)


def newest_day(codes: Sequence[str]) -> datetime.date:
    """Where the preset periods end: the newest day any of the page's indicators covers."""
    through = [
        state.data_through
        for state in (queries.freshness(code) for code in codes)
        if state is not None and state.data_through
    ]
    return max(through) if through else timezone.localdate()


def _latest(points: Iterable[Any], on_or_before: datetime.date) -> Any:
    eligible = [p for p in points if p.period_start <= on_or_before]
    return max(eligible, key=lambda p: p.period_start) if eligible else None


def _value_on(points: Iterable[Any], day: datetime.date) -> float | None:
    return next((p.value for p in points if p.period_start == day), None)


def _axis_chart(
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[dict[str, Any]],
    *,
    unit: str = "",
) -> dict[str, Any]:
    return {
        "id": chart_id,
        "kind": "axis",
        "categories": list(categories),
        "series": [dict(s, data=[_number(v) for v in s["data"]]) for s in series],
        "unit": unit,
    }


# -- 注册与实名 (SP-1, SP-2, SP-3) ----------------------------------------------------------

REGISTRATION_CODES = (
    "pa_registered_daily",
    "pa_registered_cumulative",
    "pa_realname_daily",
    "pa_realname_cumulative",
    "pa_registered_monthly",
    "pa_realname_monthly",
    "pa_realname_by_gender",
    "pa_realname_by_age_group",
    "pa_manual_review_submitted",
    "pa_manual_review_handled",
    "pa_manual_review_pending",
)


def _structure(user: Any, code: str, dimension: str, end: datetime.date) -> dict[str, float]:
    """A period-grain breakdown as of ``end``: the newest period that starts by then."""
    points = _series(
        user, code, "period", datetime.date(1900, 1, 1), end, dimensions_key=f"{dimension}=*"
    )
    if not points:
        return {}
    newest = max(p.period_start for p in points)
    return {_dimensions(p).get(dimension, ""): p.value for p in points if p.period_start == newest}


def registrations_dashboard(
    user: Any, *, start: datetime.date, end: datetime.date, grain: str
) -> Dashboard:
    freshness = _freshness(REGISTRATION_CODES)
    board = Dashboard("registrations", "注册与实名", start, end, "全区", freshness)
    through = freshness.data_through
    since = freshness.data_from
    day = {
        code: _series(user, code, "day", start, end)
        for code in (
            "pa_registered_daily",
            "pa_realname_daily",
            "pa_registered_cumulative",
            "pa_realname_cumulative",
            "pa_manual_review_submitted",
            "pa_manual_review_handled",
            "pa_manual_review_pending",
        )
    }
    cumulative_registered = _latest(day["pa_registered_cumulative"], end)
    cumulative_realname = _latest(day["pa_realname_cumulative"], end)
    board.kpis = [
        Kpi(
            "registered_cumulative",
            "累计注册",
            cumulative_registered.value if cumulative_registered else None,
            "人",
            "users",
            "blue",
        ),
        Kpi(
            "realname_cumulative",
            "累计实名",
            cumulative_realname.value if cumulative_realname else None,
            "人",
            "id-badge-2",
            "green",
        ),
        Kpi(
            "registered_day",
            f"{end:%m-%d} 注册",
            _value_on(day["pa_registered_daily"], end),
            "人",
            "user-plus",
            "azure",
        ),
        Kpi(
            "realname_day",
            f"{end:%m-%d} 实名",
            _value_on(day["pa_realname_daily"], end),
            "人",
            "user-check",
            "teal",
        ),
    ]

    if grain == "month":
        periods = _month_starts(start, end)
        registered = _by_day(_series(user, "pa_registered_monthly", "month", periods[0], end))
        realname = _by_day(_series(user, "pa_realname_monthly", "month", periods[0], end))
        labels = [f"{p:%Y-%m}" for p in periods]
    else:
        periods = _days(start, end)
        registered = _by_day(day["pa_registered_daily"])
        realname = _by_day(day["pa_realname_daily"])
        labels = [f"{p:%Y-%m-%d}" for p in periods]
    registered_values = _filled(registered, periods, since, through)
    realname_values = _filled(realname, periods, since, through)
    board.charts.append(
        _axis_chart(
            "chart-trend",
            labels,
            [
                {"name": "注册人数", "type": "line", "colour": "blue", "data": registered_values},
                {"name": "实名人数", "type": "line", "colour": "green", "data": realname_values},
            ],
            unit="人",
        )
    )
    board.tables["trend"] = Table(
        "trend",
        f"注册与实名趋势（{GRAINS[grain]}）",
        (
            Column("period", "周期", False),
            Column("registered", "注册人数"),
            Column("realname", "实名人数"),
        ),
        [
            {"key": label, "period": label, "registered": _number(r), "realname": _number(n)}
            for label, r, n in zip(labels, registered_values, realname_values, strict=True)
        ],
    )

    gender = _structure(user, "pa_realname_by_gender", "gender", end)
    gender_rows = [
        {"key": code, "label": dimension_label("gender", code), "count": _number(value)}
        for code, value in sorted(gender.items())
        if code in MAIN_GENDERS or value
    ]
    board.charts.append(
        {
            "id": "chart-gender",
            "kind": "pie",
            "data": [{"name": r["label"], "value": r["count"]} for r in gender_rows],
            "unit": "人",
        }
    )
    board.tables["gender"] = Table(
        "gender",
        "实名用户性别结构",
        (Column("label", "性别", False), Column("count", "人数")),
        gender_rows,
    )

    ages = _structure(user, "pa_realname_by_age_group", "age_group", end)
    groups = [name for name, _, _ in AGE_GROUPS]
    # Every age group is shown once there is any data (an empty group reads as 0); ages
    # the ID number could not give ("unknown") only when someone falls there.
    order = groups + sorted(name for name in set(ages) - set(groups) if ages[name])
    age_rows: list[dict[str, Any]] = [
        {
            "key": name,
            "label": dimension_label("age_group", name),
            "count": _number(ages.get(name, 0.0)),
        }
        for name in (order if ages else [])
    ]
    board.charts.append(
        _axis_chart(
            "chart-age",
            [r["label"] for r in age_rows],
            [
                {
                    "name": "实名人数",
                    "type": "bar",
                    "colour": "indigo",
                    "data": [r["count"] for r in age_rows],
                }
            ],
            unit="人",
        )
    )
    board.tables["age"] = Table(
        "age",
        "实名用户年龄结构",
        (Column("label", "年龄组", False), Column("count", "人数")),
        age_rows,
    )

    days = _days(start, end)
    submitted = _filled(_by_day(day["pa_manual_review_submitted"]), days, since, through)
    handled = _filled(_by_day(day["pa_manual_review_handled"]), days, since, through)
    # Pending is a level, not a count of events: a missing day is unknown, not zero.
    pending_by_day = _by_day(day["pa_manual_review_pending"])
    pending = [pending_by_day.get(d) for d in days]
    day_labels = [f"{d:%Y-%m-%d}" for d in days]
    board.charts.append(
        _axis_chart(
            "chart-review",
            day_labels,
            [
                {"name": "提交", "type": "bar", "colour": "azure", "data": submitted},
                {"name": "已处理", "type": "bar", "colour": "green", "data": handled},
                {"name": "待处理", "type": "line", "colour": "orange", "data": pending},
            ],
            unit="件",
        )
    )
    board.tables["review"] = Table(
        "review",
        "人工审核",
        (
            Column("day", "日期", False),
            Column("submitted", "提交"),
            Column("handled", "已处理"),
            Column("pending", "日终待处理"),
        ),
        [
            {
                "key": label,
                "day": label,
                "submitted": _number(s),
                "handled": _number(h),
                "pending": _number(p),
            }
            for label, s, h, p in zip(day_labels, submitted, handled, pending, strict=True)
        ],
    )
    board.has_data = any(day.values()) or bool(gender) or bool(ages) or bool(registered)
    return board


# -- 活跃用户 (SP-4, SP-5, SP-6) -------------------------------------------------------------

ACTIVITY_CODES = ("pa_dau", "pa_mau", "pa_active_30d", "pa_sessions_daily")


def activity_dashboard(user: Any, *, start: datetime.date, end: datetime.date) -> Dashboard:
    freshness = _freshness(ACTIVITY_CODES)
    board = Dashboard("activity", "活跃用户", start, end, "全区", freshness)
    through = freshness.data_through
    since = freshness.data_from
    days = _days(start, end)
    labels = [f"{d:%Y-%m-%d}" for d in days]
    dau_points = _series(user, "pa_dau", "day", start, end)
    active_points = _series(user, "pa_active_30d", "day", start, end)
    session_points = _series(user, "pa_sessions_daily", "day", start, end)
    months = _month_starts(start, end)
    mau_points = _series(user, "pa_mau", "month", months[0], end)

    dau = _filled(_by_day(dau_points), days, since, through)
    # A rolling window is a level: a missing day is unknown rather than zero.
    active_by_day = _by_day(active_points)
    active = [active_by_day.get(d) for d in days]
    sessions = _filled(_by_day(session_points), days, since, through)
    mau_by_month = _by_day(mau_points)
    mau = _filled(mau_by_month, months, since, through)
    month_labels = [f"{m:%Y-%m}" for m in months]

    board.kpis = [
        Kpi("dau", f"{end:%m-%d} 日活跃", _value_on(dau_points, end), "人", "user-bolt", "blue"),
        Kpi(
            "active_30d",
            f"截至 {end:%m-%d} 近30日活跃",
            _value_on(active_points, end),
            "人",
            "users-group",
            "teal",
        ),
        Kpi(
            "mau",
            f"{end:%Y-%m} 月活跃",
            mau_by_month.get(end.replace(day=1)),
            "人",
            "calendar-user",
            "indigo",
        ),
        Kpi(
            "sessions",
            f"{end:%m-%d} 访问次数",
            _value_on(session_points, end),
            "次",
            "click",
            "orange",
        ),
    ]
    board.charts.append(
        _axis_chart(
            "chart-dau",
            labels,
            [
                {"name": "日活跃用户（DAU）", "type": "line", "colour": "blue", "data": dau},
                {"name": "近30日活跃用户", "type": "line", "colour": "teal", "data": active},
            ],
            unit="人",
        )
    )
    board.charts.append(
        _axis_chart(
            "chart-mau",
            month_labels,
            [{"name": "月活跃用户（MAU）", "type": "bar", "colour": "indigo", "data": mau}],
            unit="人",
        )
    )
    board.charts.append(
        _axis_chart(
            "chart-sessions",
            labels,
            [{"name": "访问次数", "type": "bar", "colour": "orange", "data": sessions}],
            unit="次",
        )
    )
    board.tables["daily"] = Table(
        "daily",
        "每日活跃用户",
        (
            Column("day", "日期", False),
            Column("dau", "日活跃用户"),
            Column("active_30d", "近30日活跃用户"),
        ),
        [
            {"key": label, "day": label, "dau": _number(d), "active_30d": _number(a)}
            for label, d, a in zip(labels, dau, active, strict=True)
        ],
    )
    board.tables["sessions"] = Table(
        "sessions",
        "每日访问次数",
        (Column("day", "日期", False), Column("sessions", "访问次数")),
        [
            {"key": label, "day": label, "sessions": _number(s)}
            for label, s in zip(labels, sessions, strict=True)
        ],
    )
    board.tables["monthly"] = Table(
        "monthly",
        "月活跃用户",
        (Column("month", "月份", False), Column("mau", "月活跃用户")),
        [
            {"key": label, "month": label, "mau": _number(m)}
            for label, m in zip(month_labels, mau, strict=True)
        ],
    )
    if months[0] < start:
        board.notes.append(f"月活跃按自然月统计，{months[0]:%Y-%m} 含所选期间之前的日期。")
    board.has_data = bool(dau_points or active_points or session_points or mau_points)
    return board


# -- 模块访问 (SP-7) --------------------------------------------------------------------------

MODULE_CODES = ("pa_module_visits", "pa_module_visitors", "pa_module_visits_by_institution")


def module_institutions(user: Any) -> list[Any]:
    """The institutions the viewer may filter by: those in their scope, by code."""
    institution_model = apps.get_model("institutions", "Institution")
    return list(
        institution_model.objects.restrict(user, VIEW).filter(is_active=True).order_by("code")
    )


def _sees_district(user: Any) -> bool:
    # District rows carry no institution; restrict() leaves them to district-wide users.
    return (
        IndicatorValue.objects.restrict(user, VIEW)
        .filter(indicator__in=MODULE_CODES[:2], institution__isnull=True)
        .exists()
    )


def modules_dashboard(
    user: Any, *, start: datetime.date, end: datetime.date, institution: Any = None
) -> Dashboard:
    freshness = _freshness(MODULE_CODES)
    by_institution = institution is not None or not _sees_district(user)
    scope = "全区"
    if institution is not None:
        scope = institution.short_name or institution.name
    elif by_institution:
        scope = "本机构"
    board = Dashboard("modules", "模块访问", start, end, scope, freshness)
    through = freshness.data_through
    since = freshness.data_from
    days = _days(start, end)
    labels = [f"{d:%Y-%m-%d}" for d in days]

    visits: dict[str, dict[datetime.date, float]] = {code: {} for code in MODULES}
    visitors: dict[str, dict[datetime.date, float]] | None = None
    if by_institution:
        points = _series(
            user,
            "pa_module_visits_by_institution",
            "day",
            start,
            end,
            dimensions_key="institution=*",
            institution=institution,
        )
        for point in points:
            module = _dimensions(point).get("module", "")
            per_day = visits.setdefault(module, {})
            per_day[point.period_start] = per_day.get(point.period_start, 0.0) + point.value
        board.notes.append(
            "按机构统计时只含带机构信息的模块访问（如门诊预约、住院服务），访问人数不按机构拆分。"
        )
    else:
        points = _series(user, "pa_module_visits", "day", start, end, dimensions_key="module=*")
        for point in points:
            visits.setdefault(_dimensions(point).get("module", ""), {})[point.period_start] = (
                point.value
            )
        visitors = {code: {} for code in MODULES}
        visitor_points = _series(
            user, "pa_module_visitors", "day", start, end, dimensions_key="module=*"
        )
        for point in visitor_points:
            visitors.setdefault(_dimensions(point).get("module", ""), {})[point.period_start] = (
                point.value
            )
        points = points + visitor_points
        board.notes.append(
            "日均访问人数：各日去重访问人数的平均（同一人在不同日期访问按日各计一次）。"
        )

    names = {code: MODULES.get(code, code) for code in visits}
    totals: list[tuple[str, float, float | None]] = []
    for code in visits:
        per_day = visitors.get(code, {}) if visitors is not None else {}
        mean = sum(per_day.values()) / len(per_day) if per_day else None
        totals.append((code, sum(visits[code].values()), mean))
    top = max(totals, key=lambda t: t[1]) if totals else None
    board.kpis = [
        Kpi("visits", "期间访问人次", sum(t[1] for t in totals), "人次", "click", "blue"),
        Kpi(
            "top_module",
            f"访问最多：{names[top[0]]}" if top and top[1] else "访问最多的模块",
            top[1] if top and top[1] else None,
            "人次",
            "trophy",
            "orange",
        ),
    ]
    series: list[dict[str, Any]] = [
        {"name": "访问人次", "type": "bar", "colour": "blue", "data": [t[1] for t in totals]}
    ]
    columns = [Column("module", "模块", False), Column("visits", "访问人次（期间合计）")]
    if visitors is not None:
        series.append(
            {
                "name": "日均访问人数",
                "type": "bar",
                "colour": "teal",
                "axis": 1,
                "data": [t[2] for t in totals],
            }
        )
        columns.append(Column("visitors", "日均访问人数"))
    chart = _axis_chart("chart-modules", [names[t[0]] for t in totals], series, unit="人次")
    chart["secondUnit"] = "人/日"
    board.charts.append(chart)
    board.tables["modules"] = Table(
        "modules",
        "各模块访问",
        tuple(columns),
        [
            {"key": code, "module": names[code], "visits": _number(v), "visitors": _number(m)}
            for code, v, m in totals
        ],
    )
    daily = {code: _filled(visits[code], days, since, through) for code in visits}
    board.charts.append(
        _axis_chart(
            "chart-module-trend",
            labels,
            [{"name": names[code], "type": "line", "data": daily[code]} for code in visits],
            unit="人次",
        )
    )
    board.tables["module_trend"] = Table(
        "module_trend",
        "各模块每日访问人次",
        (Column("day", "日期", False), *(Column(code, names[code]) for code in visits)),
        [
            {"key": label, "day": label, **{code: _number(daily[code][n]) for code in visits}}
            for n, label in enumerate(labels)
        ],
    )
    board.has_data = bool(points)
    return board


# -- pages and exports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    codes: tuple[str, ...]
    build: Callable[[Any, PeriodForm], Dashboard]
    with_grain: bool = False
    with_institution: bool = False


PAGES = {
    "registrations": Page(
        "registrations",
        "注册与实名",
        REGISTRATION_CODES,
        lambda user, form: registrations_dashboard(
            user,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            grain=form.cleaned_data["grain"],
        ),
        with_grain=True,
    ),
    "activity": Page(
        "activity",
        "活跃用户",
        ACTIVITY_CODES,
        lambda user, form: activity_dashboard(
            user, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
        ),
    ),
    "modules": Page(
        "modules",
        "模块访问",
        MODULE_CODES,
        lambda user, form: modules_dashboard(
            user,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            institution=form.selected_institution,
        ),
        with_institution=True,
    ),
}


def _form(page: Page, user: Any, data: QueryDict | None) -> PeriodForm:
    bound: Any = data if data and "period" in data else {"period": "30", "grain": "day"}
    return PeriodForm(
        bound,
        newest=newest_day(page.codes),
        with_grain=page.with_grain,
        institutions=module_institutions(user) if page.with_institution else (),
    )


def _render(request: HttpRequest, page: Page) -> HttpResponse:
    form = _form(page, request.user, request.GET)
    board = page.build(request.user, form) if form.is_valid() else None
    return render(
        request,
        "supervision/dashboards/dashboard.html",
        {
            "breadcrumbs": _crumbs(page.title),
            "page": page,
            "form": form,
            "board": board,
            "freshness": board.freshness if board else _freshness(page.codes),
            "chart_data": board.chart_data() if board and board.has_data else None,
            "export_url": f"supervision:dashboard-{page.slug}-export",
        },
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def registrations_page(request: HttpRequest) -> HttpResponse:
    return _render(request, PAGES["registrations"])


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def activity_page(request: HttpRequest) -> HttpResponse:
    return _render(request, PAGES["activity"])


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def modules_page(request: HttpRequest) -> HttpResponse:
    return _render(request, PAGES["modules"])


def export_dashboard(*, actor: Any, board: Dashboard, request: HttpRequest | None = None) -> bytes:
    """The dashboard's tables as a workbook, one sheet each; audited.

    The store holds aggregates only (no names, ID numbers or account ids), so there is
    nothing personal left to mask; small counts stay as they are, as on the page.
    """
    freshness = board.freshness
    notes = (
        f"统计期间：{board.start:%Y-%m-%d} 至 {board.end:%Y-%m-%d}",
        f"统计范围：{board.scope}",
        "数据截至："
        + (f"{freshness.data_through:%Y-%m-%d}" if freshness.data_through else "尚无数据"),
        f"导出时间：{timezone.localtime():%Y-%m-%d %H:%M}",
    )
    sheets = [
        Sheet(
            table.title,
            [column.title for column in table.columns],
            [
                [_number(row.get(c.key)) if c.numeric else row.get(c.key) for c in table.columns]
                for row in table.rows
            ],
            notes if index == 0 else (),
        )
        for index, table in enumerate(board.tables.values())
    ]
    content = write_xlsx_sheets(sheets)
    with transaction.atomic():
        record_event(
            action="supervision.dashboard.export",
            actor=actor,
            object_type="supervision.indicatorvalue",
            detail={
                "dashboard": board.slug,
                "start": board.start.isoformat(),
                "end": board.end.isoformat(),
                "scope": board.scope,
                "rows": sum(len(t.rows) for t in board.tables.values()),
            },
            request=request,
        )
    return content


def _export(request: HttpRequest, page: Page) -> HttpResponse:
    form = _form(page, request.user, request.POST)
    if not form.is_valid():
        errors = "；".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, "导出条件有误：" + errors)
        return redirect(f"supervision:dashboard-{page.slug}")
    board = page.build(request.user, form)
    content = export_dashboard(actor=request.user, board=board, request=request)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="supervision-{page.slug}-{stamp}.xlsx"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def registrations_export(request: HttpRequest) -> HttpResponse:
    return _export(request, PAGES["registrations"])


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def activity_export(request: HttpRequest) -> HttpResponse:
    return _export(request, PAGES["activity"])


@login_required
@permission_required(VIEW, raise_exception=True)
@require_POST
def modules_export(request: HttpRequest) -> HttpResponse:
    return _export(request, PAGES["modules"])
