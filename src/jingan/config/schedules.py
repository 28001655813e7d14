"""Every periodic job of the platform, in one place.

Each context keeps its job functions in its own ``tasks.py`` (or public door); this
module decides when they run. Importing it registers the schedule with Huey, so every
process that consumes tasks (``jingan worker``, ``jingan serve``) imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from jingan.core.public import record_heartbeat


@dataclass(frozen=True)
class Periodic:
    name: str
    schedule: Callable[[Any], bool]
    function: Callable[[], Any]
    description: str


def beat_worker() -> None:
    """Prove the consumer runs tasks: /healthz fails when this stops."""
    record_heartbeat(component="worker")


SCHEDULE: list[Periodic] = [
    Periodic("runtime.worker_heartbeat", crontab(minute="*"), beat_worker, "后台任务进程心跳"),
]

for job in SCHEDULE:
    db_periodic_task(job.schedule, name=job.name)(job.function)


@HUEY.on_startup(name="runtime.worker_started")
def _worker_started() -> None:
    # Runs in each worker thread as the consumer starts, so /healthz is green at once.
    from django.db import close_old_connections

    beat_worker()
    close_old_connections()
