"""The one internal model every HIS dialect maps onto: a visit event.

A dialect adapter turns its wire messages (HL7 v2 over MLLP, vendor JSON, SOAP/XML,
rows of database views) into ``HisEvent`` values, or raises ``MessageRejected`` with a
reason; it never touches our database. The platform's event centre appends the events
to its journal (``jingan.accompaniment.visits``).

Nodes and statuses are ours; each dialect keeps its own table from vendor codes to
``(node, status)``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Dialect(enum.StrEnum):
    """How an institution's HIS talks to the platform (stored as ``Institution.his_dialect``)."""

    HL7_MLLP = "A"
    REST_PUSH = "B"
    SOAP_WEB_SERVICE = "C"
    DATABASE_VIEWS = "D"


DIALECT_TITLES: dict[str, str] = {
    "A": "A · HL7 v2.5（MLLP）",
    "B": "B · REST/JSON 推送",
    "C": "C · 互联互通 Web Service（SOAP）",
    "D": "D · 数据库视图",
}


class Node(enum.StrEnum):
    """The nodes of an outpatient visit, in the tender's order (门诊就医助手)."""

    APPOINTMENT = "appointment"
    REGISTRATION = "registration"
    CHECK_IN = "check_in"
    WAITING = "waiting"
    CONSULTATION = "consultation"
    PAYMENT = "payment"
    LAB_EXAM = "lab_exam"
    PHARMACY = "pharmacy"
    FOLLOW_UP = "follow_up"


NODE_TITLES: dict[str, str] = {
    "appointment": "预约",
    "registration": "挂号",
    "check_in": "签到",
    "waiting": "候诊",
    "consultation": "就诊",
    "payment": "缴费",
    "lab_exam": "检验检查",
    "pharmacy": "取药",
    "follow_up": "诊后随访",
}

# Each node's statuses in their usual order of progress, with the resident-facing label.
# The order breaks ties between events of one item that carry the same ``occurred_at``.
NODE_STATUSES: dict[str, tuple[tuple[str, str], ...]] = {
    "appointment": (
        ("booked", "已预约"),
        ("cancelled", "已取消"),
        ("no_show", "已爽约"),
        ("fulfilled", "已取号"),
    ),
    "registration": (
        ("unpaid", "待支付挂号费"),
        ("registered", "已挂号"),
        ("cancelled", "已退号"),
    ),
    "check_in": (
        ("pending", "待签到"),
        ("checked_in", "已签到"),
    ),
    "waiting": (
        ("waiting", "候诊中"),
        ("called", "已叫号"),
        ("passed", "已过号"),
    ),
    "consultation": (
        ("in_progress", "就诊中"),
        ("finished", "诊毕"),
    ),
    "payment": (
        ("unpaid", "待缴费"),
        ("paid", "已缴费"),
        ("refunded", "已退费"),
    ),
    "lab_exam": (
        ("ordered", "待检查"),
        ("in_progress", "检查中"),
        ("reported", "报告已出"),
        ("cancelled", "已取消"),
    ),
    "pharmacy": (
        ("preparing", "配药中"),
        ("ready", "待取药"),
        ("dispensed", "已取药"),
    ),
    "follow_up": (
        ("pending", "待填写问卷"),
        ("completed", "已完成"),
    ),
}


def status_label(node: str, status: str) -> str:
    """The resident-facing label of ``status`` at ``node`` (the code itself if unknown)."""
    return dict(NODE_STATUSES.get(node, ())).get(status, status)


def status_rank(node: str, status: str) -> int:
    """Position of ``status`` in its node's progress order (-1 if unknown)."""
    codes = [code for code, _ in NODE_STATUSES.get(node, ())]
    return codes.index(status) if status in codes else -1


def is_known(node: str, status: str) -> bool:
    return status_rank(node, status) >= 0


class EventKind(enum.StrEnum):
    """A plain event, a correction of an earlier one, or a void that withdraws one."""

    EVENT = "event"
    CORRECTION = "correction"
    VOID = "void"


@dataclass(frozen=True)
class PatientRef:
    """Who the visit is for, as the HIS knows them (personal data: encrypted by the platform)."""

    name: str = ""
    id_number: str = ""
    card_number: str = ""


@dataclass(frozen=True)
class HisEvent:
    """One node change of one outpatient visit, in our vocabulary.

    ``source`` names the channel (e.g. ``"his-a:310106001"``); with ``source_event_id``
    (the HL7 MSH-10, the vendor's message id, the view row's serial number) it identifies
    the event, so a repeated delivery is a no-op. ``visit_key`` is the HIS's own visit
    number (就诊流水号), unique within the institution. ``item`` tells apart the items of
    one node (each lab order, each charge, each prescription); empty for single nodes.
    A correction replaces the event ``target_event_id`` (same source); a void withdraws it.

    ``payload`` carries the node's details (see ``PAYLOAD_KEYS``); values are JSON types.
    ``emitted_at`` is when the HIS sent it, if it says (for latency measurement).
    """

    source: str
    source_event_id: str
    institution_code: str
    visit_key: str
    node: str
    status: str
    occurred_at: datetime
    item: str = ""
    kind: str = EventKind.EVENT
    target_event_id: str = ""
    patient: PatientRef = field(default_factory=PatientRef)
    payload: Mapping[str, Any] = field(default_factory=dict)
    emitted_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if self.kind not in set(EventKind):
            raise ValueError(f"unknown event kind {self.kind!r}")
        if self.kind != EventKind.EVENT and not self.target_event_id:
            raise ValueError("a correction or void names the event it targets")
        if self.kind != EventKind.VOID and not is_known(self.node, self.status):
            raise ValueError(f"unknown status {self.status!r} for node {self.node!r}")


# Payload keys by node, as the visit pages read them (all optional; strings unless noted).
PAYLOAD_KEYS: dict[str, tuple[str, ...]] = {
    "*": ("department_code", "department_name", "doctor_name"),
    "appointment": ("appointment_time", "period", "booked_by", "channel", "appointment_no"),
    "registration": (
        "registration_no",
        "registration_type",
        "fee",
        "insurance_paid",
        "self_paid",
        "pay_mode",
        "settled_at",
    ),
    "check_in": ("location", "floor_guide"),
    "waiting": ("queue_no", "ahead (int)", "room"),
    "consultation": (
        "room",
        "record (dict: complaint, diagnosis, advice)",
        "prescriptions (list of {drug, spec, usage, quantity})",
    ),
    "payment": ("items (list of {name, amount})", "total", "pay_mode", "paid_at"),
    "lab_exam": (
        "category (检验|检查)",
        "item_name",
        "location",
        "report_eta",
        "report (dict: items list of {name, value, unit, range, flag}; conclusion)",
    ),
    "pharmacy": ("window", "pickup_code", "drugs (list)"),
    "follow_up": (
        "questionnaire (dict: title, questions list of {text, options})",
        "due_date",
        "answers (dict)",
    ),
}


class MessageRejected(Exception):
    """A message that cannot be taken: malformed, unknown code, unknown institution ...

    ``code`` is short and stable (for counting and for the HL7 ERR segment); ``reason``
    is a sentence in Chinese for the console. The caller keeps the raw message with both,
    so it can be replayed after a fix.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class HisUnavailable(Exception):
    """The HIS could not be reached or answered with a transport-level failure (retryable)."""


@dataclass(frozen=True)
class ConnectionTestResult:
    """What a connection test found: reachable or not, how fast, and what it said."""

    ok: bool
    message: str
    elapsed_ms: int


@dataclass(frozen=True)
class PollResult:
    """Events read by one poll, the rejected raw records, and the next watermark to store."""

    events: Sequence[HisEvent]
    rejected: Sequence[tuple[str, MessageRejected]]  # (raw record text, why)
    watermark: str


class PolledHis(Protocol):
    """A HIS the platform polls (dialects C and D)."""

    def poll(self, institution_code: str, watermark: str, *, limit: int = 500) -> PollResult:
        """Events after ``watermark`` (opaque text; ``""`` = from the beginning)."""
        ...

    def test_connection(self, institution_code: str) -> ConnectionTestResult: ...
