"""A regulator opens the three public-account dashboards in a real browser, on a desktop
and on a phone: every chart draws (an ECharts canvas), nothing errors."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from jingan.supervision.dashboards.views import ACTIVITY_CODES, MODULE_CODES, REGISTRATION_CODES
from jingan.supervision.datasets import AGE_GROUPS, MODULES
from jingan.supervision.tests.test_dashboards import CENTRAL, ZHABEI, fresh, put
from jingan.testing.browser import DESKTOP, PHONE, screenshot

pytestmark = [pytest.mark.browser]

DAYS = 120


def _small_store(end: datetime.date) -> None:
    """Four months of plausible small-scale values (weekly rhythm, slow growth)."""
    registered_total, realname_total = 5_000.0, 3_000.0
    start = end - datetime.timedelta(days=DAYS - 1)
    monthly: dict[tuple[str, datetime.date], float] = {}
    for n in range(DAYS):
        day = start + datetime.timedelta(days=n)
        weekday = 0.6 if day.weekday() >= 5 else 1.0
        registered = round((40 + n / 6) * weekday + 6 * math.sin(n))
        realname = round(registered * 0.6)
        registered_total += registered
        realname_total += realname
        dau = round((900 + 3 * n) * weekday)
        month = day.replace(day=1)
        monthly[("r", month)] = monthly.get(("r", month), 0) + registered
        monthly[("n", month)] = monthly.get(("n", month), 0) + realname
        put("pa_registered_daily", day, registered)
        put("pa_realname_daily", day, realname)
        put("pa_registered_cumulative", day, registered_total)
        put("pa_realname_cumulative", day, realname_total)
        put("pa_manual_review_submitted", day, 3 + n % 4)
        put("pa_manual_review_handled", day, 3 + (n + 1) % 4)
        put("pa_manual_review_pending", day, 5 + n % 3)
        put("pa_dau", day, dau)
        put("pa_active_30d", day, dau * 6)
        put("pa_sessions_daily", day, round(dau * 1.4))
        for index, module in enumerate(MODULES):
            visits = max(0, round(dau * (0.3 - index * 0.025)))
            put("pa_module_visits", day, visits, module=module)
            put("pa_module_visitors", day, round(visits * 0.7), module=module)
        put(
            "pa_module_visits_by_institution",
            day,
            round(dau * 0.05),
            institution=CENTRAL,
            module="outpatient_booking",
        )
        put(
            "pa_module_visits_by_institution",
            day,
            round(dau * 0.03),
            institution=ZHABEI,
            module="outpatient_booking",
        )
    for (kind, month), value in monthly.items():
        code = "pa_registered_monthly" if kind == "r" else "pa_realname_monthly"
        put(code, month, value, grain="month")
        if kind == "r":
            put("pa_mau", month, value * 9, grain="month")
    put("pa_realname_by_gender", end, round(realname_total * 0.46), grain="period", gender="1")
    put(
        "pa_realname_by_gender",
        end,
        realname_total - round(realname_total * 0.46),
        grain="period",
        gender="2",
    )
    shares = (0.04, 0.08, 0.38, 0.25, 0.2, 0.05)
    for (name, _, _), share in zip(AGE_GROUPS, shares, strict=True):
        put(
            "pa_realname_by_age_group",
            end,
            round(realname_total * share),
            grain="period",
            age_group=name,
        )
    fresh(REGISTRATION_CODES + ACTIVITY_CODES + MODULE_CODES, through=end)


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": base_url}])


def _charts_drawn(page: Any, ids: tuple[str, ...]) -> None:
    for chart_id in ids:
        page.wait_for_selector(f"#{chart_id} canvas")
        size = page.evaluate(
            f"() => {{ const c = document.querySelector('#{chart_id} canvas');"
            " return [c.width, c.height]; }"
        )
        assert size[0] > 100, chart_id
        assert size[1] > 100, chart_id


PAGES = (
    ("registrations", ("chart-trend", "chart-gender", "chart-age", "chart-review")),
    ("activity", ("chart-dau", "chart-mau", "chart-sessions")),
    ("modules", ("chart-modules", "chart-module-trend")),
)


@pytest.mark.req("SP-1")
@pytest.mark.req("SP-4")
@pytest.mark.req("SP-7")
@pytest.mark.parametrize(("device", "size"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_regulator_opens_the_public_account_dashboards(
    device: str,
    size: dict[str, Any],
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    end = timezone.localdate() - datetime.timedelta(days=1)
    _small_store(end)
    regulator = make_staff("regulator", roles=("district_regulator",))
    page, problems = open_page(**size)
    _signed_in(page, client_for(regulator), live_server_url)
    for slug, charts in PAGES:
        page.goto(f"{live_server_url}/console/supervision/{slug}/?period=90&grain=day")
        _charts_drawn(page, charts)
        assert page.locator("#freshness-stale").count() == 0
        assert page.locator("[data-field=data-through]").inner_text() == f"{end:%Y-%m-%d}"
        if device == "phone":
            # Wide tables scroll inside their own box; nothing else may stick out.
            wide = page.evaluate(
                "() => [...document.querySelectorAll('body *')]"
                ".filter(e => !e.closest('.table-responsive'))"
                ".filter(e => e.getBoundingClientRect().right > 376)"
                ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
            )
            assert wide == [], wide
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        screenshot(page, f"supervision-{slug}-{device}", full_page=True)
    # The picker drives the page: 近30天 via the form.
    page.goto(f"{live_server_url}/console/supervision/registrations/")
    page.get_by_label("统计期间").select_option("365")
    page.get_by_label("趋势粒度").select_option("month")
    page.get_by_role("button", name="查询").click()
    _charts_drawn(page, ("chart-trend",))
    assert page.locator("#table-trend tbody tr").count() >= 4
    assert problems.errors == []


@pytest.mark.req("SB-1", "SP-1", "SP-4")
def test_dashboards_show_what_came_through_the_whole_pipeline(
    settings: Any,
    tmp_path: Any,
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    """Feed simulator → exchange → raw → clean → indicators → page, on the tiny demo."""
    import pyarrow.parquet as pq

    from jingan.supervision import demo
    from jingan.supervision.lake import store

    settings.SUPERVISION = {
        **settings.SUPERVISION,
        "lake_dir": tmp_path / "lake",
        "exchange_dir": tmp_path / "exchange",
    }
    demo.load_supervision_data("tiny", lambda _: None)
    days = demo.demo_days("tiny")
    # Independently of the indicator SQL: registrations the source delivered up to the
    # last day, minus those deregistered by then, read straight from the raw partitions.
    end = days[-1]
    registered = 0
    for day in days:
        rows = pq.read_table(store.partition_path("raw", "pa_registrations", day)).to_pylist()
        registered += sum(
            1
            for row in rows
            if row["deregistered_at"] is None or row["deregistered_at"].date() > end
        )
    regulator = make_staff("regulator", roles=("district_regulator",))
    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(regulator), live_server_url)
    page.goto(f"{live_server_url}/console/supervision/registrations/?period=30&grain=day")
    _charts_drawn(page, ("chart-trend", "chart-gender", "chart-age", "chart-review"))
    assert page.locator("[data-field=data-through]").inner_text() == f"{end:%Y-%m-%d}"
    shown = page.locator("[data-kpi=registered_cumulative]").inner_text()
    assert int(shown.split()[0].replace(",", "").replace("人", "")) == registered
    page.goto(f"{live_server_url}/console/supervision/activity/?period=30&grain=day")
    _charts_drawn(page, ("chart-dau", "chart-sessions"))
    screenshot(page, "supervision-activity-pipeline", full_page=True)
    assert problems.errors == []
