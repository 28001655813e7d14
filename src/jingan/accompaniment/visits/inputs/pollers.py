"""The polling half of the dual drive (VA-3): read the HIS systems that do not push.

Dialect C (互联互通 SOAP web service) and D (database views) institutions are polled on
their own schedule (``HisConnection.poll_interval_seconds``). One poll reads the events
after the stored watermark, appends them to the journal, keeps the records it could not
read as rejected messages, and stores the new watermark and counters, all in one
transaction: a crash before the commit leaves the old watermark, and the next poll reads
the same events again (the journal ignores the ones it already has).

When a HIS is down, polls back off exponentially with jitter, and after
``settings.VISITS["circuit_failure_threshold"]`` failures in a row the circuit opens:
no polls until the back-off has passed; then one trial poll (half-open) closes the
circuit on success or opens it again with a longer back-off. The console shows it all.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.models import CircuitState, HisConnection, RejectedMessage
from jingan.integrations.his.canonical import to_canonical
from jingan.integrations.his.port import (
    HisEvent,
    HisUnavailable,
    MessageRejected,
    PolledHis,
    PollResult,
)
from jingan.integrations.his.simulation import source_for
from jingan.lib.background import BackgroundComponent

logger = logging.getLogger(__name__)

__all__ = [
    "COMPONENT",
    "POLLED_DIALECTS",
    "PollOutcome",
    "backoff_seconds",
    "build_adapter",
    "poll_connection",
    "run_due_polls",
]

# Dialect → the journal channel of its records (how a kept record is replayed).
POLLED_DIALECTS: dict[str, str] = {"C": "soap", "D": "views"}

# Records one poll reads at most (beyond an overlap window); when more are waiting, the
# next poll follows at once.
POLL_LIMIT = 500
# Kept records (newest first) compared when a poll returns rejected ones: a record re-read
# in an overlap window is kept once, not once per poll.
_RECENT_REJECTED = 500

_random = random.Random()


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of one connection did."""

    connection_id: int
    institution_code: str
    polled: bool
    ok: bool
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    circuit: str = CircuitState.CLOSED
    message: str = ""
    next_poll_at: datetime | None = None


def _setting(name: str, default: Any = None) -> Any:
    return settings.VISITS.get(name, default)


def backoff_seconds(interval: int, failures: int) -> float:
    """The pause after ``failures`` failures in a row: doubling, capped, with ±20 % jitter.

    Jitter spreads the retries of many pollers that lost their HIS at the same moment.
    """
    cap = float(_setting("poll_max_backoff_seconds"))
    base = min(cap, max(1, interval) * 2.0 ** max(0, failures - 1))
    return min(cap, base * _random.uniform(0.8, 1.2))


def build_adapter(connection_row: HisConnection) -> PolledHis:
    """The dialect's adapter for this connection (C: SOAP web service, D: database views)."""
    dialect = connection_row.institution.his_dialect
    if dialect == "C":
        from jingan.integrations.his.soap.adapter import SoapHis

        return SoapHis(connection_row.endpoint)
    if dialect == "D":
        from jingan.integrations.his.views.adapter import ViewsHis

        return ViewsHis(connection_row.endpoint, password=connection_row.secret or None)
    raise ValueError(f"dialect {dialect!r} is not polled")


def poll_connection(connection_id: int, *, now: datetime | None = None) -> PollOutcome:
    """Poll one institution's HIS now (unless its circuit is open and not yet due)."""
    now = now or timezone.now()
    row = _load(connection_id)
    if row.circuit == CircuitState.OPEN and row.next_poll_at is not None and row.next_poll_at > now:
        return PollOutcome(
            row.pk,
            row.institution.code,
            polled=False,
            ok=False,
            circuit=row.circuit,
            message="熔断中，等待退避结束",
            next_poll_at=row.next_poll_at,
        )
    return _poll(row, now)


def _load(connection_id: int) -> HisConnection:
    return HisConnection.objects.unscoped().select_related("institution").get(pk=connection_id)


def _poll(row: HisConnection, now: datetime) -> PollOutcome:
    code = row.institution.code
    dialect = row.institution.his_dialect
    if dialect not in POLLED_DIALECTS or not row.is_enabled:
        return PollOutcome(
            row.pk, code, polled=False, ok=False, circuit=row.circuit, message="该机构不需轮询"
        )
    if row.circuit == CircuitState.OPEN:
        # The back-off has passed: one trial poll decides whether the circuit closes.
        HisConnection.objects.unscoped().filter(pk=row.pk).update(circuit=CircuitState.HALF_OPEN)
        row.circuit = CircuitState.HALF_OPEN
        logger.info("HIS poll circuit half-open for %s: trial poll", code)
    watermark = row.watermark
    try:
        adapter = build_adapter(row)
        result = adapter.poll(code, watermark, limit=POLL_LIMIT)
    except Exception as error:
        if not isinstance(error, HisUnavailable):
            logger.exception("HIS poll of %s failed unexpectedly", code)
        return _record_failure(row.pk, code, error, now)
    # An adapter that re-reads an overlap window says itself whether it stopped at the
    # limit; for the others a full batch means more is waiting.
    more_waiting = getattr(adapter, "more_waiting", None)
    if more_waiting is None:
        more_waiting = len(result.events) + len(result.rejected) >= POLL_LIMIT
    try:
        return _record_success(
            row.pk, code, dialect, watermark, result, now, more_waiting=bool(more_waiting)
        )
    except MessageRejected as error:
        # The journal refused the batch as a whole (e.g. the institution was deactivated).
        return _record_failure(row.pk, code, HisUnavailable(error.reason), now)


def _record_success(
    connection_id: int,
    code: str,
    dialect: str,
    polled_from: str,
    result: PollResult,
    now: datetime,
    *,
    more_waiting: bool,
) -> PollOutcome:
    limit = HisConnection._meta.get_field("watermark").max_length or 100
    if len(result.watermark) > limit:
        return _record_failure(
            connection_id, code, ValueError(f"新水位超过 {limit} 个字符，无法保存"), now
        )
    own = [event for event in result.events if event.institution_code == code]
    foreign = [event for event in result.events if event.institution_code != code]
    with transaction.atomic():
        row = HisConnection.objects.unscoped().select_for_update().get(pk=connection_id)
        if row.watermark != polled_from:
            # Another poller (another process) committed this poll's window first.
            return PollOutcome(
                row.pk,
                code,
                polled=True,
                ok=True,
                circuit=row.circuit,
                message="另一轮询进程已处理",
                next_poll_at=row.next_poll_at,
            )
        ingested = journal.ingest(own) if own else journal.IngestResult(0, 0)
        rejected = _keep_rejected(dialect, code, result.rejected)
        rejected += _keep_foreign(dialect, code, foreign)
        was = row.circuit
        advanced = result.watermark != polled_from
        row.watermark = result.watermark
        row.circuit = CircuitState.CLOSED
        row.consecutive_failures = 0
        row.last_poll_at = now
        row.last_success_at = now
        row.last_error = ""
        row.events_received += ingested.accepted
        if ingested.accepted:
            row.last_event_at = now
        # More is waiting behind this batch: poll again straight away.
        row.next_poll_at = (
            now if more_waiting and advanced else now + timedelta(seconds=row.poll_interval_seconds)
        )
        row.save(
            update_fields=[
                "watermark",
                "circuit",
                "consecutive_failures",
                "last_poll_at",
                "last_success_at",
                "last_error",
                "events_received",
                "last_event_at",
                "next_poll_at",
            ]
        )
    if was != CircuitState.CLOSED:
        logger.info("HIS poll circuit closed for %s", code)
    if ingested.accepted or rejected:
        logger.info(
            "polled %s: %d new, %d duplicates, %d rejected",
            code,
            ingested.accepted,
            ingested.duplicates,
            rejected,
        )
    return PollOutcome(
        row.pk,
        code,
        polled=True,
        ok=True,
        accepted=ingested.accepted,
        duplicates=ingested.duplicates,
        rejected=rejected,
        circuit=row.circuit,
        message=f"新事件 {ingested.accepted} 个，重复 {ingested.duplicates} 个，拒收 {rejected} 条",
        next_poll_at=row.next_poll_at,
    )


def _record_failure(
    connection_id: int, code: str, error: BaseException, now: datetime
) -> PollOutcome:
    threshold = int(_setting("circuit_failure_threshold"))
    message = str(error) if isinstance(error, HisUnavailable) else f"轮询出错：{error}"
    with transaction.atomic():
        row = HisConnection.objects.unscoped().select_for_update().get(pk=connection_id)
        was = row.circuit
        row.consecutive_failures += 1
        row.last_poll_at = now
        row.last_error = message[:500]
        row.next_poll_at = now + timedelta(
            seconds=backoff_seconds(row.poll_interval_seconds, row.consecutive_failures)
        )
        if was == CircuitState.HALF_OPEN or row.consecutive_failures >= threshold:
            row.circuit = CircuitState.OPEN
        row.save(
            update_fields=[
                "consecutive_failures",
                "last_poll_at",
                "last_error",
                "next_poll_at",
                "circuit",
            ]
        )
    if row.circuit == CircuitState.OPEN and was != CircuitState.OPEN:
        logger.warning(
            "HIS poll circuit open for %s after %d failures: %s",
            code,
            row.consecutive_failures,
            message,
        )
    else:
        logger.warning(
            "HIS poll of %s failed (%d in a row): %s", code, row.consecutive_failures, message
        )
    return PollOutcome(
        row.pk,
        code,
        polled=True,
        ok=False,
        circuit=row.circuit,
        message=message,
        next_poll_at=row.next_poll_at,
    )


def _keep_rejected(dialect: str, code: str, records: Sequence[tuple[str, MessageRejected]]) -> int:
    """Keep the records we could not read, each once."""
    return _keep_once(POLLED_DIALECTS[dialect], source_for(dialect, code), code, records)


def _keep_foreign(dialect: str, code: str, events: Sequence[HisEvent]) -> int:
    """A HIS may only report its own institution's visits; keep the others for review."""
    records = [
        (
            json.dumps(to_canonical(event), ensure_ascii=False),
            MessageRejected(
                "foreign_institution",
                f"机构 {code} 的 HIS 返回了其他机构（{event.institution_code}）的事件",
            ),
        )
        for event in events
    ]
    # Kept in the canonical form: a reviewer can replay it through the third-party channel.
    return _keep_once("api", source_for(dialect, code), code, records)


def _keep_once(
    channel: str, source: str, code: str, records: Sequence[tuple[str, MessageRejected]]
) -> int:
    # The overlap window re-reads records; one already kept (in any state) is not kept again.
    if not records:
        return 0
    recent = (
        RejectedMessage.objects.unscoped()
        .filter(channel=channel, source=source)
        .order_by("-id")[:_RECENT_REJECTED]
    )
    # The raw text is encrypted at rest, so it is compared after decryption, here.
    known = {row.raw for row in recent}
    kept = 0
    for raw, error in records:
        if raw in known:
            continue
        journal.reject(channel=channel, raw=raw, error=error, source=source, institution_code=code)
        known.add(raw)
        kept += 1
    return kept


def due_connections(now: datetime) -> list[int]:
    """Enabled C/D connections of active institutions whose next poll is due."""
    return list(
        HisConnection.objects.unscoped()
        .filter(
            is_enabled=True,
            institution__is_active=True,
            institution__his_dialect__in=list(POLLED_DIALECTS),
        )
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .order_by("next_poll_at", "pk")
        .values_list("pk", flat=True)
    )


def _claim(connection_id: int, now: datetime) -> bool:
    """Take the poll for this process: push ``next_poll_at`` out so no other poller starts it.

    If this process dies mid-poll, the connection is due again after the claim lapses.
    """
    claimed_until = now + timedelta(seconds=60)
    return bool(
        HisConnection.objects.unscoped()
        .filter(pk=connection_id)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .update(next_poll_at=claimed_until)
    )


def run_due_polls(now: datetime | None = None, *, max_workers: int | None = None) -> int:
    """Poll every connection that is due; returns how many were polled.

    Polls run concurrently (``settings.VISITS["poll_workers"]``, default 4): a slow HIS
    does not hold up the others.
    """
    now = now or timezone.now()
    due = [pk for pk in due_connections(now) if _claim(pk, now)]
    if not due:
        return 0
    workers = max_workers or int(_setting("poll_workers", 4))
    if workers <= 1 or len(due) == 1:
        return sum(_poll_quietly(pk, now) for pk in due)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="his-poll") as pool:
        return sum(pool.map(lambda pk: _poll_in_thread(pk, now), due))


def _poll_quietly(connection_id: int, now: datetime) -> int:
    # Claimed because it was due: an open circuit gets its trial poll here.
    try:
        outcome = _poll(_load(connection_id), now)
    except Exception:
        logger.exception("HIS poll of connection %s crashed", connection_id)
        return 0
    return int(outcome.polled)


def _poll_in_thread(connection_id: int, now: datetime) -> int:
    try:
        return _poll_quietly(connection_id, now)
    finally:
        # Worker threads end with the pool; their database connections must not linger.
        connection.close()


def _run(stop: threading.Event) -> None:
    while not stop.is_set():
        close_old_connections()
        try:
            run_due_polls()
        except Exception:
            logger.exception("HIS pollers: round failed")
        stop.wait(1.0)
    connection.close()


COMPONENT = BackgroundComponent("his-pollers", "HIS 轮询", _run)
