"""Every write of the visit assistant outside the event centre's fold: journeys (node
templates) and the handling of rejected messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.centre.fold import default_template_nodes
from jingan.accompaniment.visits.inputs import parser_for
from jingan.accompaniment.visits.models import NodeTemplate, RejectedMessage
from jingan.core.public import record_event
from jingan.integrations.his.port import NODE_STATUSES, MessageRejected, Node

__all__ = [
    "ReplayOutcome",
    "TemplateError",
    "current_template",
    "discard_rejected",
    "replay_rejected",
    "save_node_template",
    "validate_template_nodes",
]


class TemplateError(ValueError):
    """A journey that cannot be saved; the text is for the page."""


def current_template(institution_id: int) -> NodeTemplate:
    """The institution's newest journey version (version 1, the default, on first use)."""
    found = (
        NodeTemplate.objects.unscoped()
        .filter(institution_id=institution_id)
        .order_by("-version")
        .first()
    )
    if found is not None:
        return found
    with transaction.atomic():
        template, _ = NodeTemplate.objects.unscoped().get_or_create(
            institution_id=institution_id,
            version=1,
            defaults={"nodes": default_template_nodes(), "note": "默认就诊流程"},
        )
    return template


def validate_template_nodes(nodes: Any) -> list[dict[str, Any]]:
    """A clean copy of ``nodes`` or ``TemplateError`` naming the first problem."""
    if not isinstance(nodes, list) or not nodes:
        raise TemplateError("至少要保留一个节点")
    seen: set[str] = set()
    clean: list[dict[str, Any]] = []
    known = {node.value for node in Node}
    for position, entry in enumerate(nodes, start=1):
        if not isinstance(entry, dict):
            raise TemplateError(f"第 {position} 个节点格式不正确")
        node = str(entry.get("node") or "")
        if node not in known:
            raise TemplateError(f"第 {position} 个节点“{node}”不是已知节点")
        if node in seen:
            raise TemplateError(f"节点“{node}”重复出现")
        seen.add(node)
        title = str(entry.get("title") or "").strip()
        if not title or len(title) > 20:
            raise TemplateError(f"第 {position} 个节点的标题须为 1 至 20 个字")
        statuses = {code for code, _ in NODE_STATUSES[node]}
        todos: dict[str, str] = {}
        for status, wording in dict(entry.get("todos") or {}).items():
            if status not in statuses:
                raise TemplateError(f"节点“{title}”没有状态“{status}”")
            wording = str(wording or "").strip()
            if len(wording) > 60:
                raise TemplateError(f"节点“{title}”的待办提示不能超过 60 个字")
            if wording:
                todos[status] = wording
        clean.append({"node": node, "title": title, "todos": todos})
    return clean


def save_node_template(
    *, actor: Any, institution_id: int, nodes: Any, note: str = ""
) -> NodeTemplate:
    """A new journey version for the institution; visits already started keep theirs (VA-1)."""
    clean = validate_template_nodes(nodes)
    with transaction.atomic():
        current = current_template(institution_id)
        if current.nodes == clean:
            raise TemplateError("与当前版本相同，无需保存")
        latest = (
            NodeTemplate.objects.unscoped()
            .select_for_update()
            .filter(institution_id=institution_id)
            .aggregate(latest=Max("version"))["latest"]
            or 0
        )
        template = NodeTemplate.objects.unscoped().create(
            institution_id=institution_id,
            version=latest + 1,
            nodes=clean,
            note=note.strip()[:200],
            created_by=_staff(actor),
        )
        record_event(
            actor=_staff(actor),
            action="visits.template_saved",
            object_type="visits.nodetemplate",
            object_id=str(template.pk),
            institution_id=institution_id,
            detail={"version": template.version, "note": template.note},
        )
    return template


@dataclass(frozen=True)
class ReplayOutcome:
    ok: bool
    message: str
    accepted: int = 0
    duplicates: int = 0


def replay_rejected(*, actor: Any, rejected_id: int) -> ReplayOutcome:
    """Parse a kept message again (after a fix) and ingest it; the row records the outcome."""
    with transaction.atomic():
        row = RejectedMessage.objects.unscoped().select_for_update().get(pk=rejected_id)
        if row.status != RejectedMessage.Status.PENDING:
            return ReplayOutcome(False, "该消息已处理，无需重放")
        now = timezone.now()
        row.attempts += 1
        row.replayed_at = now
        row.replayed_by = _staff(actor)
        try:
            events = list(parser_for(row.channel, row.source)(row.raw))
            _check_sender(row, events)
            result = journal.ingest(events)
        except MessageRejected as error:
            row.code = error.code[:40]
            row.reason = error.reason[:500]
            row.replay_result = f"仍被拒绝：{error.reason}"[:500]
            row.save(
                update_fields=[
                    "attempts",
                    "replayed_at",
                    "replayed_by",
                    "code",
                    "reason",
                    "replay_result",
                ]
            )
            outcome = ReplayOutcome(False, row.replay_result)
        else:
            row.status = RejectedMessage.Status.REPLAYED
            row.replay_result = f"已接收 {result.accepted} 个事件，重复 {result.duplicates} 个"
            row.save(
                update_fields=["attempts", "replayed_at", "replayed_by", "status", "replay_result"]
            )
            outcome = ReplayOutcome(True, row.replay_result, result.accepted, result.duplicates)
        record_event(
            actor=_staff(actor),
            action="visits.rejected_replayed",
            object_type="visits.rejectedmessage",
            object_id=str(row.pk),
            institution_id=row.institution_id,
            outcome="success" if outcome.ok else "failure",
            detail={"channel": row.channel, "result": row.replay_result},
        )
    return outcome


def _check_sender(row: RejectedMessage, events: list[Any]) -> None:
    """A kept message speaks only for the institution it was kept under (its sender's)."""
    if row.institution is None:
        return
    code = row.institution.code
    foreign = sorted({event.institution_code for event in events} - {code})
    if foreign:
        raise MessageRejected(
            "foreign_institution",
            f"消息中的机构编码 {'、'.join(foreign)} 与发送方机构 {code} 不符",
        )


def discard_rejected(*, actor: Any, rejected_id: int, note: str) -> None:
    """Mark a kept message as not to be replayed (e.g. a test message), with a note."""
    note = note.strip()
    if not note:
        raise TemplateError("请填写忽略原因")
    with transaction.atomic():
        row = RejectedMessage.objects.unscoped().select_for_update().get(pk=rejected_id)
        if row.status != RejectedMessage.Status.PENDING:
            return
        row.status = RejectedMessage.Status.DISCARDED
        row.replay_result = f"已忽略：{note}"[:500]
        row.replayed_at = timezone.now()
        row.replayed_by = _staff(actor)
        row.save(update_fields=["status", "replay_result", "replayed_at", "replayed_by"])
        record_event(
            actor=_staff(actor),
            action="visits.rejected_discarded",
            object_type="visits.rejectedmessage",
            object_id=str(row.pk),
            institution_id=row.institution_id,
            detail={"note": note[:200]},
        )


def _staff(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None
