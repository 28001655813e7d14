"""The fold: a visit's state, to-dos and notifications as a pure function of its events.

The result depends only on the *set* of events, never on the order they arrived in:
events are applied by ``occurred_at`` (ties broken by the node's progress order, then by
source and event id), a correction replaces the event it targets (keeping that event's
place in time), a void withdraws it. The sub-centre re-folds a visit from every event it
has seen whenever a new one arrives, so late and out-of-order events land where they
belong. No Django here: the property tests call it directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jingan.integrations.his.port import NODE_TITLES, HisEvent, Node, status_rank

__all__ = [
    "DEFAULT_TODOS",
    "NOTIFIED_STATUSES",
    "FoldEvent",
    "ItemState",
    "NodeState",
    "Notification",
    "TemplateNode",
    "Todo",
    "WORDING_FIELDS",
    "VisitState",
    "default_template_nodes",
    "fold",
]

# What a resident still has to do, per node and status (VA-13); the wording is the
# default of every template and may be changed per institution. ``{...}`` fields come
# from the item's details.
DEFAULT_TODOS: dict[str, dict[str, str]] = {
    "appointment": {"booked": "按预约时间{预约时间}到院就诊"},
    "registration": {"unpaid": "挂号费待支付"},
    "check_in": {"pending": "请到{地点}签到"},
    "waiting": {"called": "已叫号，请到{诊室}就诊"},
    "consultation": {"in_progress": "正在就诊：{诊室}"},
    "payment": {"unpaid": "有待缴费项目：{项目}"},
    "lab_exam": {"ordered": "请到{地点}做{项目}"},
    "pharmacy": {"ready": "请到{窗口}取药，取药码 {取药码}"},
    "follow_up": {"pending": "请填写诊后随访问卷"},
}

# The Chinese field names institution admins write in to-do wording, and what they read.
# (The payload's own keys, e.g. ``{location}``, work too.)
WORDING_FIELDS: dict[str, str] = {
    "预约时间": "appointment_time_text",
    "地点": "location",
    "诊室": "room",
    "项目": "item_title",
    "窗口": "window",
    "取药码": "pickup_code",
    "科室": "department_name",
    "医生": "doctor_name",
    "排队号": "queue_no",
    "前方人数": "ahead",
    "金额": "total",
}

# A message at each transition the tender lists (VA-14): appointment, registration,
# check-in, waiting, lab/exam, prescription, payment, pickup (and the follow-up).
NOTIFIED_STATUSES: dict[str, frozenset[str]] = {
    "appointment": frozenset({"booked", "cancelled", "no_show"}),
    "registration": frozenset({"unpaid", "registered", "cancelled"}),
    "check_in": frozenset({"checked_in"}),
    "waiting": frozenset({"waiting", "called", "passed"}),
    "consultation": frozenset({"finished"}),
    "payment": frozenset({"unpaid", "paid", "refunded"}),
    "lab_exam": frozenset({"ordered", "reported"}),
    "pharmacy": frozenset({"ready", "dispensed"}),
    "follow_up": frozenset({"pending"}),
}

# To-dos that end when the visit moves to a later node, whether or not the HIS closes them.
PASS_THROUGH = frozenset(
    {
        ("appointment", "booked"),
        ("check_in", "pending"),
        ("waiting", "called"),
        ("consultation", "in_progress"),
    }
)

# Statuses after which an item no longer holds its node back (for a node's own status).
_SETTLED = frozenset({"cancelled", "refunded", "no_show"})


@dataclass(frozen=True)
class TemplateNode:
    node: str
    title: str
    todos: Mapping[str, str]


def default_template_nodes() -> list[dict[str, Any]]:
    """The journey every institution starts with: all nine nodes in the tender's order."""
    return [
        {
            "node": node.value,
            "title": NODE_TITLES[node.value],
            "todos": dict(DEFAULT_TODOS[node.value]),
        }
        for node in Node
    ]


@dataclass(frozen=True)
class FoldEvent:
    """An event as the fold needs it (decrypted payload, no Django objects)."""

    source: str
    source_event_id: str
    node: str
    status: str
    occurred_at: datetime
    item: str = ""
    kind: str = "event"
    target_event_id: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    patient: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_event_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.source_event_id,
            "node": self.node,
            "status": self.status,
            "at": self.occurred_at.isoformat(),
            "item": self.item,
            "kind": self.kind,
            "target": self.target_event_id,
            "payload": dict(self.payload),
            "patient": dict(self.patient),
        }

    @classmethod
    def from_event(cls, event: HisEvent) -> FoldEvent:
        """The fold's view of an event as an adapter reported it (tests, rebuilds)."""
        return cls(
            source=event.source,
            source_event_id=event.source_event_id,
            node=event.node,
            status=event.status,
            occurred_at=event.occurred_at,
            item=event.item,
            kind=str(event.kind),
            target_event_id=event.target_event_id,
            payload=dict(event.payload),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FoldEvent:
        return cls(
            source=data["source"],
            source_event_id=data["id"],
            node=data["node"],
            status=data["status"],
            occurred_at=datetime.fromisoformat(data["at"]),
            item=data.get("item", ""),
            kind=data.get("kind", "event"),
            target_event_id=data.get("target", ""),
            payload=data.get("payload") or {},
            patient=data.get("patient") or {},
        )


@dataclass
class ItemState:
    item: str
    status: str
    first_at: datetime
    updated_at: datetime
    details: dict[str, Any]
    history: list[tuple[datetime, str]]

    @property
    def label(self) -> str:
        return self.details.get("item_name") or self.item


@dataclass
class NodeState:
    node: str
    status: str
    updated_at: datetime
    items: dict[str, ItemState]


@dataclass(frozen=True)
class Todo:
    key: str
    node: str
    item: str
    status: str
    title: str
    since: datetime


@dataclass(frozen=True)
class Notification:
    key: str
    node: str
    item: str
    status: str
    occurred_at: datetime


@dataclass
class VisitState:
    nodes: dict[str, NodeState]
    current_node: str
    current_status: str
    started_at: datetime
    last_event_at: datetime
    is_finished: bool
    todos: list[Todo]
    notifications: list[Notification]
    patient: dict[str, str]
    details: dict[str, Any]  # visit-level: department_name, doctor_name
    events: list[FoldEvent]  # every event seen (the fold's input, for the next fold)


_NODE_ORDER = {node.value: index for index, node in enumerate(Node)}


def _order(event: FoldEvent, at: datetime) -> tuple[Any, ...]:
    # Simultaneous events follow the journey (registration before check-in) and, within
    # a node, its progress (unpaid before paid).
    return (
        at,
        _NODE_ORDER.get(event.node, len(_NODE_ORDER)),
        status_rank(event.node, event.status),
        event.source,
        event.source_event_id,
    )


def _effective(events: Iterable[FoldEvent]) -> list[tuple[datetime, FoldEvent]]:
    """Plain events after corrections and voids, each with the time it is applied at."""
    unique: dict[tuple[str, str], FoldEvent] = {}
    for event in events:
        unique.setdefault(event.key, event)
    amendments = [e for e in unique.values() if e.kind != "event"]
    # A void may withdraw a correction; a void of a void is ignored.
    voided = {(e.source, e.target_event_id) for e in amendments if e.kind == "void"}
    corrections: dict[tuple[str, str], FoldEvent] = {}
    for event in sorted(
        (e for e in amendments if e.kind == "correction" and e.key not in voided),
        key=lambda e: _order(e, e.occurred_at),
    ):
        corrections[(event.source, event.target_event_id)] = event  # the latest wins
    effective: list[tuple[datetime, FoldEvent]] = []
    for event in unique.values():
        if event.key in voided:
            continue
        if event.kind == "event":
            correction = corrections.get(event.key)
            if correction is None:
                effective.append((event.occurred_at, event))
            else:
                effective.append((event.occurred_at, _replaced(event, correction)))
        elif event.kind == "correction" and event.key not in voided:
            target = (event.source, event.target_event_id)
            if target not in unique and corrections.get(target) is event:
                # The corrected event has not arrived (yet): the correction stands alone.
                effective.append((event.occurred_at, _replaced(event, event)))
    effective.sort(key=lambda pair: _order(pair[1], pair[0]))
    return effective


def _replaced(original: FoldEvent, correction: FoldEvent) -> FoldEvent:
    return FoldEvent(
        source=original.source,
        source_event_id=original.source_event_id,
        node=correction.node,
        status=correction.status,
        occurred_at=original.occurred_at,
        item=correction.item,
        kind="event",
        payload={**original.payload, **correction.payload}
        if original is not correction
        else dict(correction.payload),
        patient=dict(correction.patient or original.patient),
    )


def _node_status(items: dict[str, ItemState], node: str) -> str:
    active = [item for item in items.values() if item.status not in _SETTLED]
    if not active:
        return max(items.values(), key=lambda item: (item.updated_at, item.item)).status
    if node == "appointment":
        return max(active, key=lambda item: (item.updated_at, item.item)).status
    # The least advanced item holds the node (a node is done when all its items are).
    return min(active, key=lambda item: (status_rank(node, item.status), item.item)).status


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _todo_title(wording: str, item: ItemState) -> str:
    details = _Blank({k: v for k, v in item.details.items() if isinstance(v, str | int | float)})
    details["item_title"] = item.details.get("item_name") or item.details.get("name") or ""
    at = item.details.get("appointment_time")
    details["appointment_time_text"] = _short_time(at) if isinstance(at, str) else ""
    for chinese, key in WORDING_FIELDS.items():
        details[chinese] = details[key]
    try:
        text = wording.format_map(details)
    except (ValueError, IndexError, KeyError):
        text = wording
    # Empty fields leave stray punctuation ("请到做"); collapse the obvious cases.
    return " ".join(text.replace("：，", "：").split()).strip("：，, ") or wording


def _short_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%m-%d %H:%M")


def fold(
    events: Iterable[FoldEvent],
    template: Sequence[TemplateNode] | None = None,
) -> VisitState:
    """The state of a visit from all its events (any order, duplicates allowed)."""
    all_events = list({e.key: e for e in events}.values())
    if not all_events:
        raise ValueError("a visit has at least one event")
    nodes_in_template = (
        [TemplateNode(n["node"], n["title"], n["todos"]) for n in default_template_nodes()]
        if template is None
        else list(template)
    )
    effective = _effective(all_events)
    nodes: dict[str, NodeState] = {}
    patient: dict[str, str] = {}
    details: dict[str, Any] = {}
    notifications: dict[str, Notification] = {}
    for at, event in effective:
        node = nodes.get(event.node)
        if node is None:
            node = nodes[event.node] = NodeState(event.node, event.status, at, {})
        item = node.items.get(event.item)
        if item is None:
            item = node.items[event.item] = ItemState(event.item, event.status, at, at, {}, [])
        item.status = event.status
        item.updated_at = at
        item.details.update(event.payload)
        item.history.append((at, event.status))
        node.updated_at = at
        for key, value in event.patient.items():
            if value:
                patient[key] = value
        for key in ("department_name", "department_code", "doctor_name"):
            if event.payload.get(key):
                details[key] = event.payload[key]
        if event.status in NOTIFIED_STATUSES.get(event.node, ()):
            key = f"{event.node}:{event.item}:{event.status}"
            notifications.setdefault(
                key, Notification(key, event.node, event.item, event.status, at)
            )
    for node in nodes.values():
        node.status = _node_status(node.items, node.node)
    if effective:
        last_at, last = effective[-1]
        current_node, current_status = last.node, nodes[last.node].status
        started_at, last_event_at = effective[0][0], last_at
    else:  # only amendments whose targets are missing
        first = min(all_events, key=lambda e: e.occurred_at)
        current_node, current_status = "", ""
        started_at = last_event_at = first.occurred_at
    # The latest event at any node after each node in the journey: a pass-through to-do
    # ("go to room 3") is done once the visit has moved on, even if the HIS never says so.
    later_at: dict[str, datetime] = {}
    newest: datetime | None = None
    for node_name in reversed([n.value for n in Node]):
        if newest is not None:
            later_at[node_name] = newest
        state = nodes.get(node_name)
        if state is not None:
            newest = state.updated_at if newest is None else max(newest, state.updated_at)
    todos: list[Todo] = []
    for template_node in nodes_in_template:
        node = nodes.get(template_node.node)
        if node is None:
            continue
        for item in sorted(node.items.values(), key=lambda i: (i.first_at, i.item)):
            wording = template_node.todos.get(item.status)
            moved_on = later_at.get(node.node)
            if (
                (node.node, item.status) in PASS_THROUGH
                and moved_on is not None
                and moved_on >= item.updated_at
            ):
                continue
            if wording:
                todos.append(
                    Todo(
                        key=f"{node.node}:{item.item}:{item.status}",
                        node=node.node,
                        item=item.item,
                        status=item.status,
                        title=_todo_title(wording, item),
                        since=item.updated_at,
                    )
                )
    return VisitState(
        nodes=nodes,
        current_node=current_node,
        current_status=current_status,
        started_at=started_at,
        last_event_at=last_event_at,
        is_finished=_finished(nodes),
        todos=todos,
        notifications=sorted(notifications.values(), key=lambda n: (n.occurred_at, n.key)),
        patient=patient,
        details=details,
        events=sorted(all_events, key=lambda e: _order(e, e.occurred_at)),
    )


def _finished(nodes: Mapping[str, NodeState]) -> bool:
    follow_up = nodes.get("follow_up")
    if follow_up is not None and follow_up.status == "completed":
        return True
    later = set(nodes) - {"appointment"}
    appointment = nodes.get("appointment")
    if appointment is not None and appointment.status in ("cancelled", "no_show") and not later:
        return True
    registration = nodes.get("registration")
    return (
        registration is not None
        and registration.status == "cancelled"
        and not (later - {"registration", "check_in", "waiting"})
    )
