"""Deliver outbox entries through WeChat: claim once, send, then sent / retry later / dead.

Tasks call ``deliver_outbox_entry`` with an id; it re-reads the row, so running it twice
or for an entry someone else already sent does nothing. The claim is one conditional
UPDATE (pending or failed and due → sending), so at most one worker ever sends an entry.
No database transaction is held while WeChat is being called.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jingan.core.audit.services import record_event
from jingan.core.messaging.models import OutboxEntry
from jingan.integrations.wechat import WeChatConfig, WeChatError, WeChatPort, get_wechat

logger = logging.getLogger(__name__)

# Attempt n waits BACKOFF_BASE * 2**(n-1) seconds (30 s, 1 min, 2 min, 4 min, 8 min);
# after MAX_ATTEMPTS the entry is dead and waits for an operator in the outbox console.
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
# A claim older than this means the worker died mid-send: whether WeChat got the message
# is unknown, so the entry goes to an operator instead of risking a second push.
STALE_CLAIM_AFTER = timedelta(minutes=10)
# The sweeper leaves a due entry alone this long, since its own task is normally on the way.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 500

Status = OutboxEntry.Status


def backoff_seconds(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def wechat_port() -> WeChatPort:
    """The WeChat adapter for the configured official account (``settings.WECHAT``)."""
    config: dict[str, Any] = dict(settings.WECHAT)
    return get_wechat(WeChatConfig(**config))


def _claim(entry_id: int) -> bool:
    now = timezone.now()
    claimed = OutboxEntry.objects.filter(
        pk=entry_id, status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now
    ).update(status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    return claimed == 1


def _send(entry: OutboxEntry, port: WeChatPort) -> str:
    resident = entry.message.resident
    if resident is None or not resident.openid:
        raise WeChatError(-3, "居民未绑定微信，无法推送", False)
    payload = entry.payload
    data = {str(key): str(value) for key, value in dict(payload.get("data", {})).items()}
    if entry.channel == OutboxEntry.Channel.WECHAT_SUBSCRIBE:
        return port.send_subscribe_message(
            openid=resident.openid,
            template_id=str(payload["template_id"]),
            data=data,
            page=str(payload.get("url", "")),
        )
    return port.send_template_message(
        openid=resident.openid,
        template_id=str(payload["template_id"]),
        data=data,
        url=str(payload.get("url", "")),
    )


def deliver_outbox_entry(entry_id: int, *, port: WeChatPort | None = None) -> str:
    """Try one delivery of an outbox entry; returns its status afterwards ("" if not claimed)."""
    if not _claim(entry_id):
        return ""
    entry = OutboxEntry.objects.select_related("message__resident").get(pk=entry_id)
    try:
        external_id = _send(entry, port or wechat_port())
    except WeChatError as error:
        return _failed(entry, f"{error.errcode} {error.errmsg}", retryable=error.retryable)
    except Exception as error:
        # A bug or an unexpected library error: keep the entry alive rather than stuck
        # in "sending", and leave the traceback in the log.
        logger.exception("outbox entry %s: unexpected error while sending", entry_id)
        return _failed(entry, f"{type(error).__name__}: {error}", retryable=True)
    OutboxEntry.objects.filter(pk=entry_id, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), external_id=external_id[:128], last_error=""
    )
    return Status.SENT


def _failed(entry: OutboxEntry, reason: str, *, retryable: bool) -> str:
    attempts = entry.attempts  # already counts this attempt (incremented by the claim)
    if retryable and attempts < MAX_ATTEMPTS:
        delay = backoff_seconds(attempts)
        OutboxEntry.objects.filter(pk=entry.pk, status=Status.SENDING).update(
            status=Status.FAILED,
            last_error=reason[:1000],
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        from jingan.core.messaging.tasks import schedule_delivery

        schedule_delivery(entry.pk, delay_seconds=delay)
        return Status.FAILED
    _bury(entry.pk, reason=reason, attempts=attempts, resident_id=entry.message.resident_id)
    return Status.DEAD


def _bury(entry_id: int, *, reason: str, attempts: int, resident_id: int | None) -> None:
    with transaction.atomic():
        changed = OutboxEntry.objects.filter(pk=entry_id, status=Status.SENDING).update(
            status=Status.DEAD, last_error=reason[:1000]
        )
        if changed:
            record_event(
                action="messaging.outbox.dead",
                resident_id=resident_id,
                object_type="messaging.outboxentry",
                object_id=str(entry_id),
                outcome="failure",
                detail={"attempts": attempts, "reason": reason[:200]},
            )


def sweep_outbox() -> dict[str, Any]:
    """Re-enqueue due entries whose task got lost; bury claims abandoned mid-send."""
    from jingan.core.messaging.tasks import enqueue_delivery

    now = timezone.now()
    stale = list(
        OutboxEntry.objects.filter(status=Status.SENDING, claimed_at__lt=now - STALE_CLAIM_AFTER)
        .select_related("message")
        .order_by("pk")[:SWEEP_BATCH]
    )
    for entry in stale:
        _bury(
            entry.pk,
            reason="发送中断，微信是否收到未知；请核实后决定是否重新发送",
            attempts=entry.attempts,
            resident_id=entry.message.resident_id,
        )
    due = list(
        OutboxEntry.objects.filter(
            status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now - SWEEP_GRACE
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for entry_id in due:
        enqueue_delivery(entry_id)
    return {"requeued": len(due), "abandoned": len(stale)}
