"""Every write of the alert inbox (SB-5): raise, acknowledge, assign, comment, resolve.

One open alert per (rule, series, institution): a rule that keeps breaking bumps that
alert's ``last_triggered_at`` and ``trigger_count`` rather than piling up copies. Once
resolved, a repeat within the rule's cooldown (counted from the resolution) is only
counted on the resolved alert; after the cooldown a new alert opens. New alerts go to
the message centre of everyone who may handle them, once (dedup key per alert). Every
state change is audited inside its transaction.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from jingan.core.public import (
    StaffRecipient,
    notify,
    notify_permission_holders,
    record_event,
    users_with_permission,
)
from jingan.supervision.alerts.rules import Finding, evaluate_rule
from jingan.supervision.models import (
    Alert,
    AlertComment,
    AlertRule,
    AlertState,
    JobKind,
    JobRun,
    JobStatus,
)

__all__ = [
    "AlertError",
    "HANDLE_PERMISSION",
    "acknowledge_alert",
    "assign_alert",
    "check_feed_freshness",
    "comment_alert",
    "evaluate_alerts",
    "get_alert_for_user",
    "resolve_alert",
]

logger = logging.getLogger(__name__)

HANDLE_PERMISSION = "supervision.handle_alert"
VIEW_PERMISSION = "supervision.view_alert"
_CATEGORY = "supervision"
_COMMENT_LIMIT = 2000


class AlertError(ValueError):
    """An alert action the inbox refuses; the text is for the page."""


def _link(alert: Alert) -> str:
    try:
        return reverse("supervision:alert", args=[alert.pk])
    except NoReverseMatch:
        return ""


def _audit(action: str, alert: Alert, actor: Any, **detail: object) -> None:
    record_event(
        action=f"supervision.alert.{action}",
        actor=actor,
        object_type="supervision.alert",
        object_id=str(alert.pk),
        institution_id=alert.institution_id,
        detail={"rule": alert.rule.code, "state": alert.state, **detail},
    )


def _raise(rule: AlertRule, finding: Finding, now: Any) -> tuple[Alert, bool]:
    """The alert for ``finding``: bumped when one is open or cooling down, else new."""
    same_series = Alert.objects.unscoped().filter(
        rule=rule, dimensions_key=finding.dimensions_key, institution_id=finding.institution_id
    )
    current = same_series.exclude(state=AlertState.RESOLVED).order_by("-opened_at", "-pk").first()
    if current is None:
        resolved = same_series.filter(state=AlertState.RESOLVED).order_by("-resolved_at").first()
        cooling = (
            resolved is not None
            and resolved.resolved_at is not None
            and now - resolved.resolved_at < timedelta(minutes=rule.cooldown_minutes)
        )
        current = resolved if cooling else None
    if current is not None:
        current.last_triggered_at = now
        current.trigger_count += 1
        current.value = finding.value
        current.baseline = finding.baseline
        current.period_start = finding.period_start
        current.message = finding.message
        current.save(
            update_fields=[
                "last_triggered_at",
                "trigger_count",
                "value",
                "baseline",
                "period_start",
                "message",
            ]
        )
        return current, False
    alert = Alert.objects.create(
        rule=rule,
        state=AlertState.OPEN,
        severity=rule.severity,
        title=finding.title[:200],
        message=finding.message,
        period_start=finding.period_start,
        dimensions_key=finding.dimensions_key,
        institution_id=finding.institution_id,
        value=finding.value,
        baseline=finding.baseline,
        opened_at=now,
        last_triggered_at=now,
    )
    _audit("open", alert, None, value=finding.value, baseline=finding.baseline)
    notify_permission_holders(
        permission=HANDLE_PERMISSION,
        title=f"【{alert.get_severity_display()}】{alert.title}",
        body=alert.message,
        category=_CATEGORY,
        link=_link(alert),
        dedup_key=f"supervision-alert-{alert.pk}",
        institution_id=alert.institution_id,
    )
    return alert, True


def _evaluate(rules: list[AlertRule], *, today: date, trigger: str, target: str) -> list[Alert]:
    run = JobRun.objects.create(
        kind=JobKind.ALERTS,
        target=target,
        day=today,
        status=JobStatus.RUNNING,
        trigger=trigger,
        started_at=timezone.now(),
    )
    triggered: list[Alert] = []
    opened: list[int] = []
    errors: list[str] = []
    for rule in rules:
        try:
            findings = evaluate_rule(rule, today=today)
            with transaction.atomic():
                now = timezone.now()
                for finding in findings:
                    alert, is_new = _raise(rule, finding, now)
                    triggered.append(alert)
                    if is_new:
                        opened.append(alert.pk)
        except Exception as error:  # one broken rule must not silence the others
            logger.exception("alert rule %s failed", rule.code)
            errors.append(f"{rule.code}: {type(error).__name__}: {error}")
    run.status = (
        JobStatus.SUCCEEDED
        if not errors
        else JobStatus.PARTIAL
        if len(errors) < len(rules)
        else JobStatus.FAILED
    )
    run.finished_at = timezone.now()
    run.rows_in = len(rules)
    run.rows_out = len(triggered)
    run.error = "\n".join(errors)
    run.detail = json.dumps({"opened": opened, "triggered": [a.pk for a in triggered]})
    run.save(update_fields=["status", "finished_at", "rows_in", "rows_out", "error", "detail"])
    return triggered


def evaluate_alerts(*, trigger: str = "schedule", today: date | None = None) -> list[Alert]:
    """Evaluate every enabled rule; returns the alerts raised or re-triggered (SB-5).

    A demo replays past days: whether feeds arrive *now* says nothing about them, so
    freshness rules wait for ``check_feed_freshness`` there.
    """
    rules = list(AlertRule.objects.filter(is_enabled=True).order_by("code"))
    if trigger == "demo":
        rules = [rule for rule in rules if rule.kind != AlertRule.Kind.FRESHNESS]
    return _evaluate(rules, today=today or timezone.localdate(), trigger=trigger, target="all")


def check_feed_freshness(*, today: date, trigger: str = "schedule") -> list[Alert]:
    """Evaluate only the enabled freshness rules: a feed that stopped arriving."""
    rules = list(
        AlertRule.objects.filter(is_enabled=True, kind=AlertRule.Kind.FRESHNESS).order_by("code")
    )
    return _evaluate(rules, today=today, trigger=trigger, target="freshness")


def get_alert_for_user(user: Any, alert_id: int, permission: str = VIEW_PERMISSION) -> Alert:
    """The alert within ``user``'s scope for ``permission``; AlertError otherwise."""
    alert = (
        Alert.objects.restrict(user, permission).select_related("rule").filter(pk=alert_id).first()
    )
    if alert is None:
        raise AlertError("预警不存在或不在您的处理范围内")
    return alert


def _locked_for_handling(actor: Any, alert_id: int) -> Alert:
    get_alert_for_user(actor, alert_id, HANDLE_PERMISSION)
    return Alert.objects.unscoped().select_for_update().select_related("rule").get(pk=alert_id)


def acknowledge_alert(*, actor: Any, alert_id: int) -> Alert:
    """Open → acknowledged: someone is looking at it."""
    with transaction.atomic():
        alert = _locked_for_handling(actor, alert_id)
        if alert.state != AlertState.OPEN:
            raise AlertError(f"只有待处理的预警可以确认，当前状态：{alert.get_state_display()}")
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_at = timezone.now()
        if alert.assignee_id is None:
            alert.assignee = actor
        alert.save(update_fields=["state", "acknowledged_at", "assignee"])
        _audit("acknowledge", alert, actor)
    return alert


def resolve_alert(*, actor: Any, alert_id: int, note: str) -> Alert:
    """Open or acknowledged → resolved; the note is kept as a comment."""
    note = (note or "").strip()
    if not note:
        raise AlertError("请填写处理说明")
    if len(note) > _COMMENT_LIMIT:
        raise AlertError(f"处理说明不能超过 {_COMMENT_LIMIT} 字")
    with transaction.atomic():
        alert = _locked_for_handling(actor, alert_id)
        if alert.state == AlertState.RESOLVED:
            raise AlertError("预警已解决，无需重复处理")
        now = timezone.now()
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
        alert.save(update_fields=["state", "resolved_at", "acknowledged_at"])
        AlertComment.objects.create(alert=alert, author=actor, body=f"【解决】{note}")
        _audit("resolve", alert, actor, note=note)
    return alert


def assign_alert(*, actor: Any, alert_id: int, assignee_id: int) -> Alert:
    """Hand the alert to a colleague who may handle it in its institution."""
    with transaction.atomic():
        alert = _locked_for_handling(actor, alert_id)
        if alert.state == AlertState.RESOLVED:
            raise AlertError("预警已解决，不能再指派")
        holders = users_with_permission(HANDLE_PERMISSION, institution_id=alert.institution_id)
        assignee = next((user for user in holders if user.pk == assignee_id), None)
        if assignee is None:
            raise AlertError("被指派人没有处理该预警的权限")
        previous = alert.assignee_id
        alert.assignee = assignee
        alert.save(update_fields=["assignee"])
        _audit("assign", alert, actor, assignee=assignee.pk, previous=previous)
        if assignee.pk != getattr(actor, "pk", None):
            notify(
                recipients=[StaffRecipient(assignee.pk)],
                title=f"预警已指派给您：{alert.title}",
                body=alert.message,
                category=_CATEGORY,
                link=_link(alert),
                dedup_key=f"supervision-alert-{alert.pk}-assign-{assignee.pk}",
            )
    return alert


def comment_alert(*, actor: Any, alert_id: int, body: str) -> AlertComment:
    """Add a handling note to an alert."""
    body = (body or "").strip()
    if not body:
        raise AlertError("请填写处理记录内容")
    if len(body) > _COMMENT_LIMIT:
        raise AlertError(f"处理记录不能超过 {_COMMENT_LIMIT} 字")
    with transaction.atomic():
        alert = _locked_for_handling(actor, alert_id)
        comment = AlertComment.objects.create(alert=alert, author=actor, body=body)
        _audit("comment", alert, actor, comment=comment.pk)
    return comment


def update_alert_rule(
    *, actor: Any, rule_id: int, changes: dict[str, Any], request: Any = None
) -> AlertRule:
    """Change a rule's settings (threshold, baseline, cooldown, severity, switch); audited."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule_id)
        before = {name: getattr(rule, name) for name in changes}
        for name, value in changes.items():
            setattr(rule, name, value)
        rule.save()
        record_event(
            action="supervision.alertrule.change",
            actor=actor,
            object_type="supervision.alertrule",
            object_id=str(rule.pk),
            detail={"code": rule.code, "before": before, "after": dict(changes)},
            request=request,
        )
    return rule
