"""Scoped reads of the indicator store for pages, exports and alerts (SB-4).

Every read goes through ``IndicatorValue.objects.restrict(user,
"supervision.view_indicatorvalue")``: district-wide grants see every row, institution
staff only the rows of their institutions (never the district totals, which carry no
institution). Longer periods are rolled up from stored ones by the indicator's kind:
counts add up, ratios are Σnumerator/Σdenominator, cumulative stocks take the last
value, and distinct counts (which cannot be added) give the mean per stored period.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.apps import apps

from jingan.supervision.indicators.catalogue import Indicator, dimension_label, indicator
from jingan.supervision.models import IndicatorState, IndicatorValue

__all__ = [
    "BreakdownItem",
    "Point",
    "ROLLUPS",
    "breakdown",
    "freshness",
    "latest",
    "series",
]

VIEW_PERMISSION = "supervision.view_indicatorvalue"
# How each kind rolls up when a page asks for a coarser grain or a whole range.
ROLLUPS = {"count": "sum", "ratio": "ratio", "cumulative": "last", "distinct": "mean"}


@dataclass(frozen=True)
class Point:
    """One value of a series (a stored row, or a roll-up of several)."""

    period_start: date
    value: float
    numerator: float | None
    denominator: float | None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    dimensions_key: str = ""


@dataclass(frozen=True)
class BreakdownItem:
    """One value of a dimension over a whole range (a bar or a pie slice)."""

    dimension: str
    key: str
    label: str
    value: float
    numerator: float | None
    denominator: float | None


def _scoped(user: Any) -> Any:
    return IndicatorValue.objects.restrict(user, VIEW_PERMISSION)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _stored_range(item: Indicator, start: date, end: date) -> tuple[date, date]:
    # A month row is keyed by its first day: a range ending mid-month still includes it.
    if item.grain == "month":
        return _month_start(start), end
    return start, end


def _filter_dimensions(queryset: Any, dimensions_key: str) -> Any:
    """Exact canonical key; a trailing "*" makes it a prefix (e.g. "institution=X|*")."""
    if dimensions_key.endswith("*"):
        return queryset.filter(dimensions_key__startswith=dimensions_key[:-1])
    return queryset.filter(dimensions_key=dimensions_key)


def _institution_id(institution: Any) -> int | None:
    if institution is None:
        return None
    return int(getattr(institution, "pk", institution))


@dataclass
class _Accumulator:
    """Combines stored rows of one bucket the way the indicator's kind allows."""

    rollup: str
    total: float = 0.0
    numerator: float = 0.0
    denominator: float = 0.0
    has_ratio_parts: bool = False
    count: int = 0
    last_period: date | None = None
    last_total: float = 0.0

    def add(self, row: Any) -> None:
        self.count += 1
        self.total += row.value
        if row.numerator is not None and row.denominator is not None:
            self.numerator += row.numerator
            self.denominator += row.denominator
            self.has_ratio_parts = True
        # "last" sums the rows of the newest period (several dimensions of one period).
        if self.last_period is None or row.period_start > self.last_period:
            self.last_period, self.last_total = row.period_start, row.value
        elif row.period_start == self.last_period:
            self.last_total += row.value

    def value(self, periods: int) -> float:
        if self.rollup == "ratio":
            return 100.0 * self.numerator / self.denominator if self.denominator else 0.0
        if self.rollup == "last":
            return self.last_total
        if self.rollup == "mean":
            return self.total / periods if periods else 0.0
        return self.total

    def parts(self) -> tuple[float | None, float | None]:
        if self.has_ratio_parts:
            return self.numerator, self.denominator
        return None, None


def _to_point(row: Any) -> Point:
    return Point(
        period_start=row.period_start,
        value=row.value,
        numerator=row.numerator,
        denominator=row.denominator,
        dimensions=json.loads(row.dimensions or "{}"),
        dimensions_key=row.dimensions_key,
    )


def series(
    user: Any,
    code: str,
    *,
    grain: str,
    start: date,
    end: date,
    dimensions_key: str = "",
    institution: Any = None,
) -> list[Point]:
    """The values of ``code`` from ``start`` to ``end`` (inclusive) within ``user``'s scope.

    ``grain`` equal to the indicator's grain returns stored rows; "month" over a day
    indicator rolls each calendar month up by the indicator's kind (``ROLLUPS``).
    ``dimensions_key`` selects one series ("" = the total); with a trailing "*" it is a
    prefix and every matching series is returned, each point naming its dimensions.
    """
    item = indicator(code)
    if grain not in (item.grain, "month") or (item.grain == "month" and grain != "month"):
        raise ValueError(f"指标 {code} 不支持按 {grain} 粒度查询")
    low, high = _stored_range(item, start, end)
    queryset = _filter_dimensions(
        _scoped(user).filter(
            indicator=code, grain=item.grain, period_start__gte=low, period_start__lte=high
        ),
        dimensions_key,
    )
    institution_id = _institution_id(institution)
    if institution_id is not None:
        queryset = queryset.filter(institution_id=institution_id)
    rows = list(queryset.order_by("period_start", "dimensions_key"))
    if grain == item.grain:
        return [_to_point(row) for row in rows]
    # Day rows rolled up into calendar months.
    buckets: dict[tuple[date, str], _Accumulator] = {}
    periods: dict[date, set[date]] = defaultdict(set)
    dimensions: dict[str, Mapping[str, str]] = {}
    for row in rows:
        month = _month_start(row.period_start)
        buckets.setdefault((month, row.dimensions_key), _Accumulator(ROLLUPS[item.kind])).add(row)
        periods[month].add(row.period_start)
        dimensions.setdefault(row.dimensions_key, json.loads(row.dimensions or "{}"))
    points = []
    for (month, key), accumulator in sorted(buckets.items(), key=lambda entry: entry[0]):
        numerator, denominator = accumulator.parts()
        points.append(
            Point(
                period_start=month,
                value=accumulator.value(len(periods[month])),
                numerator=numerator,
                denominator=denominator,
                dimensions=dimensions[key],
                dimensions_key=key,
            )
        )
    return points


def _institution_labels(keys: set[str]) -> dict[str, str]:
    institution_model = apps.get_model("institutions", "Institution")
    rows = institution_model.objects.unscoped().filter(code__in=sorted(keys))
    return {row.code: row.short_name or row.name for row in rows}


def breakdown(
    user: Any, code: str, *, grain: str, start: date, end: date, dimension: str
) -> list[BreakdownItem]:
    """``code`` over ``start`` .. ``end`` split by ``dimension``, largest first.

    Rows carrying other dimensions too are combined across them; each value of
    ``dimension`` is then rolled up over the range by the indicator's kind
    (cumulative indicators: as of the last stored period in the range).
    """
    item = indicator(code)
    if dimension not in item.dimensions:
        raise ValueError(f"指标 {code} 没有维度 {dimension}")
    if grain != item.grain:
        raise ValueError(f"指标 {code} 的粒度是 {item.grain}，不是 {grain}")
    low, high = _stored_range(item, start, end)
    rows = (
        _scoped(user)
        .filter(indicator=code, grain=item.grain, period_start__gte=low, period_start__lte=high)
        .filter(dimensions_key__contains=f"{dimension}=")
        .order_by("period_start", "dimensions_key")
    )
    buckets: dict[str, _Accumulator] = {}
    periods: set[date] = set()
    for row in rows:
        values = json.loads(row.dimensions or "{}")
        if dimension not in values:
            continue
        buckets.setdefault(values[dimension], _Accumulator(ROLLUPS[item.kind])).add(row)
        periods.add(row.period_start)
    labels = _institution_labels(set(buckets)) if dimension == "institution" else {}
    items = []
    for key, accumulator in buckets.items():
        numerator, denominator = accumulator.parts()
        items.append(
            BreakdownItem(
                dimension=dimension,
                key=key,
                label=labels.get(key) or dimension_label(dimension, key),
                value=accumulator.value(len(periods)),
                numerator=numerator,
                denominator=denominator,
            )
        )
    return sorted(items, key=lambda entry: (-entry.value, entry.key))


def latest(user: Any, code: str, *, dimensions_key: str = "") -> Point | None:
    """The newest stored value of one series of ``code`` within ``user``'s scope."""
    item = indicator(code)
    row = (
        _scoped(user)
        .filter(indicator=code, grain=item.grain, dimensions_key=dimensions_key)
        .order_by("-period_start")
        .first()
    )
    return None if row is None else _to_point(row)


def freshness(code: str) -> IndicatorState:
    """How fresh ``code`` is; an unsaved blank state when it was never computed."""
    indicator(code)
    state = IndicatorState.objects.filter(indicator=code).first()
    return state if state is not None else IndicatorState(indicator=code)
