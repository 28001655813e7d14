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

from jingan.core.crypto.requests import prune_used_nonces
from jingan.core.public import (
    record_heartbeat,
    sign_audit_checkpoint,
    sweep_outbox,
    verify_audit_chain,
)
from jingan.medical_records.archive_services import (
    fetch_all_pending_documents,
    poll_due_sources,
)
from jingan.medical_records.copy_services import prepare_pending_copies, purge_expired_copies
from jingan.prescriptions.erx.tasks import poll_outstanding_job
from jingan.supervision.tasks import check_feeds_fresh, process_exchange_inbox, run_yesterday


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
    Periodic("messaging.outbox_sweep", crontab(minute="*"), sweep_outbox, "补发未送达的微信消息"),
    Periodic(
        "crypto.prune_used_nonces",
        crontab(minute="*/10"),
        prune_used_nonces,
        "清理已过期的签名请求随机串",
    ),
    Periodic(
        "audit.sign_checkpoint",
        crontab(minute="5"),
        sign_audit_checkpoint,
        "审计日志 SM2 检查点签名（每小时）",
    ),
    Periodic(
        "medical_records.poll_archives",
        crontab(minute="*"),
        poll_due_sources,
        "拉取到期的机构病案归档（按各机构拉取间隔，默认每 5 分钟）",
    ),
    Periodic(
        "medical_records.fetch_archive_documents",
        crontab(minute="*/5"),
        fetch_all_pending_documents,
        "下载待上传的病案文档（SM3 校验、SM4 加密存储）",
    ),
    Periodic(
        "medical_records.prepare_pending_copies",
        crontab(minute="*/10"),
        prepare_pending_copies,
        "补做已审核通过但尚未制作的病案复印件",
    ),
    Periodic(
        "medical_records.purge_expired_copies",
        crontab(minute="20", hour="3"),
        purge_expired_copies,
        "清除超过下载期限的电子复印件文件（每夜）",
    ),
    Periodic(
        "erx.poll_outstanding_prescriptions",
        crontab(minute="*/5"),
        poll_outstanding_job,
        "查询已上传电子处方的审核与取药结果（补偿丢失的中心通知），标记过期处方",
    ),
    Periodic(
        "audit.verify_chain",
        crontab(minute="40", hour="2"),
        verify_audit_chain,
        "审计链完整性校验（每夜）",
    ),
    Periodic(
        "supervision.run_yesterday",
        crontab(minute="30", hour="2"),
        run_yesterday,
        "监管数据：采集、清洗前一日数据并计算指标、评估预警（每夜 02:30）",
    ),
    Periodic(
        "supervision.check_feed_freshness",
        crontab(minute="15"),
        check_feeds_fresh,
        "监管数据源断供检查（每小时）",
    ),
    Periodic(
        "supervision.process_exchange_inbox",
        crontab(minute="*/5"),
        process_exchange_inbox,
        "处理数据交换区待交换文件（校验、接收或隔离、入湖）",
    ),
]

for job in SCHEDULE:
    db_periodic_task(job.schedule, name=job.name)(job.function)


@HUEY.on_startup(name="runtime.worker_started")
def _worker_started() -> None:
    # Runs in each worker thread as the consumer starts, so /healthz is green at once.
    from django.db import close_old_connections

    beat_worker()
    close_old_connections()
