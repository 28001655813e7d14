"""Resident-scoped reads of the visit assistant and the view models its pages render
(VA-4 … VA-13).

A resident sees only the visits of their own verified ID number: linked to them by the
event centre (``Visit.resident``) or carrying their ID number (blind index), never found
by name. Anything else is a 404, whoever it belongs to. The pages read the folded state
(``Visit.state``) as the processor wrote it; nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import segno
from django.db.models import Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from jingan.accompaniment.visits.centre.processor import unpack_state
from jingan.accompaniment.visits.models import Visit, VisitTodo, WaitEstimate
from jingan.core.public import blind_index
from jingan.integrations.his.port import NODE_TITLES, Node, status_label
from jingan.lib.masking import mask_name

__all__ = [
    "CURRENT_WINDOW",
    "HistoryEntry",
    "ItemView",
    "LabResultRow",
    "NodePage",
    "NodeView",
    "OptionView",
    "QuestionView",
    "TodoView",
    "VisitHeader",
    "VisitPage",
    "VisitSummary",
    "WaitView",
    "get_visit_for_resident",
    "node_page",
    "status_colour",
    "visit_list",
    "visit_page",
    "visits_for_resident",
    "yuan",
]

# A visit still open but silent for longer than this is history, not "current": a HIS
# that never reports the follow-up must not keep an old visit on top of the list.
CURRENT_WINDOW = timedelta(days=7)

# One chip colour per status (the H5 chips reuse the console's Tabler names).
_STATUS_COLOURS: dict[str, str] = {
    # waiting on the resident
    "unpaid": "orange",
    "pending": "orange",
    "ordered": "orange",
    "ready": "orange",
    "called": "orange",
    # under way at the hospital
    "booked": "blue",
    "waiting": "blue",
    "in_progress": "blue",
    "preparing": "blue",
    # done
    "fulfilled": "green",
    "registered": "green",
    "checked_in": "green",
    "finished": "green",
    "paid": "green",
    "reported": "green",
    "dispensed": "green",
    "completed": "green",
    # off the usual path
    "cancelled": "secondary",
    "refunded": "secondary",
    "no_show": "red",
    "passed": "red",
}

# Report flags that mark a result as normal; anything else is highlighted.
_NORMAL_FLAGS = frozenset({"", "N", "n", "正常", "-"})
_FLAG_WORDS = {
    "H": "↑ 偏高",
    "HH": "↑↑ 危急偏高",
    "L": "↓ 偏低",
    "LL": "↓↓ 危急偏低",
    "A": "异常",
    "POS": "阳性",
    "+": "阳性",
}


def status_colour(status: str) -> str:
    return _STATUS_COLOURS.get(status, "secondary")


# -- scoping -----------------------------------------------------------------


def visits_for_resident(resident: Any) -> QuerySet[Visit]:
    """The resident's own visits (linked, or carrying their verified ID number), newest first."""
    if resident is None or not getattr(resident, "is_verified", False):
        return Visit.objects.unscoped().none()
    mine = Q(resident_id=resident.pk)
    index = blind_index(Visit, "patient_id_index", str(resident.id_number or ""))
    if index:
        mine |= Q(patient_id_index=index)
    return (
        Visit.objects.unscoped()
        .filter(mine)
        .select_related("institution", "template")
        .order_by("-started_at", "-pk")
    )


def get_visit_for_resident(resident: Any, reference: Any) -> Visit:
    """The resident's own visit by reference, else 404 (never another resident's)."""
    try:
        return visits_for_resident(resident).get(reference=reference)
    except (Visit.DoesNotExist, ValueError, TypeError):
        raise Http404("就诊记录不存在") from None


# -- view models ---------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime | None
    status: str
    label: str


@dataclass(frozen=True)
class LabResultRow:
    name: str
    value: str
    unit: str
    range: str
    flag: str
    flag_text: str
    is_abnormal: bool


@dataclass(frozen=True)
class OptionView:
    text: str
    is_chosen: bool


@dataclass(frozen=True)
class QuestionView:
    number: int
    text: str
    options: Sequence[OptionView]
    answer: str  # a free-text answer, when the question has no options


@dataclass(frozen=True)
class ItemView:
    """One item of a node (a charge, a lab order, a prescription; ``""`` for single nodes)."""

    item: str
    status: str
    label: str
    colour: str
    title: str
    first_at: datetime | None
    updated_at: datetime | None
    details: Mapping[str, Any]
    history: Sequence[HistoryEntry]
    # Derived for the node pages: money already formatted, report rows, the pickup QR.
    amounts: Mapping[str, str] = field(default_factory=dict)
    lines: Sequence[Mapping[str, str]] = ()
    report_rows: Sequence[LabResultRow] = ()
    qr_svg: str = ""
    drugs: Sequence[str] = ()
    questions: Sequence[QuestionView] = ()
    todos: Sequence[TodoView] = ()  # this item's open to-dos (node pages)

    @property
    def anchor(self) -> str:
        return f"item-{self.item}" if self.item else "item"


@dataclass(frozen=True)
class NodeView:
    """A node of the journey as the timeline shows it."""

    node: str
    title: str
    status: str  # "" while not reached
    label: str
    colour: str
    # current (where the visit is now), todo (waits on the resident), done, pending (not reached)
    phase: str
    updated_at: datetime | None
    url: str
    items: Sequence[ItemView] = ()

    @property
    def is_reached(self) -> bool:
        return bool(self.status)


@dataclass(frozen=True)
class TodoView:
    title: str
    node: str
    node_title: str
    item: str
    status: str
    opened_at: datetime
    url: str


@dataclass(frozen=True)
class VisitHeader:
    reference: str
    institution_name: str
    department_name: str
    doctor_name: str
    patient_name: str  # masked
    started_at: datetime
    # When the patient came (registration, else the appointment time): the first event
    # may be a booking made days before.
    visit_at: datetime
    last_event_at: datetime
    is_finished: bool
    current_title: str
    current_label: str
    current_colour: str
    revision: int


@dataclass(frozen=True)
class VisitSummary:
    header: VisitHeader
    open_todos: int
    url: str


@dataclass(frozen=True)
class VisitPage:
    header: VisitHeader
    todos: Sequence[TodoView]
    timeline: Sequence[NodeView]


@dataclass(frozen=True)
class WaitView:
    """The wait we estimated for the resident (VA-7), with the real call time once called."""

    department_name: str
    ahead: int
    estimated_minutes: int
    estimated_at: datetime
    estimated_call_at: datetime
    called_at: datetime | None


@dataclass(frozen=True)
class NodePage:
    header: VisitHeader
    node: NodeView
    wait: WaitView | None = None
    todos: Sequence[TodoView] = ()


# -- reading the folded state -----------------------------------------------------


def _state(visit: Visit) -> dict[str, Any]:
    try:
        data = json.loads(unpack_state(str(visit.state or "{}")))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _template_nodes(visit: Visit) -> list[tuple[str, str]]:
    """``(node, title)`` of the visit's own template version, in its order."""
    found: list[tuple[str, str]] = []
    known = {node.value for node in Node}
    for entry in visit.template.nodes or []:
        if isinstance(entry, dict) and entry.get("node") in known:
            node = str(entry["node"])
            found.append((node, str(entry.get("title") or NODE_TITLES[node])))
    return found


def _header(visit: Visit, state: Mapping[str, Any]) -> VisitHeader:
    details = state.get("details") or {}
    titles = dict(_template_nodes(visit))
    current = visit.current_node
    return VisitHeader(
        reference=str(visit.reference),
        institution_name=visit.institution.name,
        department_name=visit.department_name or str(details.get("department_name") or ""),
        doctor_name=visit.doctor_name or str(details.get("doctor_name") or ""),
        patient_name=mask_name(str(visit.patient_name or "")),
        started_at=visit.started_at,
        visit_at=_visit_at(visit, state),
        last_event_at=visit.last_event_at,
        is_finished=visit.is_finished,
        current_title=titles.get(current) or NODE_TITLES.get(current, ""),
        current_label=status_label(current, visit.current_status) if current else "",
        current_colour=status_colour(visit.current_status),
        revision=visit.revision,
    )


def _visit_at(visit: Visit, state: Mapping[str, Any]) -> datetime:
    nodes = state.get("nodes") or {}
    registration = nodes.get("registration") or {}
    firsts = [_moment(item.get("first_at")) for item in registration.get("items") or []]
    registered = min((moment for moment in firsts if moment is not None), default=None)
    if registered is not None:
        return registered
    for item in (nodes.get("appointment") or {}).get("items") or []:
        booked_for = _moment((item.get("details") or {}).get("appointment_time"))
        if booked_for is not None:
            return booked_for
    return visit.started_at


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def yuan(value: Any) -> str:
    """``12.5`` → ``12.50 元``; text that is not a number is shown as it is."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{amount.quantize(Decimal('0.01'))} 元"


def _report_rows(details: Mapping[str, Any]) -> list[LabResultRow]:
    report = details.get("report")
    if not isinstance(report, dict):
        return []
    rows: list[LabResultRow] = []
    for entry in report.get("items") or []:
        if not isinstance(entry, dict):
            continue
        flag = _text(entry.get("flag")).strip()
        abnormal = flag not in _NORMAL_FLAGS
        rows.append(
            LabResultRow(
                name=_text(entry.get("name")),
                value=_text(entry.get("value")),
                unit=_text(entry.get("unit")),
                range=_text(entry.get("range")),
                flag=flag,
                flag_text=_FLAG_WORDS.get(flag.upper(), flag) if abnormal else "",
                is_abnormal=abnormal,
            )
        )
    return rows


def _drugs(details: Mapping[str, Any]) -> list[str]:
    """Pharmacy drugs as lines, whether the HIS sent names or ``{drug, spec, quantity}``."""
    lines: list[str] = []
    for entry in details.get("drugs") or []:
        if isinstance(entry, dict):
            name = _text(entry.get("drug") or entry.get("name"))
            extra = " ".join(
                _text(entry.get(key)) for key in ("spec", "quantity") if entry.get(key)
            )
            lines.append(f"{name} {extra}".strip())
        elif entry not in (None, ""):
            lines.append(_text(entry))
    return [line for line in lines if line]


def _answer_for(answers: Mapping[str, Any], number: int, text: str) -> list[str]:
    # HIS systems key answers by the question's text or its 1-based number ("2", "q2").
    value = next(
        (answers[key] for key in (text, str(number), f"q{number}") if key in answers), None
    )
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return [_text(value)]


def _questions(details: Mapping[str, Any]) -> list[QuestionView]:
    questionnaire = details.get("questionnaire")
    if not isinstance(questionnaire, dict):
        return []
    answers = details.get("answers") if isinstance(details.get("answers"), dict) else {}
    assert isinstance(answers, dict)
    questions: list[QuestionView] = []
    for number, entry in enumerate(questionnaire.get("questions") or [], start=1):
        if isinstance(entry, str):
            entry = {"text": entry}
        if not isinstance(entry, dict):
            continue
        text = _text(entry.get("text") or entry.get("title"))
        chosen = _answer_for(answers, number, text)
        options = [_text(option) for option in entry.get("options") or []]
        questions.append(
            QuestionView(
                number=number,
                text=text,
                options=[OptionView(option, option in chosen) for option in options],
                answer="、".join(chosen) if not options else "",
            )
        )
    return questions


def _pickup_qr(code: str) -> str:
    # The pharmacy scans the pickup code itself; inline SVG scales to its box.
    return str(
        segno.make(code, error="m", micro=False).svg_inline(
            scale=4, border=2, omitsize=True, svgclass="va-qr__svg", title=f"取药码 {code}"
        )
    )


def _item_view(node: str, raw: Mapping[str, Any]) -> ItemView:
    status = str(raw.get("status") or "")
    details = raw.get("details") if isinstance(raw.get("details"), dict) else {}
    assert isinstance(details, dict)
    history = [
        HistoryEntry(
            at=_moment(entry[0]),
            status=str(entry[1]),
            label=str(entry[2]) if len(entry) > 2 else status_label(node, str(entry[1])),
        )
        for entry in raw.get("history") or []
        if isinstance(entry, list | tuple) and len(entry) >= 2
    ]
    amounts: dict[str, str] = {}
    lines: list[dict[str, str]] = []
    if node == "registration":
        for key in ("fee", "insurance_paid", "self_paid"):
            amounts[key] = yuan(details.get(key))
    elif node == "payment":
        amounts["total"] = yuan(details.get("total"))
        for line in details.get("items") or []:
            if isinstance(line, dict):
                lines.append({"name": _text(line.get("name")), "amount": yuan(line.get("amount"))})
    # The code is what the window scans; once the drugs are out it is of no more use.
    code = _text(details.get("pickup_code")) if node == "pharmacy" else ""
    item = str(raw.get("item") or "")
    return ItemView(
        item=item,
        status=status,
        label=status_label(node, status),
        colour=status_colour(status),
        title=_text(details.get("item_name")) or item,
        first_at=_moment(raw.get("first_at")),
        updated_at=_moment(raw.get("updated_at")),
        details=details,
        history=history,
        amounts=amounts,
        lines=lines,
        report_rows=_report_rows(details) if node == "lab_exam" else [],
        qr_svg=_pickup_qr(code) if code and status != "dispensed" else "",
        drugs=_drugs(details) if node == "pharmacy" else [],
        questions=_questions(details) if node == "follow_up" else [],
    )


def _node_url(reference: str, node: str) -> str:
    return reverse("visits:h5-visit-node", args=[reference, node])


def _timeline(
    visit: Visit, state: Mapping[str, Any], todo_nodes: set[str], *, with_items: bool = False
) -> list[NodeView]:
    nodes_state = state.get("nodes") or {}
    reference = str(visit.reference)
    timeline: list[NodeView] = []
    for node, title in _template_nodes(visit):
        raw = nodes_state.get(node)
        if not isinstance(raw, dict):
            timeline.append(
                NodeView(
                    node=node,
                    title=title,
                    status="",
                    label="未开始",
                    colour="secondary",
                    phase="pending",
                    updated_at=None,
                    url=_node_url(reference, node),
                )
            )
            continue
        status = str(raw.get("status") or "")
        if node == visit.current_node and not visit.is_finished:
            phase = "current"
        elif node in todo_nodes:
            phase = "todo"
        else:
            phase = "done"
        items = (
            [_item_view(node, item) for item in raw.get("items") or [] if isinstance(item, dict)]
            if with_items
            else []
        )
        timeline.append(
            NodeView(
                node=node,
                title=title,
                status=status,
                label=status_label(node, status),
                colour=status_colour(status),
                phase=phase,
                updated_at=_moment(raw.get("updated_at")),
                url=_node_url(reference, node),
                items=items,
            )
        )
    return timeline


def _todos(visit: Visit) -> list[TodoView]:
    titles = dict(_template_nodes(visit))
    reference = str(visit.reference)
    todos: list[TodoView] = []
    for todo in VisitTodo.objects.filter(visit=visit, is_open=True).order_by("opened_at", "id"):
        if todo.node not in titles:
            continue  # a node the institution's journey does not show
        anchor = f"#item-{todo.item}" if todo.item else ""
        todos.append(
            TodoView(
                title=todo.title,
                node=todo.node,
                node_title=titles[todo.node],
                item=todo.item,
                status=todo.status,
                opened_at=todo.opened_at,
                url=_node_url(reference, todo.node) + anchor,
            )
        )
    return todos


# -- pages ---------------------------------------------------------------------------


def visit_list(
    resident: Any, *, now: datetime | None = None
) -> tuple[list[VisitSummary], list[VisitSummary]]:
    """The resident's visits split into (current, history); current ones newest activity first."""
    moment = now or timezone.now()
    visits = list(visits_for_resident(resident)[:200])
    open_counts: dict[int, int] = {}
    for visit_id in VisitTodo.objects.filter(visit__in=visits, is_open=True).values_list(
        "visit_id", flat=True
    ):
        open_counts[visit_id] = open_counts.get(visit_id, 0) + 1
    current: list[VisitSummary] = []
    history: list[VisitSummary] = []
    for visit in visits:
        summary = VisitSummary(
            header=_header(visit, _state(visit)),
            open_todos=open_counts.get(visit.pk, 0),
            url=reverse("visits:h5-visit", args=[visit.reference]),
        )
        if not visit.is_finished and moment - visit.last_event_at <= CURRENT_WINDOW:
            current.append(summary)
        else:
            history.append(summary)
    current.sort(key=lambda s: s.header.last_event_at, reverse=True)
    return current, history


def visit_page(visit: Visit) -> VisitPage:
    """Header, open to-dos and the timeline of the visit's journey (template order)."""
    state = _state(visit)
    todos = _todos(visit)
    return VisitPage(
        header=_header(visit, state),
        todos=todos,
        timeline=_timeline(visit, state, {todo.node for todo in todos}),
    )


def node_page(visit: Visit, node: str) -> NodePage:
    """One node's page: its items with their details; 404 for a node the journey hides."""
    state = _state(visit)
    todos = _todos(visit)
    timeline = _timeline(visit, state, {todo.node for todo in todos}, with_items=True)
    found = next((entry for entry in timeline if entry.node == node), None)
    if found is None:
        raise Http404("该就诊流程没有这个环节")
    mine = [todo for todo in todos if todo.node == node]
    found = replace(
        found,
        items=[
            replace(item, todos=[todo for todo in mine if todo.item == item.item])
            for item in found.items
        ],
    )
    wait = _wait(visit) if node == "waiting" else None
    return NodePage(
        header=_header(visit, state),
        node=found,
        wait=wait,
        todos=mine,
    )


def _wait(visit: Visit) -> WaitView | None:
    latest = WaitEstimate.objects.filter(visit=visit).order_by("-estimated_at", "-id").first()
    if latest is None:
        return None
    return WaitView(
        department_name=latest.department_name,
        ahead=latest.ahead,
        estimated_minutes=latest.estimated_minutes,
        estimated_at=latest.estimated_at,
        estimated_call_at=latest.estimated_call_at,
        called_at=latest.called_at,
    )
