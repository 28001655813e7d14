"""Evaluation of alert rules against the indicator store and the lake (SB-5).

Pure reads: each rule kind turns into ``Finding`` objects (one per series that breaks
its threshold); ``alerts.services`` turns findings into alerts. Kinds:

- absolute: the newest value of each watched series compared with the threshold;
- relative: the newest value against the mean of up to ``baseline_days`` earlier
  periods of the same series, the threshold being the allowed change as a fraction;
- freshness: a dataset whose newest clean day is more than ``threshold`` days old.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from jingan.supervision.datasets import DATASETS_BY_NAME
from jingan.supervision.lake import store
from jingan.supervision.models import AlertRule, IndicatorValue

__all__ = ["Finding", "evaluate_rule", "matches_dimensions"]

_COMPARATOR_TEXT = {"above": "高于", "below": "低于"}


@dataclass(frozen=True)
class Finding:
    """One series breaking one rule: what the alert will say."""

    dimensions_key: str
    institution_id: int | None
    period_start: date | None
    value: float | None
    baseline: float | None
    title: str
    message: str


def matches_dimensions(rule_key: str, row_key: str) -> bool:
    """A rule's key selects one series exactly, or every series it prefixes when it
    ends with "=" or "*" (e.g. "institution=": each institution's own series)."""
    if rule_key.endswith(("=", "*")):
        return row_key.startswith(rule_key.rstrip("*"))
    return row_key == rule_key


def _breaks(comparator: str, value: float, limit: float) -> bool:
    return value > limit if comparator == AlertRule.Comparator.ABOVE else value < limit


def _series(rule: AlertRule) -> dict[str, list[Any]]:
    """Stored rows of the watched series, newest first, keyed by dimensions_key."""
    queryset = IndicatorValue.objects.unscoped().filter(indicator=rule.indicator, grain=rule.grain)
    prefix = rule.dimensions_key.rstrip("*")
    if rule.dimensions_key.endswith(("=", "*")):
        queryset = queryset.filter(dimensions_key__startswith=prefix)
    else:
        queryset = queryset.filter(dimensions_key=rule.dimensions_key)
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in queryset.order_by("dimensions_key", "-period_start"):
        grouped[row.dimensions_key].append(row)
    return grouped


def _label(rule: AlertRule, key: str) -> str:
    return f"{rule.name}（{key}）" if key else rule.name


def _absolute(rule: AlertRule) -> list[Finding]:
    findings = []
    for key, rows in _series(rule).items():
        newest = rows[0]
        if not _breaks(rule.comparator, newest.value, rule.threshold):
            continue
        findings.append(
            Finding(
                dimensions_key=key,
                institution_id=newest.institution_id,
                period_start=newest.period_start,
                value=newest.value,
                baseline=None,
                title=_label(rule, key),
                message=(
                    f"指标 {rule.indicator} 在 {newest.period_start} 的值 {newest.value:g} "
                    f"{_COMPARATOR_TEXT[rule.comparator]}阈值 {rule.threshold:g}。"
                ),
            )
        )
    return findings


def _relative(rule: AlertRule) -> list[Finding]:
    findings = []
    for key, rows in _series(rule).items():
        newest, earlier = rows[0], rows[1 : 1 + rule.baseline_days]
        if not earlier:
            continue
        baseline = sum(row.value for row in earlier) / len(earlier)
        if baseline == 0:
            # A change relative to nothing is undefined; absolute rules cover zeros.
            continue
        factor = (
            1 + rule.threshold
            if rule.comparator == AlertRule.Comparator.ABOVE
            else 1 - rule.threshold
        )
        if not _breaks(rule.comparator, newest.value, baseline * factor):
            continue
        change = (newest.value - baseline) / baseline
        findings.append(
            Finding(
                dimensions_key=key,
                institution_id=newest.institution_id,
                period_start=newest.period_start,
                value=newest.value,
                baseline=baseline,
                title=_label(rule, key),
                message=(
                    f"指标 {rule.indicator} 在 {newest.period_start} 的值 {newest.value:g}，"
                    f"较前 {len(earlier)} 期均值 {baseline:.2f} 变化 {change:+.1%}，"
                    f"超过允许幅度 {rule.threshold:.0%}。"
                ),
            )
        )
    return findings


def _freshness(rule: AlertRule, today: date) -> list[Finding]:
    found = store.days("clean", rule.dataset)
    if not found:
        # A feed that never delivered shows as failed collection runs; this rule
        # watches a feed that stops arriving.
        return []
    newest = found[-1]
    age = (today - newest).days
    if age <= rule.threshold:
        return []
    data = DATASETS_BY_NAME.get(rule.dataset)
    title = data.title if data is not None else rule.dataset
    return [
        Finding(
            dimensions_key="",
            institution_id=None,
            period_start=newest,
            value=float(age),
            baseline=rule.threshold,
            title=f"数据断供：{title}",
            message=(
                f"数据集 {rule.dataset}（{title}）最新清洗数据为 {newest}，"
                f"已 {age} 天未更新（阈值 {rule.threshold:g} 天）。"
            ),
        )
    ]


def evaluate_rule(rule: AlertRule, *, today: date) -> list[Finding]:
    """The series that break ``rule`` now."""
    if rule.kind == AlertRule.Kind.ABSOLUTE:
        return _absolute(rule)
    if rule.kind == AlertRule.Kind.RELATIVE:
        return _relative(rule)
    if rule.kind == AlertRule.Kind.FRESHNESS:
        return _freshness(rule, today)
    raise ValueError(f"unknown alert rule kind {rule.kind!r}")
