"""Run history bookkeeping shared by collection and cleaning (SB-6, SB-7).

A run row is written when the job starts, so a crash leaves a visible "running" row
rather than nothing, and finished with its counts, status and detail.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from django.utils import timezone

from jingan.supervision.models import JobKind, JobRun, JobStatus

logger = logging.getLogger("jingan.supervision")


def begin_run(kind: JobKind, target: str, day: date | None, *, trigger: str, actor: Any) -> JobRun:
    """Record that a job started."""
    return JobRun.objects.create(
        kind=kind,
        target=target,
        day=day,
        status=JobStatus.RUNNING,
        trigger=trigger,
        started_at=timezone.now(),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


def run_detail(run: JobRun) -> dict[str, Any]:
    try:
        value = json.loads(run.detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def finish_run(
    run: JobRun,
    *,
    rows_in: int,
    rows_out: int,
    rows_rejected: int,
    detail: dict[str, Any] | None = None,
) -> JobRun:
    """Close a run that produced output: partial when any row was refused."""
    run.rows_in = rows_in
    run.rows_out = rows_out
    run.rows_rejected = rows_rejected
    run.status = JobStatus.PARTIAL if rows_rejected else JobStatus.SUCCEEDED
    run.finished_at = timezone.now()
    run.detail = json.dumps({**run_detail(run), **(detail or {})}, ensure_ascii=False)
    run.save()
    logger.info(
        "%s %s %s: %s in=%d out=%d rejected=%d",
        run.kind,
        run.target,
        run.day,
        run.status,
        rows_in,
        rows_out,
        rows_rejected,
    )
    return run


def fail_run(run: JobRun, error: str, *, detail: dict[str, Any] | None = None) -> JobRun:
    """Close a run that could not do its work; ``error`` is the Chinese reason shown."""
    run.status = JobStatus.FAILED
    run.error = error
    run.finished_at = timezone.now()
    run.detail = json.dumps({**run_detail(run), **(detail or {})}, ensure_ascii=False)
    run.save()
    logger.warning("%s %s %s failed: %s", run.kind, run.target, run.day, error)
    return run
