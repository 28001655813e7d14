"""One day through the whole supervision pipeline: collect → clean → indicators → alerts.

The nightly schedule, the demo data step and the console's manual re-run all come
through here, so a day is always processed the same way.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.db import transaction

from jingan.core.public import record_event
from jingan.supervision.cleaning.runner import clean_day
from jingan.supervision.collection.collectors import collect_day
from jingan.supervision.datasets import DATASETS, dataset
from jingan.supervision.models import JobRun, JobStatus

logger = logging.getLogger("jingan.supervision")

# A collection that landed rows (even with some refused) is worth cleaning.
LANDED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL)


def run_day(
    day: date,
    *,
    datasets: list[str] | None = None,
    trigger: str = "schedule",
    actor: Any = None,
    analyse: bool = True,
) -> list[JobRun]:
    """Collect and clean every (or the given) dataset for ``day``, then recompute the
    indicators over that day and evaluate the alert rules; the runs, in order.

    ``analyse=False`` stops after cleaning: a bulk load of many days (the demo, a
    back-fill) computes the indicators once over the whole range instead, because each
    day's recompute reads the cumulative history again.
    """
    # The indicator and alert modules sit above collection; imported here to keep the
    # collection path importable on its own (and free of import cycles).
    from jingan.supervision.alerts.services import evaluate_alerts
    from jingan.supervision.indicators.runner import compute

    names = [dataset(name).name for name in datasets] if datasets else [d.name for d in DATASETS]
    runs: list[JobRun] = []
    for name in names:
        collected = collect_day(name, day, trigger=trigger, actor=actor)
        runs.append(collected)
        if collected.status in LANDED:
            runs.append(clean_day(name, day, trigger=trigger, actor=actor))
    if analyse:
        runs.append(compute(days=(day, day), trigger=trigger, actor=actor))
        evaluate_alerts(trigger=trigger)
    failed = [f"{run.kind}:{run.target}" for run in runs if run.status == JobStatus.FAILED]
    if failed:
        logger.warning("supervision day %s finished with failures: %s", day, ", ".join(failed))
    return runs


def rerun_day(day: date, *, actor: Any, datasets: list[str] | None = None) -> list[JobRun]:
    """Re-run ``day`` by hand (console): the same pipeline, triggered "manual", audited."""
    names = [dataset(name).name for name in datasets] if datasets else None
    try:
        runs = run_day(day, datasets=names, trigger="manual", actor=actor)
    except Exception as error:
        # A crashed re-run is still on record as attempted, by whom and why it failed.
        _audit_rerun(day, actor, names, "failure", {"error": str(error)[:500]})
        raise
    outcome = "success" if all(run.status != JobStatus.FAILED for run in runs) else "failure"
    statuses = {f"{run.kind}:{run.target}": run.status for run in runs}
    _audit_rerun(day, actor, names, outcome, {"runs": statuses})
    return runs


def _audit_rerun(
    day: date, actor: Any, names: list[str] | None, outcome: str, detail: dict[str, object]
) -> None:
    with transaction.atomic():
        record_event(
            action="supervision.rerun_day",
            actor=actor,
            object_type="supervision.day",
            object_id=day.isoformat(),
            outcome=outcome,
            detail={"datasets": names or "all", **detail},
        )
