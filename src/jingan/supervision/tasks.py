"""Periodic and queued work of the supervision pipeline; ids in, safe to run twice.

Every job here replaces what it produces (a day's partitions, a day's indicator values),
so running one twice, or after a crash, converges on the same result.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from huey.contrib.djhuey import db_task

from jingan.supervision import pipeline
from jingan.supervision.collection.exchange import process_inbox
from jingan.supervision.models import ExchangeFile, JobRun


def run_yesterday() -> list[JobRun]:
    """The nightly run: yesterday's data of every dataset, then indicators and alerts."""
    return pipeline.run_day(timezone.localdate() - timedelta(days=1), trigger="schedule")


def check_feeds_fresh() -> Any:
    """Raise (or keep open) a freshness alert for every feed that stopped delivering."""
    from jingan.supervision.alerts.services import check_feed_freshness

    return check_feed_freshness(today=timezone.localdate())


def process_exchange_inbox() -> list[ExchangeFile]:
    """Check and land files dropped into the exchange inbox outside a collector run."""
    return process_inbox(trigger="schedule")


@db_task()
def rerun_day_task(day: str, actor_id: int | None, datasets: list[str] | None = None) -> None:
    """A console re-run, queued: the day as ISO text and the actor's id, re-read here."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    pipeline.rerun_day(date.fromisoformat(day), actor=actor, datasets=datasets)
