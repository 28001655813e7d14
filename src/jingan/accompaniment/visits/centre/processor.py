"""The sub-centre's work on a batch of journal events, in one transaction (DESIGN §4).

For each visit touched by the batch: fold every event seen so far (the fold is a pure
function of the event set, so late and out-of-order events land where they belong),
write the visit's state, open and close its to-dos, store wait estimates, write the
notifications of transitions not yet notified (in-app message + WeChat outbox row, same
transaction) and move the partitions' offsets. The lease rows are locked and their
tokens checked first: a sub-centre that lost a partition can no longer commit for it.
Live pushes to open pages go out after commit.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.utils import timezone

from jingan.accompaniment.visits.centre.fold import (
    FoldEvent,
    Notification,
    TemplateNode,
    VisitState,
    fold,
)
from jingan.accompaniment.visits.centre.live import push_visit_changed
from jingan.accompaniment.visits.centre.messages import notification_text
from jingan.accompaniment.visits.models import (
    NodeTemplate,
    PartitionLease,
    Visit,
    VisitEvent,
    VisitTodo,
    WaitEstimate,
)
from jingan.core.public import (
    Notice,
    ResidentRecipient,
    WeChatPayload,
    notify_many,
    verified_residents_by_id_number,
)
from jingan.integrations.his.port import status_label

logger = logging.getLogger(__name__)

__all__ = [
    "BatchResult",
    "drain",
    "ensure_leases",
    "fold_event",
    "load_state",
    "pack_state",
    "unpack_state",
    "process_batch",
    "template_nodes",
]


@dataclass(frozen=True)
class BatchResult:
    processed: int
    visits: int
    notifications: int
    # emit-to-commit latency samples (seconds) of the batch's events that carry emitted_at
    latencies: tuple[float, ...] = ()


def ensure_leases(partitions: int | None = None) -> None:
    """One lease row per partition (idempotent)."""
    count = partitions or int(settings.VISITS["partitions"])
    existing = set(PartitionLease.objects.values_list("partition", flat=True))
    missing = [PartitionLease(partition=p) for p in range(count) if p not in existing]
    if missing:
        PartitionLease.objects.bulk_create(missing, ignore_conflicts=True)


# A visit's state holds every event it has seen: tens of kilobytes of JSON that compress
# about tenfold. Compressed before encryption, it is what the visit row carries.
_PACKED = "z1:"


def pack_state(text: str) -> str:
    if len(text) < 1024:
        return text
    return _PACKED + base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def unpack_state(stored: str) -> str:
    if stored.startswith(_PACKED):
        return zlib.decompress(base64.b64decode(stored[len(_PACKED) :])).decode("utf-8")
    return stored


def load_state(visit: Visit) -> dict[str, Any]:
    """The visit's folded state as stored (see ``_state_json``)."""
    return json.loads(unpack_state(str(visit.state))) if visit.state else {}


def template_nodes(template: NodeTemplate) -> list[TemplateNode]:
    return [
        TemplateNode(entry["node"], entry["title"], dict(entry.get("todos") or {}))
        for entry in template.nodes
    ]


def fold_event(row: VisitEvent) -> FoldEvent:
    body = json.loads(row.body) if row.body else {}
    return FoldEvent(
        source=row.source,
        source_event_id=row.source_event_id,
        node=row.node,
        status=row.status,
        occurred_at=row.occurred_at,
        item=row.item,
        kind=row.kind,
        target_event_id=row.target_event_id,
        payload=body.get("payload") or {},
        patient=body.get("patient") or {},
    )


def _state_json(result: VisitState, notified: Iterable[str]) -> str:
    nodes: dict[str, Any] = {}
    for name, node in result.nodes.items():
        nodes[name] = {
            "status": node.status,
            "label": status_label(name, node.status),
            "updated_at": node.updated_at.isoformat(),
            "items": [
                {
                    "item": item.item,
                    "status": item.status,
                    "label": status_label(name, item.status),
                    "first_at": item.first_at.isoformat(),
                    "updated_at": item.updated_at.isoformat(),
                    "details": item.details,
                    "history": [
                        [at.isoformat(), status, status_label(name, status)]
                        for at, status in item.history
                    ],
                }
                for item in sorted(node.items.values(), key=lambda i: (i.first_at, i.item))
            ],
        }
    return json.dumps(
        {
            "nodes": nodes,
            "patient": result.patient,
            "details": result.details,
            "notified": sorted(set(notified)),
            "events": [event.as_json() for event in result.events],
        },
        ensure_ascii=False,
        default=str,
    )


class _Batch:
    """What one batch needs more than once: templates and institutions."""

    def __init__(self, *, announce: bool = True) -> None:
        self.templates: dict[int, NodeTemplate] = {}
        self.template_by_id: dict[int, NodeTemplate] = {}
        self.institutions: dict[int, Any] = {}
        self.notifications = 0
        self.announce = announce

    def current_template(self, institution_id: int) -> NodeTemplate:
        from jingan.accompaniment.visits.services import current_template

        if institution_id not in self.templates:
            template = current_template(institution_id)
            self.templates[institution_id] = template
            self.template_by_id[template.pk] = template
        return self.templates[institution_id]

    def prefetch_templates(self, template_ids: Iterable[int]) -> None:
        missing = set(template_ids) - set(self.template_by_id)
        if missing:
            self.template_by_id.update(NodeTemplate.objects.unscoped().in_bulk(missing))

    def template(self, template_id: int) -> NodeTemplate:
        if template_id not in self.template_by_id:
            self.template_by_id[template_id] = NodeTemplate.objects.unscoped().get(pk=template_id)
        return self.template_by_id[template_id]

    def institution(self, institution_id: int) -> Any:
        if institution_id not in self.institutions:
            from django.apps import apps

            model = apps.get_model("institutions", "Institution")
            self.institutions[institution_id] = model.objects.unscoped().get(pk=institution_id)
        return self.institutions[institution_id]


# (institution, department) -> (minutes per patient, when it was learned).
_RATES: dict[tuple[int, str], tuple[float, float]] = {}


def minutes_per_patient(institution_id: int, department: str) -> float:
    """Learned from the last called patients of the department (VA-7), else the default.

    Kept for a minute: a rate moves slowly, and asking for it per batch would cost a
    query per department every few milliseconds.
    """
    key = (institution_id, department)
    cached = _RATES.get(key)
    if cached is not None and time.monotonic() - cached[1] < 60:
        return cached[0]
    recent = (
        WaitEstimate.objects.filter(
            visit__institution_id=institution_id,
            department_name=department,
            called_at__isnull=False,
            ahead__gt=0,
        )
        .order_by("-estimated_at")
        .values_list("estimated_at", "called_at", "ahead")[:50]
    )
    samples = [
        (called - estimated).total_seconds() / 60 / ahead
        for estimated, called, ahead in recent
        if called is not None and called > estimated
    ]
    default = float(settings.VISITS["default_minutes_per_patient"])
    rate = round(sum(samples) / len(samples), 2) if len(samples) >= 3 else default
    _RATES[key] = (rate, time.monotonic())
    return rate


def process_batch(
    owned: Mapping[int, uuid.UUID], *, limit: int | None = None, announce: bool = True
) -> BatchResult:
    """Fold up to ``limit`` events of the partitions in ``owned`` (partition -> lease token).

    ``announce=False`` folds without messaging the residents (history loaded from a HIS
    archive is not news); the transitions still count as notified.
    """
    if not owned:
        return BatchResult(0, 0, 0)
    size = limit or int(settings.VISITS["batch_size"])
    changes: list[tuple[int, int]] = []
    if connection.vendor == "sqlite" and not _has_pending(owned):
        # Idle: answer without a write transaction (on SQLite it takes the database lock).
        return BatchResult(0, 0, 0)
    with transaction.atomic():
        leases = [
            lease
            for lease in PartitionLease.objects.select_for_update().filter(
                partition__in=list(owned)
            )
            if lease.token is not None and lease.token == owned.get(lease.partition)
        ]
        if not leases:
            return BatchResult(0, 0, 0)
        condition = Q()
        for lease in leases:
            condition |= Q(partition=lease.partition, id__gt=lease.offset)
        rows = list(VisitEvent.objects.unscoped().filter(condition).order_by("id")[:size])
        if not rows:
            return BatchResult(0, 0, 0)
        batch = _Batch(announce=announce)
        changes = _fold_rows(rows, batch)
        by_partition: dict[int, list[VisitEvent]] = {}
        for row in rows:
            by_partition.setdefault(row.partition, []).append(row)
        moved = [
            (lease, by_partition[lease.partition])
            for lease in leases
            if lease.partition in by_partition
        ]
        PartitionLease.objects.filter(pk__in=[lease.pk for lease, _ in moved]).update(
            offset=Case(
                *[
                    When(pk=lease.pk, then=Value(max(r.id for r in taken)))
                    for lease, taken in moved
                ],
                output_field=BigIntegerField(),
            ),
            processed=F("processed")
            + Case(
                *[When(pk=lease.pk, then=Value(len(taken))) for lease, taken in moved],
                output_field=BigIntegerField(),
            ),
        )
        if changes:
            transaction.on_commit(partial(push_visit_changed, list(changes)), robust=True)
    committed = timezone.now()
    latencies = tuple(
        max((committed - row.emitted_at).total_seconds(), 0.0)
        for row in rows
        if row.emitted_at is not None
    )
    return BatchResult(len(rows), len(changes), batch.notifications, latencies)


def _has_pending(owned: Mapping[int, uuid.UUID]) -> bool:
    condition = Q()
    for partition, offset in PartitionLease.objects.filter(partition__in=list(owned)).values_list(
        "partition", "offset"
    ):
        condition |= Q(partition=partition, id__gt=offset)
    return bool(condition) and VisitEvent.objects.unscoped().filter(condition).exists()


def _fold_rows(rows: Sequence[VisitEvent], batch: _Batch) -> list[tuple[int, int]]:
    grouped: dict[tuple[int, str], list[VisitEvent]] = {}
    for row in rows:
        grouped.setdefault((row.institution_id, row.visit_key), []).append(row)
    existing: dict[tuple[int, str], Visit] = {}
    keys_by_institution: dict[int, set[str]] = {}
    for institution_id, visit_key in grouped:
        keys_by_institution.setdefault(institution_id, set()).add(visit_key)
    condition = Q()
    for institution_id, keys in keys_by_institution.items():
        condition |= Q(institution_id=institution_id, visit_key__in=keys)
    for visit in Visit.objects.unscoped().filter(condition):
        existing[(visit.institution_id, visit.visit_key)] = visit
    batch.prefetch_templates(visit.template_id for visit in existing.values())
    folded = [
        _fold_visit(key, existing.get(key), visit_rows, batch)
        for key, visit_rows in grouped.items()
    ]
    _link_residents(folded)
    for item in folded:
        item.visit.state = pack_state(_state_json(item.result, item.notified))
        item.visit.save()
    _sync_todos(folded)
    _wait_estimates(folded)
    _notify(folded, batch)
    return [(item.visit.pk, item.visit.revision) for item in folded]


@dataclass
class _Folded:
    visit: Visit
    result: VisitState
    template: NodeTemplate
    new_events: list[FoldEvent]
    notified: set[str]
    new_notifications: list[Notification]


def _fold_visit(
    key: tuple[int, str], visit: Visit | None, rows: list[VisitEvent], batch: _Batch
) -> _Folded:
    institution_id, visit_key = key
    state = load_state(visit) if visit is not None else {}
    previous = [FoldEvent.from_json(item) for item in state.get("events", [])]
    new = [fold_event(row) for row in rows]
    template = (
        batch.template(visit.template_id)
        if visit is not None
        else batch.current_template(institution_id)
    )
    result = fold([*previous, *new], template_nodes(template))
    notified = set(state.get("notified", []))
    if visit is None:
        visit = Visit(
            institution_id=institution_id,
            visit_key=visit_key,
            partition=rows[0].partition,
            template=template,
            started_at=result.started_at,
            last_event_at=result.last_event_at,
            state="",
        )
    visit.patient_name = result.patient.get("name", "") or visit.patient_name or ""
    visit.patient_id_number = result.patient.get("id_number", "") or visit.patient_id_number or ""
    visit.department_name = str(result.details.get("department_name", ""))[:100]
    visit.doctor_name = str(result.details.get("doctor_name", ""))[:50]
    visit.current_node = result.current_node
    visit.current_status = result.current_status
    visit.is_finished = result.is_finished
    visit.started_at = result.started_at
    visit.last_event_at = result.last_event_at
    visit.event_count = len(result.events)
    visit.revision += 1
    # A transition is notified once, when it is first folded; a resident linked later
    # is not sent the visit's past transitions.
    new_notifications = [n for n in result.notifications if n.key not in notified]
    notified.update(n.key for n in new_notifications)
    return _Folded(visit, result, template, new, notified, new_notifications)


def _link_residents(folded: list[_Folded]) -> None:
    """Link visits to the verified resident with the patient's ID number (one query)."""
    waiting = [
        item
        for item in folded
        if item.visit.resident_id is None and item.result.patient.get("id_number")
    ]
    if not waiting:
        return
    found = verified_residents_by_id_number(item.result.patient["id_number"] for item in waiting)
    for item in waiting:
        item.visit.resident_id = found.get(item.result.patient["id_number"])


def _sync_todos(folded: list[_Folded]) -> None:
    current: dict[int, dict[str, VisitTodo]] = {}
    known = [item.visit.pk for item in folded if item.visit.event_count > len(item.new_events)]
    if known:
        for stored in VisitTodo.objects.filter(visit__in=known):
            current.setdefault(stored.visit_id, {})[stored.key] = stored
    create: list[VisitTodo] = []
    update: list[VisitTodo] = []
    for item in folded:
        visit, result = item.visit, item.result
        rows = current.get(visit.pk, {})
        wanted = {wanted_todo.key: wanted_todo for wanted_todo in result.todos}
        for key, todo in wanted.items():
            row = rows.get(key)
            if row is None:
                create.append(
                    VisitTodo(
                        visit=visit,
                        key=key[:120],
                        node=todo.node,
                        item=todo.item[:64],
                        status=todo.status,
                        title=todo.title[:200],
                        opened_at=todo.since,
                    )
                )
            elif not row.is_open or row.title != todo.title[:200]:
                row.is_open, row.closed_at, row.title = True, None, todo.title[:200]
                update.append(row)
        for key, row in rows.items():
            if key not in wanted and row.is_open:
                row.is_open, row.closed_at = False, result.last_event_at
                update.append(row)
    if create:
        VisitTodo.objects.bulk_create(create, ignore_conflicts=True)
    if update:
        VisitTodo.objects.bulk_update(update, ["is_open", "closed_at", "title"])


def _wait_estimates(folded: list[_Folded]) -> None:
    """Keep the wait told at each queue update, and when the patient was really called."""
    estimates: list[WaitEstimate] = []
    called: list[tuple[int, datetime]] = []
    for item in folded:
        visit = item.visit
        for event in item.new_events:
            if event.node != "waiting" or event.kind == "void":
                continue
            ahead_value = event.payload.get("ahead")
            if event.status == "waiting" and isinstance(ahead_value, int | float):
                ahead = max(int(ahead_value), 0)
                department = visit.department_name
                rate = minutes_per_patient(visit.institution_id, department)
                minutes = math.ceil(ahead * rate)
                estimates.append(
                    WaitEstimate(
                        visit=visit,
                        source_event_id=event.source_event_id[:128],
                        department_name=department,
                        ahead=ahead,
                        minutes_per_patient=rate,
                        estimated_minutes=minutes,
                        estimated_at=event.occurred_at,
                        estimated_call_at=event.occurred_at + timedelta(minutes=minutes),
                    )
                )
            elif event.status == "called":
                called.append((visit.pk, event.occurred_at))
    if estimates:
        WaitEstimate.objects.bulk_create(estimates, ignore_conflicts=True)
    for visit_id, at in called:
        WaitEstimate.objects.filter(
            visit_id=visit_id, called_at__isnull=True, estimated_at__lte=at
        ).update(called_at=at)


def _notify(folded: list[_Folded], batch: _Batch) -> None:
    if not batch.announce:
        return
    notices: list[Notice] = []
    for item in folded:
        visit, result = item.visit, item.result
        if visit.resident_id is None or not item.new_notifications:
            continue
        titles = {node.node: node.title for node in template_nodes(item.template)}
        institution = batch.institution(visit.institution_id)
        for notification in item.new_notifications:
            if notification.node not in titles:
                continue  # a node this institution does not show
            node_state = result.nodes[notification.node]
            node_item = node_state.items.get(notification.item)
            title, body = notification_text(
                node=notification.node,
                status=notification.status,
                node_title=titles[notification.node],
                details=dict(node_item.details) if node_item else {},
                visit=result.details,
            )
            link = f"/h5/visits/{visit.reference}/nodes/{notification.node}/"
            notices.append(
                Notice(
                    recipient=ResidentRecipient(visit.resident_id),
                    title=f"{institution.display_name}·{title}",
                    body=body,
                    category="accompaniment",
                    link=link,
                    dedup_key=f"visit:{visit.pk}:{notification.key}",
                    wechat=WeChatPayload(
                        kind="subscribe",
                        template_id="visit_node_status",
                        data={
                            "thing1": institution.display_name[:20],
                            "thing2": titles[notification.node][:20],
                            "phrase3": status_label(notification.node, notification.status)[:5],
                            "time4": timezone.localtime(notification.occurred_at).strftime(
                                "%Y-%m-%d %H:%M"
                            ),
                        },
                        url=link,
                    ),
                )
            )
    if notices:
        notify_many(notices)
        batch.notifications += len(notices)


def drain(*, limit: int | None = None, owner: str = "drain", announce: bool = True) -> int:
    """Process every pending event now, in this thread (tests, `jingan event-centre --drain`).

    Takes every partition's lease with a fresh token for the duration, as a sub-centre
    would; a running sub-centre loses them (and its next commit is refused).
    """
    ensure_leases()
    expires = timezone.now() + timedelta(seconds=float(settings.VISITS["lease_seconds"]))
    owned: dict[int, uuid.UUID] = {}
    for lease in PartitionLease.objects.all():
        token = uuid.uuid4()
        PartitionLease.objects.filter(pk=lease.pk).update(
            owner=owner, token=token, expires_at=expires
        )
        owned[lease.partition] = token
    total = 0
    try:
        while True:
            result = process_batch(owned, limit=limit, announce=announce)
            total += result.processed
            if result.processed == 0:
                return total
    finally:
        PartitionLease.objects.filter(owner=owner).update(owner="", token=None, expires_at=None)
