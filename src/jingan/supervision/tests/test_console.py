"""The supervision console: alert inbox flows, rules, run history and re-run, the
exchange register, the indicator catalogue, and outsiders on every URL."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from jingan.supervision.indicators.catalogue import INDICATORS
from jingan.supervision.models import (
    Alert,
    AlertComment,
    AlertRule,
    ExchangeFile,
    JobRun,
)

CENTRAL = "310106001"
ZHABEI = "310106002"


def _institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


@pytest.fixture
def rule(db: None) -> AlertRule:
    return AlertRule.objects.create(
        code="test_dau_drop",
        name="日活跃用户骤降（测试）",
        kind=AlertRule.Kind.RELATIVE,
        indicator="pa_dau",
        comparator=AlertRule.Comparator.BELOW,
        threshold=0.3,
        baseline_days=28,
        severity=AlertRule.Severity.CRITICAL,
    )


def _alert(rule: AlertRule, title: str, *, institution: str | None = None, **fields: Any) -> Alert:
    now = timezone.now()
    return Alert.objects.create(
        rule=rule,
        state=fields.pop("state", "open"),
        severity=rule.severity,
        title=title,
        message=f"{title}：低于基线 30% 以上",
        period_start=datetime.date(2026, 3, 31),
        institution=_institution(institution) if institution else None,
        value=fields.pop("value", 60.0),
        baseline=fields.pop("baseline", 100.0),
        opened_at=now,
        last_triggered_at=now,
        **fields,
    )


@pytest.fixture
def alerts(rule: AlertRule) -> dict[str, Alert]:
    return {
        "district": _alert(rule, "全区日活跃骤降"),
        "central": _alert(rule, "中心医院访问骤降", institution=CENTRAL),
        "resolved": _alert(rule, "已解决的预警", state="resolved"),
    }


@pytest.fixture
def dataops(make_staff: Callable[..., Any]) -> Any:
    return make_staff("dataops", roles=("supervision_operator",))


@pytest.fixture
def regulator(make_staff: Callable[..., Any]) -> Any:
    return make_staff("regulator", roles=("district_regulator",))


# -- alerts ----------------------------------------------------------------------------------


@pytest.mark.req("SB-5")
def test_the_inbox_has_state_tabs_and_filters(
    alerts: dict[str, Alert], regulator: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(regulator)
    html = client.get("/console/supervision/alerts/").content.decode()
    assert 'data-count="open">2<' in html
    assert 'data-count="resolved">1<' in html
    assert f'data-alert="{alerts["district"].pk}"' in html
    assert f'data-alert="{alerts["resolved"].pk}"' not in html
    resolved = client.get("/console/supervision/alerts/", {"state": "resolved"}).content.decode()
    assert f'data-alert="{alerts["resolved"].pk}"' in resolved
    found = client.get("/console/supervision/alerts/", {"q": "中心医院"}).content.decode()
    assert f'data-alert="{alerts["central"].pk}"' in found
    assert f'data-alert="{alerts["district"].pk}"' not in found
    none = client.get("/console/supervision/alerts/", {"severity": "info"}).content.decode()
    assert "没有符合条件的预警" in none


@pytest.mark.req("SB-5")
def test_acknowledge_assign_comment_and_resolve(
    alerts: dict[str, Alert], dataops: Any, regulator: Any, client_for: Callable[..., Any]
) -> None:
    alert = alerts["district"]
    client = client_for(dataops)
    detail = client.get(f"/console/supervision/alerts/{alert.pk}/").content.decode()
    assert 'data-field="value">60.0<' in detail
    assert 'data-field="change">-40.0%<' in detail
    assert "#indicator-pa_dau" in detail
    base = f"/console/supervision/alerts/{alert.pk}/actions"
    client.post(f"{base}/acknowledge/")
    alert.refresh_from_db()
    assert alert.state == "acknowledged"
    # A second acknowledgement is refused with the reason, nothing changes.
    response = client.post(f"{base}/acknowledge/", follow=True)
    assert "只有待处理的预警可以确认" in response.content.decode()
    client.post(f"{base}/assign/", {"assignee": regulator.pk})
    alert.refresh_from_db()
    assert alert.assignee_id == regulator.pk
    client.post(f"{base}/comment/", {"body": "已联系公众号平台核实"})
    client.post(f"{base}/resolve/", {"note": ""})
    alert.refresh_from_db()
    assert alert.state == "acknowledged"
    client.post(f"{base}/resolve/", {"note": "平台发布故障，已恢复"})
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert [c.body for c in AlertComment.objects.filter(alert=alert)] == [
        "已联系公众号平台核实",
        "【解决】平台发布故障，已恢复",
    ]
    html = client.get(f"/console/supervision/alerts/{alert.pk}/").content.decode()
    assert "已联系公众号平台核实" in html
    assert "该预警已解决" in html


@pytest.mark.req("SB-5")
def test_assigning_to_someone_without_handle_alert_is_refused(
    alerts: dict[str, Alert],
    dataops: Any,
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    reader = make_staff("reader", permissions=("supervision.view_alert",))
    alert = alerts["district"]
    response = client_for(dataops).post(
        f"/console/supervision/alerts/{alert.pk}/actions/assign/",
        {"assignee": reader.pk},
        follow=True,
    )
    assert "请选择有预警处理权限的处理人" in response.content.decode()
    alert.refresh_from_db()
    assert alert.assignee_id is None


@pytest.mark.req("SB-5")
def test_an_institution_admin_sees_only_their_institutions_alerts(
    alerts: dict[str, Alert], make_staff: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    admin = make_staff(
        "central-admin", roles=("institution_admin",), institution=_institution(CENTRAL)
    )
    client = client_for(admin)
    html = client.get("/console/supervision/alerts/").content.decode()
    assert f'data-alert="{alerts["central"].pk}"' in html
    assert f'data-alert="{alerts["district"].pk}"' not in html
    assert client.get(f"/console/supervision/alerts/{alerts['central'].pk}/").status_code == 200
    assert client.get(f"/console/supervision/alerts/{alerts['district'].pk}/").status_code == 404
    # Reading is not handling: no buttons, and the actions are refused.
    assert (
        'id="alert-actions"'
        not in client.get(f"/console/supervision/alerts/{alerts['central'].pk}/").content.decode()
    )
    response = client.post(
        f"/console/supervision/alerts/{alerts['central'].pk}/actions/acknowledge/"
    )
    assert response.status_code == 403
    assert Alert.objects.unscoped().get(pk=alerts["central"].pk).state == "open"
    other = make_staff(
        "zhabei-handler",
        permissions=("supervision.view_alert", "supervision.handle_alert"),
        institution=_institution(ZHABEI),
    )
    response = client_for(other).post(
        f"/console/supervision/alerts/{alerts['central'].pk}/actions/acknowledge/"
    )
    assert response.status_code == 404
    assert Alert.objects.unscoped().get(pk=alerts["central"].pk).state == "open"


# -- rules -----------------------------------------------------------------------------------


@pytest.mark.req("SB-5")
def test_rules_are_listed_and_edited_with_change_permission_only(
    rule: AlertRule, dataops: Any, regulator: Any, client_for: Callable[..., Any]
) -> None:
    AuditEntry = apps.get_model("audit", "AuditEntry")
    listing = client_for(regulator).get("/console/supervision/rules/").content.decode()
    assert 'data-rule="test_dau_drop"' in listing
    assert "较前 28 期均值低于 30%" in listing
    assert f"/console/supervision/rules/{rule.pk}/" not in listing
    refused = client_for(regulator).post(
        f"/console/supervision/rules/{rule.pk}/",
        {"threshold": "0.5", "baseline_days": "7", "cooldown_minutes": "60", "severity": "info"},
    )
    assert refused.status_code == 403
    rule.refresh_from_db()
    assert (rule.threshold, rule.is_enabled) == (0.3, True)

    client = client_for(dataops)
    bad = client.post(
        f"/console/supervision/rules/{rule.pk}/",
        {"threshold": "30", "baseline_days": "7", "cooldown_minutes": "60", "severity": "info"},
    )
    assert "相对基线的阈值是变化比例" in bad.content.decode()
    rule.refresh_from_db()
    assert rule.threshold == 0.3
    saved = client.post(
        f"/console/supervision/rules/{rule.pk}/",
        {"threshold": "0.5", "baseline_days": "7", "cooldown_minutes": "60", "severity": "info"},
    )
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.baseline_days, rule.cooldown_minutes, rule.severity) == (
        0.5,
        7,
        60,
        "info",
    )
    assert rule.is_enabled is False  # an unticked box switches the rule off
    entry = AuditEntry.objects.get(action="supervision.alertrule.change")
    assert entry.detail_data["before"]["threshold"] == 0.3
    assert entry.detail_data["after"]["threshold"] == 0.5


# -- runs, re-run, exchange, catalogue -------------------------------------------------------


def _run(**fields: Any) -> JobRun:
    started = timezone.now() - datetime.timedelta(seconds=90)
    defaults: dict[str, Any] = {
        "kind": "collect",
        "target": "pa_sessions",
        "day": datetime.date(2026, 3, 30),
        "status": "succeeded",
        "trigger": "schedule",
        "started_at": started,
        "finished_at": started + datetime.timedelta(seconds=12.5),
        "rows_in": 120,
        "rows_out": 118,
        "rows_rejected": 2,
    }
    defaults.update(fields)
    return JobRun.objects.create(**defaults)


@pytest.mark.req("SB-6")
def test_the_run_history_shows_rows_and_errors_with_filters(
    db: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    ok = _run()
    failed = _run(kind="clean", status="failed", error="必填字段缺失：account_id", rows_out=0)
    client = client_for(regulator)
    html = client.get("/console/supervision/runs/").content.decode()
    assert f'data-run="{ok.pk}"' in html
    assert 'data-field="rows-in">120<' in html
    assert 'data-field="rows-rejected">2<' in html
    assert "12.5 秒" in html
    assert "必填字段缺失：account_id" in html
    # A read-only regulator sees no re-run form.
    assert 'id="rerun-form"' not in html
    only_failed = client.get("/console/supervision/runs/", {"status": "failed"}).content.decode()
    assert f'data-run="{failed.pk}"' in only_failed
    assert f'data-run="{ok.pk}"' not in only_failed


@pytest.mark.req("SB-7")
def test_rerun_of_a_day_calls_the_pipeline(
    db: None,
    dataops: Any,
    regulator: Any,
    client_for: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jingan.supervision import console_views

    calls: list[tuple[datetime.date, Any]] = []

    def rerun_day(day: datetime.date, *, actor: Any) -> list[JobRun]:
        calls.append((day, actor))
        return [_run(day=day, trigger="manual", actor=actor)]

    monkeypatch.setattr(console_views.pipeline, "rerun_day", rerun_day)
    refused = client_for(regulator).post("/console/supervision/runs/rerun/", {"day": "2026-03-30"})
    assert refused.status_code == 403
    assert calls == []
    client = client_for(dataops)
    response = client.post("/console/supervision/runs/rerun/", {"day": "2026-03-30"}, follow=True)
    assert calls == [(datetime.date(2026, 3, 30), dataops)]
    assert "2026-03-30 已重跑 1 个作业" in response.content.decode()
    future = client.post(
        "/console/supervision/runs/rerun/",
        {"day": timezone.localdate().isoformat()},
        follow=True,
    )
    assert "只能重跑已经结束的日期" in future.content.decode()
    assert len(calls) == 1


@pytest.mark.req("SB-2")
def test_the_exchange_register_shows_state_digest_and_reason(
    db: None, regulator: Any, client_for: Callable[..., Any]
) -> None:
    now = timezone.now()
    ExchangeFile.objects.create(
        dataset="appointments",
        day=datetime.date(2026, 3, 30),
        filename="appointments-20260330.csv.gz",
        sm3="a" * 64,
        size=2048,
        rows_declared=17,
        state="quarantined",
        reason="SM3 摘要与清单不符",
        received_at=now,
    )
    ExchangeFile.objects.create(
        dataset="registrations",
        day=datetime.date(2026, 3, 30),
        filename="registrations-20260330.csv.gz",
        sm3="b" * 64,
        state="accepted",
        received_at=now,
    )
    client = client_for(regulator)
    html = client.get("/console/supervision/exchange/").content.decode()
    assert "appointments-20260330.csv.gz" in html
    assert "SM3 摘要与清单不符" in html
    assert f'title="{"a" * 64}"' in html
    quarantined = client.get("/console/supervision/exchange/", {"state": "quarantined"})
    assert "registrations-20260330.csv.gz" not in quarantined.content.decode()


@pytest.mark.req("SB-4")
def test_the_catalogue_lists_every_indicator_with_its_sql(
    db: None, dataops: Any, client_for: Callable[..., Any]
) -> None:
    from jingan.supervision.models import IndicatorState

    IndicatorState.objects.create(
        indicator="pa_dau", data_through=datetime.date(2026, 3, 31), last_error="Binder Error"
    )
    html = client_for(dataops).get("/console/supervision/indicators/").content.decode()
    for indicator in INDICATORS:
        assert f'data-indicator="{indicator.code}"' in html
    assert "最近错误：Binder Error" in html
    assert "clean_pa_sessions" in html
    assert "DATE &#x27;2026-03-31&#x27;" in html or "DATE '2026-03-31'" in html


# -- outsiders --------------------------------------------------------------------------------

GETS = (
    "/console/supervision/registrations/",
    "/console/supervision/activity/",
    "/console/supervision/modules/",
    "/console/supervision/alerts/",
    "/console/supervision/alerts/{alert}/",
    "/console/supervision/rules/",
    "/console/supervision/rules/{rule}/",
    "/console/supervision/runs/",
    "/console/supervision/exchange/",
    "/console/supervision/indicators/",
)
POSTS = (
    "/console/supervision/registrations/export/",
    "/console/supervision/activity/export/",
    "/console/supervision/modules/export/",
    "/console/supervision/alerts/{alert}/actions/acknowledge/",
    "/console/supervision/alerts/{alert}/actions/resolve/",
    "/console/supervision/alerts/{alert}/actions/assign/",
    "/console/supervision/alerts/{alert}/actions/comment/",
    "/console/supervision/rules/{rule}/",
    "/console/supervision/runs/rerun/",
)


def _urls(alerts: dict[str, Alert], rule: AlertRule) -> list[tuple[str, str]]:
    ids = {"alert": alerts["district"].pk, "rule": rule.pk}
    return [("get", u.format(**ids)) for u in GETS] + [("post", u.format(**ids)) for u in POSTS]


def _snapshot() -> tuple[Any, ...]:
    AuditEntry = apps.get_model("audit", "AuditEntry")
    return (
        list(Alert.objects.unscoped().values_list("pk", "state", "assignee_id")),
        AlertComment.objects.count(),
        list(AlertRule.objects.values_list("threshold", "is_enabled")),
        JobRun.objects.count(),
        AuditEntry.objects.filter(action__startswith="supervision.").count(),
    )


def test_every_url_is_covered_by_the_outsider_lists() -> None:
    from django.urls import resolve

    from jingan.supervision.urls import urlpatterns

    listed = {resolve(url.format(alert=1, rule=1)).url_name for url in (*GETS, *POSTS)}
    assert listed == {pattern.name for pattern in urlpatterns}


@pytest.mark.req("SB-5")
@pytest.mark.req("SB-6")
def test_anonymous_visitors_are_sent_to_sign_in(
    alerts: dict[str, Alert], rule: AlertRule, client: Any
) -> None:
    before = _snapshot()
    for method, url in _urls(alerts, rule):
        response = getattr(client, method)(url, {"day": "2026-03-01", "note": "x", "body": "x"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/console/login/"), url
    assert _snapshot() == before


@pytest.mark.req("SB-5")
def test_a_resident_session_has_no_access(
    alerts: dict[str, Alert],
    rule: AlertRule,
    make_resident: Callable[..., Any],
    resident_client: Callable[..., Any],
) -> None:
    client = resident_client(make_resident())
    before = _snapshot()
    for method, url in _urls(alerts, rule):
        response = getattr(client, method)(url, {"day": "2026-03-01", "note": "x", "body": "x"})
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert response["Location"].startswith("/console/login/"), url
    assert _snapshot() == before


@pytest.mark.req("SB-5")
def test_staff_without_supervision_permissions_are_refused(
    alerts: dict[str, Alert],
    rule: AlertRule,
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
) -> None:
    clerk = make_staff("clerk", permissions=("institutions.view_institution",))
    client = client_for(clerk)
    before = _snapshot()
    for method, url in _urls(alerts, rule):
        response = getattr(client, method)(url, {"day": "2026-03-01", "note": "x", "body": "x"})
        assert response.status_code == 403, url
    assert _snapshot() == before


@pytest.mark.req("SB-7")
def test_the_read_only_regulator_cannot_change_rules_or_rerun(
    alerts: dict[str, Alert],
    rule: AlertRule,
    regulator: Any,
    client_for: Callable[..., Any],
) -> None:
    client = client_for(regulator)
    before = _snapshot()
    for method, url in _urls(alerts, rule):
        if method == "get":
            assert client.get(url).status_code == 200, url
    for url in (f"/console/supervision/rules/{rule.pk}/", "/console/supervision/runs/rerun/"):
        response = client.post(
            url, {"day": "2026-03-01", "threshold": "9", "baseline_days": "1", "severity": "info"}
        )
        assert response.status_code == 403, url
    assert _snapshot() == before
