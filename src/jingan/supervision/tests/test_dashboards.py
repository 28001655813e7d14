"""The public-account dashboards (SP-1 … SP-7) show exactly what the indicator store holds.

The store rows are written here directly (the indicator runner has its own tests); the
expected figures are worked out in plain Python from the same rows.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone
from openpyxl import load_workbook

from jingan.supervision.models import IndicatorState, IndicatorValue

D = datetime.date
END = D(2026, 3, 31)
CENTRAL = "310106001"
ZHABEI = "310106002"


def _institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


def put(
    code: str,
    day: D,
    value: float,
    *,
    grain: str = "day",
    institution: str | None = None,
    **dimensions: str,
) -> None:
    if institution is not None:
        dimensions = {"institution": institution, **dimensions}
    IndicatorValue.objects.create(
        indicator=code,
        grain=grain,
        period_start=day,
        dimensions_key="|".join(f"{k}={dimensions[k]}" for k in sorted(dimensions)),
        dimensions=json.dumps(dimensions),
        institution=_institution(institution) if institution else None,
        value=value,
        computed_at=timezone.now(),
    )


def fresh(codes: tuple[str, ...], through: D = END) -> None:
    for code in codes:
        IndicatorState.objects.update_or_create(
            indicator=code,
            defaults={"data_through": through, "last_run_at": timezone.now(), "last_error": ""},
        )


def days(start: D, end: D) -> list[D]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


def page_data(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="supervision-dashboard-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no chart data on the page"
    charts = json.loads(match.group(1))["charts"]
    return {chart["id"]: chart for chart in charts}


def cells(response: Any, table: str) -> dict[str, dict[str, str]]:
    """A rendered table as {row key: {column key: shown text}}."""
    html = response.content.decode()
    body = re.search(rf'<table[^>]*id="table-{table}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no table {table}"
    rows = {}
    for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body.group(1), re.S):
        rows[key] = dict(re.findall(r'<td[^>]*data-col="([^"]+)">([^<]*)</td>', row))
    return rows


def kpi(response: Any, key: str) -> str:
    match = re.search(rf'data-kpi="{key}">([^<]*)<', response.content.decode())
    assert match, f"no KPI {key}"
    return match.group(1)


@pytest.fixture
def regulator(make_staff: Callable[..., Any]) -> Any:
    return make_staff("regulator", roles=("district_regulator",))


# -- registrations and real name -----------------------------------------------------------

REGISTRATION_DAYS = days(D(2026, 3, 25), END)
REGISTERED = [5, 0, 7, 3, 9, 2, 4]  # per day of REGISTRATION_DAYS
REALNAME = [2, 1, 0, 3, 4, 1, 2]
BASE_REGISTERED, BASE_REALNAME = 100, 40


@pytest.fixture
def registrations(db: None) -> None:
    registered_total, realname_total = BASE_REGISTERED, BASE_REALNAME
    for day, registered, realname in zip(REGISTRATION_DAYS, REGISTERED, REALNAME, strict=True):
        registered_total += registered
        realname_total += realname
        put("pa_registered_daily", day, registered)
        put("pa_realname_daily", day, realname)
        put("pa_registered_cumulative", day, registered_total)
        put("pa_realname_cumulative", day, realname_total)
        put("pa_manual_review_submitted", day, 1)
        put("pa_manual_review_handled", day, day.day % 2)
        put("pa_manual_review_pending", day, 10 - day.day % 3)
    put("pa_registered_monthly", D(2026, 2, 1), 80, grain="month")
    put("pa_registered_monthly", D(2026, 3, 1), sum(REGISTERED) + 11, grain="month")
    put("pa_realname_monthly", D(2026, 2, 1), 30, grain="month")
    put("pa_realname_monthly", D(2026, 3, 1), sum(REALNAME), grain="month")
    # The period-grain structure is stored per day (as of that day); the page takes the
    # newest one by the end of the range.
    for day, men, women in ((D(2026, 3, 30), 20, 25), (END, 22, 28)):
        put("pa_realname_by_gender", day, men, grain="period", gender="1")
        put("pa_realname_by_gender", day, women, grain="period", gender="2")
        put("pa_realname_by_gender", day, 0, grain="period", gender="9")
    put("pa_realname_by_age_group", END, 6, grain="period", age_group="18-44")
    put("pa_realname_by_age_group", END, 3, grain="period", age_group="60-79")
    put("pa_realname_by_age_group", END, 1, grain="period", age_group="unknown")
    put("pa_realname_by_age_group", END, 0, grain="period", age_group="80+")
    from jingan.supervision.dashboards.views import REGISTRATION_CODES

    fresh(REGISTRATION_CODES)


def _registrations(client: Any, **query: str) -> Any:
    response = client.get("/console/supervision/registrations/", query)
    assert response.status_code == 200
    return response


@pytest.mark.req("SP-1")
@pytest.mark.req("SP-3")
def test_registrations_show_the_store_values_for_a_custom_period(
    registrations: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    response = _registrations(
        client_for(regulator), period="custom", start="2026-03-27", end="2026-03-30", grain="day"
    )
    # Cumulative as of the last day of the range (the 30th), the day figures of that day.
    assert kpi(response, "registered_cumulative") == str(BASE_REGISTERED + sum(REGISTERED[:6]))
    assert kpi(response, "realname_cumulative") == str(BASE_REALNAME + sum(REALNAME[:6]))
    assert kpi(response, "registered_day") == str(REGISTERED[5])
    assert kpi(response, "realname_day") == str(REALNAME[5])
    trend = cells(response, "trend")
    expected = {
        f"{day:%Y-%m-%d}": {"period": f"{day:%Y-%m-%d}", "registered": str(r), "realname": str(n)}
        for day, r, n in zip(REGISTRATION_DAYS, REGISTERED, REALNAME, strict=True)
        if D(2026, 3, 27) <= day <= D(2026, 3, 30)
    }
    assert trend == expected
    chart = page_data(response)["chart-trend"]
    assert chart["categories"] == list(expected)
    assert chart["series"][0]["data"] == REGISTERED[2:6]
    assert chart["series"][1]["data"] == REALNAME[2:6]
    assert 'data-field="data-through">2026-03-31<' in response.content.decode()


@pytest.mark.req("SP-3")
def test_the_month_grain_reads_the_monthly_indicators(
    registrations: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    response = _registrations(
        client_for(regulator), period="custom", start="2026-02-10", end="2026-03-31", grain="month"
    )
    assert cells(response, "trend") == {
        "2026-02": {"period": "2026-02", "registered": "80", "realname": "30"},
        "2026-03": {
            "period": "2026-03",
            "registered": str(sum(REGISTERED) + 11),
            "realname": str(sum(REALNAME)),
        },
    }


@pytest.mark.req("SP-2")
def test_real_name_structure_and_manual_review(
    registrations: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    response = _registrations(
        client_for(regulator), period="custom", start="2026-03-29", end="2026-03-31", grain="day"
    )
    # The newest structure by the 31st; 未说明 is left out while nobody falls in it.
    assert cells(response, "gender") == {
        "1": {"label": "男", "count": "22"},
        "2": {"label": "女", "count": "28"},
    }
    assert page_data(response)["chart-gender"]["data"] == [
        {"name": "男", "value": 22},
        {"name": "女", "value": 28},
    ]
    assert cells(response, "age") == {
        "0-6": {"label": "0-6岁", "count": "0"},
        "7-17": {"label": "7-17岁", "count": "0"},
        "18-44": {"label": "18-44岁", "count": "6"},
        "45-59": {"label": "45-59岁", "count": "0"},
        "60-79": {"label": "60-79岁", "count": "3"},
        "80+": {"label": "80+岁", "count": "0"},
        "unknown": {"label": "未知", "count": "1"},
    }
    review = cells(response, "review")
    assert review == {
        f"{day:%Y-%m-%d}": {
            "day": f"{day:%Y-%m-%d}",
            "submitted": "1",
            "handled": str(day.day % 2),
            "pending": str(10 - day.day % 3),
        }
        for day in days(D(2026, 3, 29), END)
    }
    # As of the 30th the structure is the one stored for the 30th.
    earlier = _registrations(
        client_for(regulator), period="custom", start="2026-03-29", end="2026-03-30", grain="day"
    )
    assert cells(earlier, "gender")["1"]["count"] == "20"


@pytest.mark.req("SP-3")
def test_the_period_picker_changes_the_range(
    registrations: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(regulator)
    # Presets end on the newest data day, not on today.
    thirty = _registrations(client, period="30", grain="day")
    assert list(cells(thirty, "trend")) == [f"{d:%Y-%m-%d}" for d in days(D(2026, 3, 2), END)]
    # Before the first stored day the data is unknown: a gap, not a zero.
    assert cells(thirty, "trend")["2026-03-02"]["registered"] == "—"
    ninety = _registrations(client, period="90", grain="day")
    assert len(cells(ninety, "trend")) == 90
    default = _registrations(client)
    assert len(cells(default, "trend")) == 30
    bad = _registrations(client, period="custom", start="2026-03-30", end="2026-03-01", grain="day")
    assert "开始日期不能晚于结束日期" in bad.content.decode()
    assert b"supervision-dashboard-data" not in bad.content
    missing = _registrations(client, period="custom", grain="day")
    assert "自定义期间请填写开始日期和结束日期" in missing.content.decode()


# -- active users ----------------------------------------------------------------------------


@pytest.mark.req("SP-4")
@pytest.mark.req("SP-5")
@pytest.mark.req("SP-6")
def test_active_users_show_dau_mau_rolling_and_sessions(
    db: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    span = days(D(2026, 2, 26), D(2026, 3, 3))
    dau = {day: 100 + n * 7 for n, day in enumerate(span)}
    rolling = {day: 900 + n for n, day in enumerate(span)}
    sessions = {day: 2 * dau[day] + 1 for day in span}
    for day in span:
        put("pa_dau", day, dau[day])
        put("pa_active_30d", day, rolling[day])
        put("pa_sessions_daily", day, sessions[day])
    put("pa_mau", D(2026, 2, 1), 1500, grain="month")
    put("pa_mau", D(2026, 3, 1), 1300, grain="month")
    fresh(("pa_dau", "pa_mau", "pa_active_30d", "pa_sessions_daily"), through=D(2026, 3, 3))
    response = client_for(regulator).get(
        "/console/supervision/activity/",
        {"period": "custom", "start": "2026-02-27", "end": "2026-03-02"},
    )
    shown = [day for day in span if D(2026, 2, 27) <= day <= D(2026, 3, 2)]
    assert kpi(response, "dau") == str(dau[D(2026, 3, 2)])
    assert kpi(response, "active_30d") == str(rolling[D(2026, 3, 2)])
    assert kpi(response, "mau") == "1300"
    assert kpi(response, "sessions") == str(sessions[D(2026, 3, 2)])
    assert cells(response, "daily") == {
        f"{d:%Y-%m-%d}": {
            "day": f"{d:%Y-%m-%d}",
            "dau": str(dau[d]),
            "active_30d": str(rolling[d]),
        }
        for d in shown
    }
    assert cells(response, "sessions") == {
        f"{d:%Y-%m-%d}": {"day": f"{d:%Y-%m-%d}", "sessions": str(sessions[d])} for d in shown
    }
    assert cells(response, "monthly") == {
        "2026-02": {"month": "2026-02", "mau": "1500"},
        "2026-03": {"month": "2026-03", "mau": "1300"},
    }
    charts = page_data(response)
    assert charts["chart-dau"]["series"][0]["data"] == [dau[d] for d in shown]
    assert charts["chart-dau"]["series"][1]["data"] == [rolling[d] for d in shown]
    assert charts["chart-mau"]["series"][0]["data"] == [1500, 1300]
    assert charts["chart-sessions"]["series"][0]["data"] == [sessions[d] for d in shown]


# -- module visits ---------------------------------------------------------------------------

MODULE_DAYS = days(D(2026, 3, 29), END)


@pytest.fixture
def module_visits(db: None) -> dict[str, Any]:
    visits = {
        ("outpatient_booking", MODULE_DAYS[0]): 30,
        ("outpatient_booking", MODULE_DAYS[1]): 40,
        ("outpatient_booking", MODULE_DAYS[2]): 20,
        ("drug_lookup", MODULE_DAYS[0]): 5,
        ("drug_lookup", MODULE_DAYS[2]): 7,
    }
    visitors = {
        ("outpatient_booking", MODULE_DAYS[0]): 12,
        ("outpatient_booking", MODULE_DAYS[1]): 15,
        ("outpatient_booking", MODULE_DAYS[2]): 9,
        ("drug_lookup", MODULE_DAYS[0]): 3,
        ("drug_lookup", MODULE_DAYS[2]): 4,
    }
    for (module, day), value in visits.items():
        put("pa_module_visits", day, value, module=module)
    for (module, day), value in visitors.items():
        put("pa_module_visitors", day, value, module=module)
    # The day totals (no module) must not count as a module.
    for day in MODULE_DAYS:
        put("pa_module_visits", day, 999)
    by_institution = {
        (CENTRAL, "outpatient_booking", MODULE_DAYS[0]): 18,
        (CENTRAL, "outpatient_booking", MODULE_DAYS[2]): 11,
        (CENTRAL, "inpatient_service", MODULE_DAYS[1]): 4,
        (ZHABEI, "outpatient_booking", MODULE_DAYS[0]): 12,
    }
    for (institution, module, day), value in by_institution.items():
        put("pa_module_visits_by_institution", day, value, institution=institution, module=module)
    from jingan.supervision.dashboards.views import MODULE_CODES

    fresh(MODULE_CODES)
    return {"visits": visits, "visitors": visitors, "by_institution": by_institution}


def _modules(client: Any, **query: str) -> Any:
    response = client.get(
        "/console/supervision/modules/",
        {"period": "custom", "start": "2026-03-29", "end": "2026-03-31", **query},
    )
    assert response.status_code == 200
    return response


@pytest.mark.req("SP-7")
def test_module_visits_and_visitors_per_module(
    module_visits: dict[str, Any], regulator: Any, client_for: Callable[..., Any]
) -> None:
    from jingan.supervision.datasets import MODULES

    response = _modules(client_for(regulator))
    table = cells(response, "modules")
    assert list(table) == list(MODULES)
    for module in MODULES:
        visits = [v for (m, _), v in module_visits["visits"].items() if m == module]
        visitors = [v for (m, _), v in module_visits["visitors"].items() if m == module]
        assert table[module]["visits"] == str(sum(visits))
        mean = sum(visitors) / len(visitors) if visitors else None
        assert table[module]["visitors"] == (
            "—" if mean is None else (str(int(mean)) if mean.is_integer() else f"{mean:.2f}")
        )
    assert table["outpatient_booking"] == {
        "module": "门诊预约",
        "visits": "90",
        "visitors": "12",
    }
    assert table["drug_lookup"]["visitors"] == "3.50"
    assert kpi(response, "visits") == "102"
    trend = cells(response, "module_trend")
    assert trend["2026-03-30"]["drug_lookup"] == "0"
    assert trend["2026-03-30"]["outpatient_booking"] == "40"
    chart = page_data(response)["chart-module-trend"]
    assert [s["name"] for s in chart["series"]] == list(MODULES.values())


@pytest.mark.req("SP-7")
def test_the_institution_filter_shows_that_institution_only(
    module_visits: dict[str, Any], regulator: Any, client_for: Callable[..., Any]
) -> None:
    response = _modules(client_for(regulator), institution=CENTRAL)
    table = cells(response, "modules")
    assert table["outpatient_booking"] == {"module": "门诊预约", "visits": "29"}
    assert table["inpatient_service"] == {"module": "住院服务", "visits": "4"}
    assert table["drug_lookup"] == {"module": "药品查询", "visits": "0"}
    assert "范围：静安区中心医院" in response.content.decode()
    unknown = _modules(client_for(regulator), institution="999999999")
    assert "supervision-dashboard-data" not in unknown.content.decode()


@pytest.mark.req("SP-7")
def test_an_institution_admin_sees_only_their_institution(
    module_visits: dict[str, Any], make_staff: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    admin = make_staff(
        "zhabei-admin", roles=("institution_admin",), institution=_institution(ZHABEI)
    )
    client = client_for(admin)
    response = _modules(client)
    table = cells(response, "modules")
    assert table["outpatient_booking"] == {"module": "门诊预约", "visits": "12"}
    assert sum(int(row["visits"]) for row in table.values()) == 12
    html = response.content.decode()
    # The filter offers only their own institution; another one is refused by the form.
    assert f'value="{ZHABEI}"' in html
    assert f'value="{CENTRAL}"' not in html
    other = _modules(client, institution=CENTRAL)
    assert "supervision-dashboard-data" not in other.content.decode()
    # The district dashboards hold district rows only: empty for them.
    registrations = client.get("/console/supervision/registrations/")
    assert "尚无数据：请先运行采集" in registrations.content.decode()


# -- freshness, empty state, export ----------------------------------------------------------


@pytest.mark.req("SB-4")
def test_freshness_and_the_empty_state(
    db: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(regulator)
    response = client.get("/console/supervision/activity/")
    html = response.content.decode()
    assert "尚无数据：请先运行采集" in html
    assert 'id="freshness-stale"' in html
    assert "尚未计算" in html
    today = timezone.localdate()
    put("pa_dau", today - datetime.timedelta(days=1), 5)
    fresh(
        ("pa_dau", "pa_mau", "pa_active_30d", "pa_sessions_daily"),
        through=today - datetime.timedelta(days=1),
    )
    html = client.get("/console/supervision/activity/").content.decode()
    assert "尚无数据" not in html
    assert 'id="freshness-stale"' not in html
    assert f'data-field="data-through">{today - datetime.timedelta(days=1):%Y-%m-%d}<' in html


@pytest.mark.req("SP-1")
@pytest.mark.req("SP-2")
def test_the_export_holds_the_tables_and_is_audited(
    registrations: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    AuditEntry = apps.get_model("audit", "AuditEntry")
    response = client_for(regulator).post(
        "/console/supervision/registrations/export/",
        {"period": "custom", "start": "2026-03-30", "end": "2026-03-31", "grain": "day"},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(
        'attachment; filename="supervision-registrations-'
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "注册与实名趋势（按日）",
        "实名用户性别结构",
        "实名用户年龄结构",
        "人工审核",
    ]
    trend = [list(row) for row in book["注册与实名趋势（按日）"].iter_rows(values_only=True)]
    assert trend[0][0] == "统计期间：2026-03-30 至 2026-03-31"
    assert trend[1][0] == "统计范围：全区"
    assert trend[4:] == [
        ["周期", "注册人数", "实名人数"],
        ["2026-03-30", REGISTERED[5], REALNAME[5]],
        ["2026-03-31", REGISTERED[6], REALNAME[6]],
    ]
    gender = [list(row) for row in book["实名用户性别结构"].iter_rows(values_only=True)]
    assert gender == [["性别", "人数"], ["男", 22], ["女", 28]]
    # Aggregates only: no account ids, names or ID numbers anywhere in the workbook.
    text = " ".join(
        str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
    )
    assert not re.search(r"\d{17}[\dX]", text)
    entry = AuditEntry.objects.get(action="supervision.dashboard.export")
    assert entry.actor_username == "regulator"
    detail = entry.detail_data
    assert detail["dashboard"] == "registrations"
    assert detail["start"] == "2026-03-30"
    assert detail["rows"] == 2 + 2 + 7 + 2
