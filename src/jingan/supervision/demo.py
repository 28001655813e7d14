"""Demo data of the supervision platform (``jingan demo-data``): days of synthetic
sources pulled through the real pipeline (collect → clean → indicators → alerts).

The feed simulator runs in-process and every day goes through ``pipeline.run_day``
exactly as the nightly schedule would send it, so the demo exercises the same code and
leaves the same run records. tiny = 7 days, small = 60, district = 365, ending yesterday.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings

from jingan.integrations.feeds.simulator import FeedSimulator
from jingan.lib.demo import DemoStep, Scale
from jingan.supervision.datasets import DATASETS
from jingan.supervision.lake.store import partition_path
from jingan.supervision.models import IndicatorState, JobKind, JobRun, JobStatus
from jingan.supervision.simulators import synthetic_marker

logger = logging.getLogger("jingan.supervision")

DAYS: dict[str, int] = {"tiny": 7, "small": 60, "district": 365}
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A cleaning run that refused some rows still wrote the day's clean partition.
CLEANED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL)


def demo_days(scale: Scale, *, today: date | None = None) -> list[date]:
    """The demo window for ``scale``: the last N complete days, oldest first."""
    current = today or datetime.now(SHANGHAI).date()
    count = DAYS[scale]
    return [current - timedelta(days=count - offset) for offset in range(count)]


def day_is_loaded(day: date) -> bool:
    """Every dataset of ``day`` was cleaned by a finished run and its clean partition exists."""
    cleaned = set(
        JobRun.objects.filter(kind=JobKind.CLEAN, day=day, status__in=CLEANED).values_list(
            "target", flat=True
        )
    )
    return all(
        data.name in cleaned and partition_path("clean", data.name, day).exists()
        for data in DATASETS
    )


def _record_world(scale: Scale, seed: int) -> None:
    # `jingan serve` / `jingan simulate feeds` continue the same synthetic world later.
    marker = synthetic_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"scale": scale, "seed": seed}))


@contextmanager
def running_feeds(scale: Scale, seed: int, first_day: date, last_day: date) -> Iterator[str]:
    """Serve the feeds in-process for the run, on the configured port when it is free,
    and point ``settings.SUPERVISION["feeds_base_url"]`` at it meanwhile."""
    simulator = FeedSimulator(scale=scale, seed=seed, first_day=first_day, last_day=last_day)
    configured = urlsplit(str(settings.SUPERVISION["feeds_base_url"]))
    host = configured.hostname or "127.0.0.1"
    try:
        url = simulator.start(host, configured.port or 0)
    except OSError:
        # The configured port is taken (e.g. `jingan serve` runs its own simulator, maybe
        # of another scale): use a free port of our own for the demo.
        url = simulator.start("127.0.0.1", 0)
    original = settings.SUPERVISION
    settings.SUPERVISION = {**original, "feeds_base_url": url}
    try:
        yield url
    finally:
        settings.SUPERVISION = original
        simulator.stop()


def load_supervision_data(scale: Scale, advance: Callable[[int], None]) -> None:
    """Collect and clean every demo day through the pipeline (days already loaded are
    skipped), then compute the indicators once over the loaded range and evaluate the
    alert rules: a district year takes minutes this way, not half an hour."""
    from jingan.supervision.alerts.services import evaluate_alerts
    from jingan.supervision.cleaning.runner import bulk_identities
    from jingan.supervision.indicators.runner import compute
    from jingan.supervision.pipeline import run_day

    seed = int(str(settings.SUPERVISION["synthetic_seed"]))
    days = demo_days(scale)
    _record_world(scale, seed)
    pending = [day for day in days if not day_is_loaded(day)]
    advance(len(days) - len(pending))
    # A run interrupted after cleaning still owes the indicators of what it loaded.
    computed_before = IndicatorState.objects.filter(last_run_at__isnull=False).exists()
    if not pending and computed_before:
        advance(1)
        return
    if not pending:
        compute(days=(days[0], days[-1]), trigger="demo")
        evaluate_alerts(trigger="demo")
        advance(1)
        return
    with running_feeds(scale, seed, days[0], days[-1]), bulk_identities():
        for day in pending:
            runs = run_day(day, trigger="demo", analyse=False)
            failed = [f"{run.kind}:{run.target}" for run in runs if run.status == JobStatus.FAILED]
            if failed:
                logger.warning("demo day %s: failed runs %s", day, ", ".join(failed))
            advance(1)
    computed = compute(days=(pending[0], pending[-1]), trigger="demo")
    if computed.status == JobStatus.FAILED:
        logger.warning("demo indicators failed: %s", computed.error)
    evaluate_alerts(trigger="demo")
    advance(1)


STEPS = [
    DemoStep(
        "supervision-data",
        "监管平台演示数据（采集→清洗→指标）",
        lambda scale: DAYS[scale] + 1,  # + the one indicator computation at the end
        load_supervision_data,
    )
]
