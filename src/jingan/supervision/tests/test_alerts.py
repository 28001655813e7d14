"""Alert rules, the alert lifecycle and who sees what (SB-5)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from django.apps import apps
from django.utils import timezone

from jingan.supervision.alerts import services
from jingan.supervision.alerts.rules import matches_dimensions
from jingan.supervision.alerts.services import AlertError
from jingan.supervision.datasets import clean_columns, dataset
from jingan.supervision.lake import store
from jingan.supervision.models import Alert, AlertComment, AlertRule, IndicatorValue, JobRun

HANDLE = ("supervision.handle_alert", "supervision.view_alert")
TODAY = date(2025, 3, 1)


def _messages(user: Any) -> list[Any]:
    message_model = apps.get_model("messaging", "Message")
    return list(message_model.objects.filter(staff_user_id=user.pk).order_by("pk"))


def _audit_actions(alert: Alert) -> list[str]:
    entry_model = apps.get_model("audit", "AuditEntry")
    rows = entry_model.objects.filter(object_type="supervision.alert", object_id=str(alert.pk))
    return list(rows.order_by("pk").values_list("action", flat=True))


def _institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


def _store(
    code: str, values: list[float], *, last: date = TODAY, key: str = "", institution: Any = None
) -> None:
    """Store one daily series ending on ``last`` (oldest value first)."""
    first = last - timedelta(days=len(values) - 1)
    IndicatorValue.objects.bulk_create(
        IndicatorValue(
            indicator=code,
            grain="day",
            period_start=first + timedelta(days=offset),
            dimensions_key=key,
            dimensions="{}",
            institution=institution,
            value=value,
            computed_at=timezone.now(),
        )
        for offset, value in enumerate(values)
    )


@pytest.fixture(autouse=True)
def lake_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SUPERVISION = {**settings.SUPERVISION, "lake_dir": tmp_path / "lake"}
    return tmp_path / "lake"


@pytest.fixture
def only_rules(db: None) -> Any:
    """Disable the seeded rules so each test watches exactly the rules it makes."""

    def _make(**fields: Any) -> AlertRule:
        AlertRule.objects.update(is_enabled=False)
        fields.setdefault("name", fields["code"])
        return AlertRule.objects.create(**fields)

    return _make


@pytest.fixture
def handler(make_staff: Any) -> Any:
    return make_staff("handler", permissions=HANDLE)


@pytest.mark.req("SB-5")
def test_seeded_rules_cover_activity_registrations_backlog_and_every_feed(db: None) -> None:
    rules = {rule.code: rule for rule in AlertRule.objects.all()}
    assert (rules["pa_dau_drop"].kind, rules["pa_dau_drop"].threshold) == ("relative", 0.3)
    assert rules["pa_dau_drop"].baseline_days == 28
    assert (rules["pa_registered_none"].comparator, rules["pa_registered_none"].threshold) == (
        "below",
        1,
    )
    assert rules["pa_manual_review_backlog"].comparator == "above"
    feeds = {rule.dataset for rule in rules.values() if rule.kind == "freshness"}
    assert feeds == {
        "pa_registrations",
        "pa_realname",
        "pa_sessions",
        "pa_module_visits",
        "appointments",
        "registrations",
        "consultations",
        "proxy_medication",
        "renewals",
        "care_orders",
    }
    assert {rule.threshold for rule in rules.values() if rule.kind == "freshness"} == {2.0}


@pytest.mark.req("SB-5")
def test_absolute_rule_opens_one_alert_and_notifies_once(only_rules: Any, handler: Any) -> None:
    rule = only_rules(
        code="no_registrations",
        kind="absolute",
        indicator="pa_registered_daily",
        comparator="below",
        threshold=1,
    )
    _store("pa_registered_daily", [5, 3, 0])

    raised = services.evaluate_alerts(trigger="test")

    assert len(raised) == 1
    alert = raised[0]
    assert (alert.rule, alert.state, alert.value, alert.period_start) == (rule, "open", 0.0, TODAY)
    assert alert.trigger_count == 1
    assert [m.title for m in _messages(handler)] == ["【警告】no_registrations"]
    assert _audit_actions(alert) == ["supervision.alert.open"]
    run = JobRun.objects.filter(kind="alerts").get()
    assert (run.status, run.rows_out, run.trigger) == ("succeeded", 1, "test")

    again = services.evaluate_alerts(trigger="test")

    assert [a.pk for a in again] == [alert.pk]
    alert.refresh_from_db()
    assert alert.trigger_count == 2
    assert Alert.objects.unscoped().count() == 1
    assert len(_messages(handler)) == 1


@pytest.mark.req("SB-5")
def test_absolute_rule_is_quiet_within_the_threshold(only_rules: Any) -> None:
    only_rules(
        code="backlog",
        kind="absolute",
        indicator="pa_manual_review_pending",
        comparator="above",
        threshold=100,
    )
    _store("pa_manual_review_pending", [400, 100])
    assert services.evaluate_alerts(trigger="test") == []
    IndicatorValue.objects.unscoped().filter(period_start=TODAY).update(value=101)
    assert [a.value for a in services.evaluate_alerts(trigger="test")] == [101.0]


@pytest.mark.req("SB-5")
def test_relative_rule_compares_with_the_mean_of_the_baseline(only_rules: Any) -> None:
    only_rules(
        code="dau_drop",
        kind="relative",
        indicator="pa_dau",
        comparator="below",
        threshold=0.3,
        baseline_days=28,
    )
    # 28 baseline days averaging 100 (older days outside the baseline are ignored).
    history = [1000.0] * 5 + [90.0, 110.0] * 14
    _store("pa_dau", [*history, 71.0])
    assert services.evaluate_alerts(trigger="test") == []

    IndicatorValue.objects.unscoped().filter(period_start=TODAY).update(value=69)
    raised = services.evaluate_alerts(trigger="test")

    assert len(raised) == 1
    assert (raised[0].value, raised[0].baseline) == (69.0, 100.0)
    assert "-31.0%" in raised[0].message


@pytest.mark.req("SB-5")
def test_rules_over_institution_series_raise_one_alert_per_institution(
    only_rules: Any, make_staff: Any
) -> None:
    central, zhabei = _institution("310106001"), _institution("310106002")
    only_rules(
        code="bookings_low",
        kind="absolute",
        indicator="appt_bookings",
        comparator="below",
        threshold=10,
        dimensions_key="institution=",
    )
    _store("appt_bookings", [3], key="institution=310106001", institution=central)
    _store("appt_bookings", [50], key="institution=310106002", institution=zhabei)
    _store("appt_bookings", [5], key="")  # the district total is not an institution series
    central_handler = make_staff("central-handler", permissions=HANDLE, institution=central)
    zhabei_handler = make_staff("zhabei-handler", permissions=HANDLE, institution=zhabei)

    raised = services.evaluate_alerts(trigger="test")

    assert [(a.dimensions_key, a.institution) for a in raised] == [
        ("institution=310106001", central)
    ]
    assert len(_messages(central_handler)) == 1
    assert _messages(zhabei_handler) == []
    # Scope: each institution sees only its own alerts, district rows not at all.
    viewer = make_staff(
        "zhabei-viewer", permissions=("supervision.view_alert",), institution=zhabei
    )
    assert list(Alert.objects.restrict(viewer, "supervision.view_alert")) == []
    with pytest.raises(AlertError, match="不在您的处理范围"):
        services.acknowledge_alert(actor=zhabei_handler, alert_id=raised[0].pk)
    acknowledged = services.acknowledge_alert(actor=central_handler, alert_id=raised[0].pk)
    assert acknowledged.state == "acknowledged"


def _write_days(name: str, days: list[date]) -> None:
    columns = clean_columns(dataset(name))
    types = {
        "VARCHAR": pa.string(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "BOOLEAN": pa.bool_(),
    }
    schema = pa.schema([(column.name, types[column.type]) for column in columns])
    for day in days:
        store.write_partition("clean", name, day, schema.empty_table())


@pytest.mark.req("SB-5")
def test_a_feed_that_stops_arriving_raises_its_own_alert(db: None, handler: Any) -> None:
    _write_days("pa_sessions", [date(2025, 2, 25), date(2025, 2, 26)])

    assert services.check_feed_freshness(today=date(2025, 2, 28), trigger="test") == []
    # Replaying history (demo) says nothing about whether feeds arrive now.
    assert services.evaluate_alerts(trigger="demo", today=date(2025, 3, 1)) == []
    raised = services.check_feed_freshness(today=date(2025, 3, 1), trigger="test")

    assert [(a.rule.code, a.value, a.severity) for a in raised] == [
        ("feed_stale_pa_sessions", 3.0, "critical")
    ]
    assert raised[0].title == "数据断供：公众号访问会话"
    assert "2025-02-26" in raised[0].message
    assert [m.title for m in _messages(handler)] == ["【严重】数据断供：公众号访问会话"]


@pytest.mark.req("SB-5")
def test_cooldown_counts_repeats_then_reopens_as_a_new_alert(only_rules: Any, handler: Any) -> None:
    only_rules(
        code="no_registrations",
        kind="absolute",
        indicator="pa_registered_daily",
        comparator="below",
        threshold=1,
        cooldown_minutes=60,
    )
    _store("pa_registered_daily", [0])
    (first,) = services.evaluate_alerts(trigger="test")
    services.resolve_alert(actor=handler, alert_id=first.pk, note="接口已恢复")

    (repeat,) = services.evaluate_alerts(trigger="test")

    assert (repeat.pk, repeat.state, repeat.trigger_count) == (first.pk, "resolved", 2)
    assert len(_messages(handler)) == 1

    Alert.objects.unscoped().filter(pk=first.pk).update(
        resolved_at=timezone.now() - timedelta(minutes=61)
    )
    (reopened,) = services.evaluate_alerts(trigger="test")

    assert reopened.pk != first.pk
    assert (reopened.state, reopened.trigger_count) == ("open", 1)
    assert len(_messages(handler)) == 2


@pytest.mark.req("SB-5")
def test_state_transitions_comments_and_assignee(
    only_rules: Any, handler: Any, make_staff: Any
) -> None:
    only_rules(
        code="no_registrations",
        kind="absolute",
        indicator="pa_registered_daily",
        comparator="below",
        threshold=1,
    )
    _store("pa_registered_daily", [0])
    (alert,) = services.evaluate_alerts(trigger="test")
    colleague = make_staff("colleague", permissions=HANDLE)
    reader = make_staff("reader", permissions=("supervision.view_alert",))

    with pytest.raises(AlertError, match="不在您的处理范围"):
        services.acknowledge_alert(actor=reader, alert_id=alert.pk)
    with pytest.raises(AlertError, match="没有处理该预警的权限"):
        services.assign_alert(actor=handler, alert_id=alert.pk, assignee_id=reader.pk)

    assigned = services.assign_alert(actor=handler, alert_id=alert.pk, assignee_id=colleague.pk)
    assert assigned.assignee == colleague
    # The colleague joined after the alert opened: only the assignment reaches them.
    assert [m.title for m in _messages(colleague)] == ["预警已指派给您：no_registrations"]

    acknowledged = services.acknowledge_alert(actor=colleague, alert_id=alert.pk)
    assert (acknowledged.state, acknowledged.assignee) == ("acknowledged", colleague)
    assert acknowledged.acknowledged_at is not None
    with pytest.raises(AlertError, match="只有待处理的预警可以确认"):
        services.acknowledge_alert(actor=colleague, alert_id=alert.pk)

    comment = services.comment_alert(actor=colleague, alert_id=alert.pk, body="已联系公众号平台")
    assert (comment.author, comment.body) == (colleague, "已联系公众号平台")
    with pytest.raises(AlertError, match="请填写处理记录内容"):
        services.comment_alert(actor=colleague, alert_id=alert.pk, body="  ")
    with pytest.raises(AlertError, match="请填写处理说明"):
        services.resolve_alert(actor=colleague, alert_id=alert.pk, note="")

    resolved = services.resolve_alert(actor=colleague, alert_id=alert.pk, note="数据已补传")
    assert resolved.state == "resolved"
    assert resolved.resolved_at is not None
    assert list(AlertComment.objects.filter(alert=alert).values_list("body", flat=True)) == [
        "已联系公众号平台",
        "【解决】数据已补传",
    ]
    with pytest.raises(AlertError, match="预警已解决"):
        services.resolve_alert(actor=colleague, alert_id=alert.pk, note="再次")
    with pytest.raises(AlertError, match="不能再指派"):
        services.assign_alert(actor=handler, alert_id=alert.pk, assignee_id=colleague.pk)
    assert _audit_actions(alert) == [
        "supervision.alert.open",
        "supervision.alert.assign",
        "supervision.alert.acknowledge",
        "supervision.alert.comment",
        "supervision.alert.resolve",
    ]


@pytest.mark.req("SB-5")
def test_a_broken_rule_does_not_silence_the_others(only_rules: Any, handler: Any) -> None:
    only_rules(code="good", kind="absolute", indicator="pa_dau", comparator="below", threshold=1)
    AlertRule.objects.create(code="bad", name="bad", kind="weird", indicator="pa_dau", threshold=1)
    _store("pa_dau", [0])

    raised = services.evaluate_alerts(trigger="test")

    assert [a.rule.code for a in raised] == ["good"]
    run = JobRun.objects.filter(kind="alerts").get()
    assert run.status == "partial"
    assert run.error == "bad: ValueError: unknown alert rule kind 'weird'"


def test_rule_dimension_keys_select_one_series_or_a_prefix() -> None:
    assert matches_dimensions("", "")
    assert not matches_dimensions("", "module=renewal")
    assert matches_dimensions("institution=", "institution=310106001")
    assert matches_dimensions("module=*", "module=renewal")
    assert not matches_dimensions("module=renewal", "module=drug_lookup")
