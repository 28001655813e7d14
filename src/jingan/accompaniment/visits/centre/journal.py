"""The one door into the journal: every input (HL7, REST push, SOAP and view pollers, AMQP,
the third-party API) hands its events to ``ingest`` or its raw message to ``take``.

A repeated ``(source, source_event_id)`` is a no-op. A message that cannot be parsed is
kept in ``RejectedMessage`` with its reason and can be replayed after a fix.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jingan.accompaniment.visits.centre import wakeup
from jingan.integrations.his.port import HisEvent, MessageRejected

logger = logging.getLogger(__name__)

__all__ = [
    "IngestResult",
    "TakeResult",
    "event_body",
    "ingest",
    "partition_count",
    "partition_for",
    "reject",
    "take",
]


def partition_count() -> int:
    return int(settings.VISITS["partitions"])


def partition_for(institution_code: str, visit_key: str, partitions: int | None = None) -> int:
    """The stable partition of a visit: CRC-32 of ``code/visit_key`` modulo P."""
    count = partitions or partition_count()
    return zlib.crc32(f"{institution_code}/{visit_key}".encode()) % count


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    event_ids: tuple[int, ...] = ()


def event_body(event: HisEvent) -> str:
    """What the journal keeps encrypted beside the indexed columns."""
    patient = {
        key: value
        for key, value in (
            ("name", event.patient.name),
            ("id_number", event.patient.id_number),
            ("card_number", event.patient.card_number),
        )
        if value
    }
    return json.dumps(
        {"patient": patient, "payload": dict(event.payload)}, ensure_ascii=False, default=str
    )


def _institutions(codes: Iterable[str]) -> dict[str, int]:
    from django.apps import apps

    institution_model = apps.get_model("institutions", "Institution")
    return dict(
        institution_model.objects.unscoped()
        .filter(code__in=set(codes), is_active=True)
        .values_list("code", "pk")
    )


def ingest(events: Sequence[HisEvent], *, received_at: datetime | None = None) -> IngestResult:
    """Append ``events`` to the journal; repeats of a known ``(source, source_event_id)`` are skipped.

    Raises ``MessageRejected`` (``unknown_institution``) before writing anything if an
    event names an institution we do not know. Commits on its own (or joins the caller's
    transaction); sub-centres pick the events up from there.
    """
    from jingan.accompaniment.visits.models import VisitEvent

    if not events:
        return IngestResult(0, 0)
    institution_ids = _institutions(event.institution_code for event in events)
    unknown = sorted({e.institution_code for e in events} - set(institution_ids))
    if unknown:
        raise MessageRejected(
            "unknown_institution", f"未知或未启用的医疗机构编码：{'、'.join(unknown)}"
        )
    now = received_at or timezone.now()
    partitions = partition_count()
    # One event per key even within one batch (a HIS may send the same message twice at once).
    unique: dict[tuple[str, str], HisEvent] = {}
    for event in events:
        unique.setdefault((event.source, event.source_event_id), event)
    known = set(
        VisitEvent.objects.unscoped()
        .filter(
            source__in={key[0] for key in unique},
            source_event_id__in={key[1] for key in unique},
        )
        .values_list("source", "source_event_id")
    )
    rows = [
        VisitEvent(
            source=event.source,
            source_event_id=event.source_event_id,
            institution_id=institution_ids[event.institution_code],
            visit_key=event.visit_key,
            partition=partition_for(event.institution_code, event.visit_key, partitions),
            node=event.node,
            item=event.item,
            status=event.status,
            kind=str(event.kind),
            target_event_id=event.target_event_id,
            occurred_at=event.occurred_at,
            emitted_at=event.emitted_at,
            received_at=now,
            body=event_body(event),
        )
        for key, event in unique.items()
        if key not in known
    ]
    created: list[VisitEvent] = []
    if not rows:
        return IngestResult(0, len(events))
    with transaction.atomic():
        _lock_heads(sorted({row.partition for row in rows}), rows)
        wakeup.notify_other_processes()
        try:
            with transaction.atomic():
                created = VisitEvent.objects.bulk_create(rows)
        except IntegrityError:
            # A concurrent delivery of the same event won the race: insert one by one.
            created = []
            for row in rows:
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                    created.append(row)
                except IntegrityError:
                    continue
    ids = tuple(row.pk for row in created if row.pk is not None)
    if created:
        _wake_subcentres()
    return IngestResult(len(created), len(events) - len(created), ids)


def _lock_heads(partitions: list[int], rows: list[Any]) -> None:
    """Take the partitions' append locks (in partition order, so two ingests never deadlock).

    The UPDATE holds each head row until commit: appends to one partition commit in id
    order. Missing heads are created on first use.
    """
    from django.db.models import F

    from jingan.accompaniment.visits.models import PartitionHead

    counts: dict[int, int] = {}
    for row in rows:
        counts[row.partition] = counts.get(row.partition, 0) + 1
    for partition in partitions:
        updated = PartitionHead.objects.filter(partition=partition).update(
            appended=F("appended") + counts[partition]
        )
        if not updated:
            try:
                with transaction.atomic():
                    PartitionHead.objects.create(partition=partition, appended=counts[partition])
            except IntegrityError:
                PartitionHead.objects.filter(partition=partition).update(
                    appended=F("appended") + counts[partition]
                )


def _wake_subcentres() -> None:
    transaction.on_commit(wakeup.notify, robust=True)


@dataclass(frozen=True)
class TakeResult:
    accepted: int
    duplicates: int
    rejected: MessageRejected | None = None
    rejected_id: int | None = None


def reject(
    *,
    channel: str,
    raw: str,
    error: MessageRejected,
    source: str = "",
    institution_code: str = "",
) -> int:
    """Keep a message we could not take, with its reason; returns the kept row's id."""
    from jingan.accompaniment.visits.models import RejectedMessage

    institution_id = (
        _institutions([institution_code]).get(institution_code) if institution_code else None
    )
    row = RejectedMessage.objects.create(
        channel=channel,
        source=source[:64],
        institution_id=institution_id,
        received_at=timezone.now(),
        raw=raw,
        code=error.code[:40],
        reason=error.reason[:500],
    )
    logger.warning(
        "rejected %s message from %s (%s): %s", channel, source or "?", error.code, error.reason
    )
    return row.pk


def take(
    *,
    channel: str,
    raw: str,
    parse: Callable[[str], Iterable[HisEvent]],
    source: str = "",
    institution_code: str = "",
    expected_institution: str | None = None,
) -> TakeResult:
    """Parse one raw inbound message and ingest its events, or keep it as rejected.

    ``expected_institution``: the institution the sender authenticated as; events naming
    another institution are rejected (a HIS may only speak for its own institution).
    """
    try:
        events = list(parse(raw))
        if expected_institution is not None:
            foreign = sorted({e.institution_code for e in events} - {expected_institution})
            if foreign:
                raise MessageRejected(
                    "foreign_institution",
                    f"消息中的机构编码 {'、'.join(foreign)} 与发送方机构 {expected_institution} 不符",
                )
        result = ingest(events)
    except MessageRejected as error:
        codes = institution_code or (expected_institution or "")
        rejected_id = reject(
            channel=channel, raw=raw, error=error, source=source, institution_code=codes
        )
        return TakeResult(0, 0, error, rejected_id)
    return TakeResult(result.accepted, result.duplicates)
