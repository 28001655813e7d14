"""Health of the parts the platform needs: database, cache, job broker, worker, data dir.

Each check returns a ``ComponentHealth``; ``platform_health`` runs them all. Checks never
raise: a failure is reported with a short reason that is safe to show anonymously
(no hosts, paths or credentials).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from jingan.core.runtime.models import Heartbeat

# Below this much free space the data directory is reported as failing.
MIN_FREE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class ComponentHealth:
    ok: bool
    detail: str
    latency_ms: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformHealth:
    ok: bool
    mode: str
    checked_at: datetime
    components: dict[str, ComponentHealth]

    @property
    def failed(self) -> list[str]:
        return [name for name, health in self.components.items() if not health.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "fail",
            "mode": self.mode,
            "checked_at": self.checked_at.isoformat(),
            "failed": self.failed,
            "components": {name: asdict(health) for name, health in self.components.items()},
        }


def _timed(check: Callable[[], ComponentHealth]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as error:  # a health check reports, it never raises
        return ComponentHealth(ok=False, detail=f"{type(error).__name__}: 不可用")
    latency = round((time.perf_counter() - started) * 1000, 2)
    return ComponentHealth(result.ok, result.detail, latency, result.facts)


def check_database() -> ComponentHealth:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ComponentHealth(True, "可用", facts={"engine": connection.vendor})


def check_cache() -> ComponentHealth:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    value = cache.get(key)
    cache.delete(key)
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    if value != "1":
        return ComponentHealth(False, "写入后读不回", facts={"backend": backend})
    return ComponentHealth(True, "可用", facts={"backend": backend})


def check_broker() -> ComponentHealth:
    from huey.contrib.djhuey import HUEY

    pending = HUEY.pending_count()
    return ComponentHealth(
        True, "可用", facts={"backend": type(HUEY.storage).__name__, "pending": pending}
    )


def check_worker() -> ComponentHealth:
    max_age = settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS
    latest = Heartbeat.objects.filter(component="worker").order_by("-seen_at").first()
    if latest is None:
        return ComponentHealth(False, "后台任务进程从未上报心跳", facts={"max_age_s": max_age})
    age = (timezone.now() - latest.seen_at).total_seconds()
    alive = Heartbeat.objects.filter(
        component="worker", seen_at__gte=timezone.now() - timedelta(seconds=max_age)
    ).count()
    facts = {"age_s": round(age, 1), "max_age_s": max_age, "alive_instances": alive}
    if age > max_age:
        return ComponentHealth(False, f"后台任务进程心跳已停止 {int(age)} 秒", facts=facts)
    return ComponentHealth(True, "运行中", facts=facts)


def check_data_dir() -> ComponentHealth:
    data_dir = Path(settings.DATA_DIR)
    probe = data_dir / f".healthz-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()
    free = shutil.disk_usage(data_dir).free
    facts = {"free_mb": free // (1024 * 1024)}
    if free < MIN_FREE_BYTES:
        return ComponentHealth(False, "数据目录剩余空间不足", facts=facts)
    return ComponentHealth(True, "可写", facts=facts)


COMPONENT_TITLES = {
    "database": "数据库",
    "cache": "缓存",
    "broker": "任务队列",
    "worker": "后台任务进程",
    "data_dir": "数据目录",
}

CHECKS: dict[str, Callable[[], ComponentHealth]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
    "data_dir": check_data_dir,
}


def platform_health() -> PlatformHealth:
    components = {name: _timed(check) for name, check in CHECKS.items()}
    return PlatformHealth(
        ok=all(health.ok for health in components.values()),
        mode=settings.PLATFORM_MODE,
        checked_at=timezone.now(),
        components=components,
    )
