"""Our own JSON form of visit events: the AMQP drive and the third-party integration API.

A message is one object or a list of objects::

    {"event_id": "...", "institution": "310106001", "visit": "MZ20261126001",
     "node": "payment", "status": "paid", "occurred_at": "2026-11-26T09:30:00+08:00",
     "item": "F1", "kind": "event", "target_event_id": "",
     "patient": {"name": "...", "id_number": "..."}, "payload": {...},
     "source": "third-party-app-id"}

``source`` defaults to the channel the message came through (set by the caller).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jingan.integrations.his.port import (
    EventKind,
    HisEvent,
    MessageRejected,
    PatientRef,
    is_known,
)

REQUIRED = ("event_id", "institution", "visit", "node", "status", "occurred_at")


def parse_canonical(raw: str, *, default_source: str = "api") -> list[HisEvent]:
    """Events of one canonical message; ``MessageRejected`` names the first problem found."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise MessageRejected("malformed_json", f"不是合法的 JSON：{error}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise MessageRejected("empty", "消息中没有事件")
    return [_event(item, index, default_source) for index, item in enumerate(items)]


def _event(item: Any, index: int, default_source: str) -> HisEvent:
    where = f"第 {index + 1} 个事件" if index else "事件"
    if not isinstance(item, dict):
        raise MessageRejected("malformed_event", f"{where}不是 JSON 对象")
    missing = [key for key in REQUIRED if not str(item.get(key) or "").strip()]
    if missing:
        raise MessageRejected("missing_field", f"{where}缺少字段：{', '.join(missing)}")
    kind = str(item.get("kind") or EventKind.EVENT)
    if kind not in set(EventKind):
        raise MessageRejected("unknown_kind", f"{where}的 kind 只能是 event、correction 或 void")
    node, status = str(item["node"]), str(item["status"])
    if kind != EventKind.VOID and not is_known(node, status):
        raise MessageRejected("unknown_status", f"{where}的节点 {node} 没有状态 {status}")
    try:
        occurred_at = datetime.fromisoformat(str(item["occurred_at"]))
    except ValueError:
        raise MessageRejected(
            "bad_time", f"{where}的 occurred_at 不是 ISO 8601 时间：{item['occurred_at']}"
        ) from None
    if occurred_at.tzinfo is None:
        raise MessageRejected("bad_time", f"{where}的 occurred_at 缺少时区（如 +08:00）")
    patient = item.get("patient") or {}
    payload = item.get("payload") or {}
    if not isinstance(patient, dict) or not isinstance(payload, dict):
        raise MessageRejected("malformed_event", f"{where}的 patient 与 payload 必须是 JSON 对象")
    try:
        return HisEvent(
            source=str(item.get("source") or default_source)[:64],
            source_event_id=str(item["event_id"])[:128],
            institution_code=str(item["institution"]),
            visit_key=str(item["visit"])[:64],
            node=node,
            status=status,
            occurred_at=occurred_at,
            item=str(item.get("item") or "")[:64],
            kind=kind,
            target_event_id=str(item.get("target_event_id") or ""),
            patient=PatientRef(
                name=str(patient.get("name") or ""),
                id_number=str(patient.get("id_number") or ""),
                card_number=str(patient.get("card_number") or ""),
            ),
            payload=payload,
        )
    except ValueError as error:
        raise MessageRejected("malformed_event", f"{where}：{error}") from None


def to_canonical(event: HisEvent) -> dict[str, Any]:
    """The canonical JSON object of ``event`` (what a third party sends)."""
    return {
        "event_id": event.source_event_id,
        "source": event.source,
        "institution": event.institution_code,
        "visit": event.visit_key,
        "node": event.node,
        "status": event.status,
        "occurred_at": event.occurred_at.isoformat(),
        "item": event.item,
        "kind": str(event.kind),
        "target_event_id": event.target_event_id,
        "patient": {
            "name": event.patient.name,
            "id_number": event.patient.id_number,
            "card_number": event.patient.card_number,
        },
        "payload": dict(event.payload),
    }
