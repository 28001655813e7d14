"""The one runner of the indicator catalogue (SB-4): declared SQL → DuckDB → the store.

``compute`` decides which periods a run must rewrite (a month touched by the range is
recomputed whole; a cumulative indicator is recomputed from the range start to its
newest data, since every later day depends on it), runs each declaration over the
clean lake, and replaces exactly those ``IndicatorValue`` rows in one transaction per
indicator. One failing indicator is recorded and the others still run.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from jingan.supervision.indicators.catalogue import INDICATORS, Indicator, indicator
from jingan.supervision.lake import store
from jingan.supervision.models import (
    IndicatorState,
    IndicatorValue,
    JobKind,
    JobRun,
    JobStatus,
)

__all__ = [
    "ComputeRange",
    "compute",
    "compute_range",
    "data_range",
    "dimensions_key",
    "sql_for",
]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r":(start|end)\b")
_RESULT_COLUMNS = ("period_start", "value", "numerator", "denominator")
_BATCH_SIZE = 5000


def dimensions_key(dimensions: dict[str, str]) -> str:
    """Canonical "name=value|name=value", sorted by name; "" for the total."""
    return "|".join(f"{name}={dimensions[name]}" for name in sorted(dimensions))


def _date_literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def sql_for(indicator: Indicator, *, start: date | None = None, end: date | None = None) -> str:
    """The SQL the runner executes for ``indicator`` over ``start`` .. ``end`` (inclusive).

    The declaration is wrapped so the columns come in a fixed order and the rows in a
    deterministic one; the range is bound as DATE literals (never string-pasted user
    input: both are ``date`` objects). Without a range the placeholders stay, which is
    how the catalogue page shows a declaration.
    """
    body = indicator.sql.strip()
    if start is not None and end is not None:
        if end < start:
            raise ValueError(f"{indicator.code}: range end {end} before start {start}")
        literals = {"start": _date_literal(start), "end": _date_literal(end)}
        body = _PLACEHOLDER.sub(lambda match: literals[match.group(1)], body)
    columns = ["period_start", *indicator.dimensions, "value", "numerator", "denominator"]
    order = ["period_start", *(f"{name} NULLS FIRST" for name in indicator.dimensions)]
    indented = "\n".join(f"  {line}" if line else "" for line in body.splitlines())
    return (
        f"-- {indicator.code}: {indicator.name} ({indicator.grain}, {indicator.kind})\n"
        f"SELECT {', '.join(columns)}\n"
        f"FROM (\n{indented}\n) AS indicator_rows\n"
        f"ORDER BY {', '.join(order)}\n"
    )


def data_range(item: Indicator) -> tuple[date, date] | None:
    """First and last day with clean data for the indicator's datasets.

    The last day is the oldest of the datasets' newest days: an indicator reading two
    datasets is only complete through the day both have arrived.
    """
    firsts: list[date] = []
    lasts: list[date] = []
    for name in item.datasets:
        found = store.days("clean", name)
        if not found:
            return None
        firsts.append(found[0])
        lasts.append(found[-1])
    return min(firsts), min(lasts)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class ComputeRange:
    """The day range handed to the SQL and the stored periods it replaces."""

    start: date
    end: date
    first_period: date
    last_period: date


def compute_range(
    item: Indicator, requested: tuple[date, date] | None, available: tuple[date, date]
) -> ComputeRange | None:
    """The range a run recomputes for ``item``, or None when there is nothing to do."""
    first, last = available
    start, end = requested if requested is not None else available
    if item.kind == "cumulative":
        # Every later day's total includes the days being rewritten.
        end = max(end, last)
    if item.grain == "month":
        # A month is stored whole (month to date for the newest one).
        start, end = _month_start(start), _month_end(end)
    start, end = max(start, first), min(end, last)
    if end < start:
        return None
    if item.grain == "month":
        return ComputeRange(start, end, _month_start(start), _month_start(end))
    return ComputeRange(start, end, start, end)


def _institutions_by_code(codes: Iterable[str]) -> dict[str, Any]:
    # The one-door contract keeps jingan.core.institutions out of our imports; the app
    # registry gives the model without importing its module.
    institution_model = apps.get_model("institutions", "Institution")
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {row.code: row for row in institution_model.objects.unscoped().filter(code__in=wanted)}


def _rows(connection: Any, item: Indicator, sql: str) -> list[dict[str, Any]]:
    cursor = connection.execute(sql)
    names = [column[0] for column in cursor.description]
    expected = ["period_start", *item.dimensions, "value", "numerator", "denominator"]
    if names != expected:
        raise ValueError(f"{item.code}: SQL returned columns {names}, expected {expected}")
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _values(
    item: Indicator, rows: list[dict[str, Any]], run: JobRun, now: Any
) -> tuple[list[IndicatorValue], list[str]]:
    """Store rows for the SQL result, and the institution codes no Institution matches."""
    institutions: dict[str, Any] = {}
    if "institution" in item.dimensions:
        institutions = _institutions_by_code(
            str(row["institution"]) for row in rows if row["institution"] is not None
        )
    unknown: set[str] = set()
    values = []
    for row in rows:
        if row["value"] is None:
            continue
        dimensions = {name: str(row[name]) for name in item.dimensions if row[name] is not None}
        institution = None
        if "institution" in dimensions:
            institution = institutions.get(dimensions["institution"])
            if institution is None:
                # Kept as a district-only row (no institution can see it) and reported,
                # rather than dropped.
                unknown.add(dimensions["institution"])
        values.append(
            IndicatorValue(
                indicator=item.code,
                grain=item.grain,
                period_start=row["period_start"],
                dimensions_key=dimensions_key(dimensions),
                dimensions=json.dumps(dimensions, ensure_ascii=False, sort_keys=True),
                institution=institution,
                value=float(row["value"]),
                numerator=None if row["numerator"] is None else float(row["numerator"]),
                denominator=None if row["denominator"] is None else float(row["denominator"]),
                computed_at=now,
                run=run,
            )
        )
    return values, sorted(unknown)


def _record_state(code: str, *, data_through: date | None, error: str, now: Any) -> None:
    IndicatorState.objects.update_or_create(
        indicator=code,
        defaults={"data_through": data_through, "last_run_at": now, "last_error": error},
    )


def _compute_one(
    connection: Any, item: Indicator, days: tuple[date, date] | None, run: JobRun
) -> dict[str, Any]:
    """Recompute one indicator; returns its entry of the run detail."""
    available = data_range(item)
    if available is None:
        _record_state(item.code, data_through=None, error="", now=timezone.now())
        return {"rows": 0, "skipped": "尚无清洗后数据"}
    scope = compute_range(item, days, available)
    if scope is None:
        _record_state(item.code, data_through=available[1], error="", now=timezone.now())
        return {"rows": 0, "skipped": "请求范围内无数据"}
    rows = _rows(connection, item, sql_for(item, start=scope.start, end=scope.end))
    now = timezone.now()
    values, unknown = _values(item, rows, run, now)
    with transaction.atomic():
        IndicatorValue.objects.unscoped().filter(
            indicator=item.code,
            grain=item.grain,
            period_start__gte=scope.first_period,
            period_start__lte=scope.last_period,
        ).delete()
        IndicatorValue.objects.bulk_create(values, batch_size=_BATCH_SIZE)
        _record_state(item.code, data_through=available[1], error="", now=now)
    entry: dict[str, Any] = {
        "rows": len(values),
        "result_rows": len(rows),
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
    }
    if unknown:
        logger.warning("indicator %s: unknown institution codes %s", item.code, unknown)
        entry["unknown_institutions"] = unknown
    return entry


def compute(
    codes: Iterable[str] | None = None,
    *,
    days: tuple[date, date] | None = None,
    trigger: str = "schedule",
    actor: Any = None,
) -> JobRun:
    """Recompute the indicators ``codes`` (all when None) over ``days`` (all data when
    None) and record the run (SB-4, SB-6)."""
    selected = INDICATORS if codes is None else tuple(indicator(code) for code in codes)
    if days is not None and days[1] < days[0]:
        raise ValueError(f"day range end {days[1]} before start {days[0]}")
    target = "all" if codes is None else ",".join(item.code for item in selected)
    if len(target) > 64:
        target = f"{len(selected)} indicators"
    single_day = days[0] if days is not None and days[0] == days[1] else None
    run = JobRun.objects.create(
        kind=JobKind.INDICATORS,
        target=target,
        day=single_day,
        status=JobStatus.RUNNING,
        trigger=trigger,
        started_at=timezone.now(),
        actor=actor,
    )
    detail: dict[str, Any] = {
        "days": None if days is None else [days[0].isoformat(), days[1].isoformat()],
        "indicators": {},
    }
    errors: list[str] = []
    written = 0
    result_rows = 0
    connection = store.connect()
    try:
        for item in selected:
            try:
                entry = _compute_one(connection, item, days, run)
            except Exception as error:  # one bad declaration must not stop the others
                logger.exception("indicator %s failed", item.code)
                message = f"{type(error).__name__}: {error}"
                errors.append(f"{item.code}: {message}")
                available = data_range(item)
                _record_state(
                    item.code,
                    data_through=None if available is None else available[1],
                    error=message[:2000],
                    now=timezone.now(),
                )
                detail["indicators"][item.code] = {"rows": 0, "error": message[:500]}
                continue
            written += entry["rows"]
            result_rows += entry.get("result_rows", 0)
            detail["indicators"][item.code] = entry
    finally:
        connection.close()
    if not errors:
        status = JobStatus.SUCCEEDED
    elif len(errors) < len(selected):
        status = JobStatus.PARTIAL
    else:
        status = JobStatus.FAILED
    run.status = status
    run.finished_at = timezone.now()
    run.rows_in = result_rows
    run.rows_out = written
    run.error = "\n".join(errors)
    run.detail = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    run.save(update_fields=["status", "finished_at", "rows_in", "rows_out", "error", "detail"])
    logger.info("indicator run %s: %s, %d values", run.pk, status, written)
    return run
