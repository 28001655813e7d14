"""The resident's visits as JSON (``/api/v1/visits/``), for the mini-program and the
family pages to come: the same reads and the same scoping as the H5 pages.

Session authentication as the H5 pages use it: the signed-in, real-name verified
resident; anyone else gets 401. Another resident's visit is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from ninja import Router, Schema
from ninja.security import APIKeyCookie

from jingan.accompaniment.visits import queries
from jingan.core.public import get_current_resident
from jingan.integrations.his.port import Node


class ResidentSession(APIKeyCookie):
    """The resident's H5 session cookie (WeChat sign-in, real-name verified)."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        resident = get_current_resident(request)
        if resident is None or not resident.is_verified:
            return None
        return resident


router = Router(tags=["门诊就医助手"], auth=ResidentSession())


class VisitHeaderRead(Schema):
    reference: str
    institution_name: str
    department_name: str
    doctor_name: str
    patient_name: str  # masked
    started_at: datetime
    visit_at: datetime
    last_event_at: datetime
    is_finished: bool
    current_node_title: str
    current_status_label: str
    revision: int


class VisitSummaryRead(Schema):
    visit: VisitHeaderRead
    is_current: bool
    open_todos: int


class TodoRead(Schema):
    title: str
    node: str
    node_title: str
    item: str
    status: str
    opened_at: datetime
    url: str


class HistoryRead(Schema):
    at: datetime | None
    status: str
    label: str


class ItemRead(Schema):
    item: str
    title: str
    status: str
    label: str
    first_at: datetime | None
    updated_at: datetime | None
    details: dict[str, Any]
    history: list[HistoryRead]


class TimelineNodeRead(Schema):
    node: str
    title: str
    status: str
    label: str
    phase: str
    updated_at: datetime | None
    url: str


class VisitRead(Schema):
    visit: VisitHeaderRead
    todos: list[TodoRead]
    timeline: list[TimelineNodeRead]


class WaitRead(Schema):
    department_name: str
    ahead: int
    estimated_minutes: int
    estimated_at: datetime
    estimated_call_at: datetime
    called_at: datetime | None


class VisitNodeRead(Schema):
    visit: VisitHeaderRead
    node: TimelineNodeRead
    items: list[ItemRead]
    todos: list[TodoRead]
    wait: WaitRead | None


def _header(header: queries.VisitHeader) -> VisitHeaderRead:
    return VisitHeaderRead(
        reference=header.reference,
        institution_name=header.institution_name,
        department_name=header.department_name,
        doctor_name=header.doctor_name,
        patient_name=header.patient_name,
        started_at=header.started_at,
        visit_at=header.visit_at,
        last_event_at=header.last_event_at,
        is_finished=header.is_finished,
        current_node_title=header.current_title,
        current_status_label=header.current_label,
        revision=header.revision,
    )


def _todo(todo: queries.TodoView) -> TodoRead:
    return TodoRead(
        title=todo.title,
        node=todo.node,
        node_title=todo.node_title,
        item=todo.item,
        status=todo.status,
        opened_at=todo.opened_at,
        url=todo.url,
    )


def _step(step: queries.NodeView) -> TimelineNodeRead:
    return TimelineNodeRead(
        node=step.node,
        title=step.title,
        status=step.status,
        label=step.label,
        phase=step.phase,
        updated_at=step.updated_at,
        url=step.url,
    )


def _item(item: queries.ItemView) -> ItemRead:
    return ItemRead(
        item=item.item,
        title=item.title,
        status=item.status,
        label=item.label,
        first_at=item.first_at,
        updated_at=item.updated_at,
        details=dict(item.details),
        history=[HistoryRead(at=h.at, status=h.status, label=h.label) for h in item.history],
    )


@router.get("/", response=list[VisitSummaryRead], summary="我的门诊就诊（进行中在前）")
def list_visits(request: HttpRequest) -> list[VisitSummaryRead]:
    current, history = queries.visit_list(request.auth)  # type: ignore[attr-defined]
    return [
        VisitSummaryRead(visit=_header(s.header), is_current=is_current, open_todos=s.open_todos)
        for group, is_current in ((current, True), (history, False))
        for s in group
    ]


@router.get("/{reference}", response=VisitRead, summary="一次就诊：待办与就诊流程")
def get_visit(request: HttpRequest, reference: str) -> VisitRead:
    visit = queries.get_visit_for_resident(request.auth, reference)  # type: ignore[attr-defined]
    page = queries.visit_page(visit)
    return VisitRead(
        visit=_header(page.header),
        todos=[_todo(t) for t in page.todos],
        timeline=[_step(s) for s in page.timeline],
    )


@router.get("/{reference}/nodes/{node}", response=VisitNodeRead, summary="就诊环节详情")
def get_visit_node(request: HttpRequest, reference: str, node: str) -> VisitNodeRead:
    visit = queries.get_visit_for_resident(request.auth, reference)  # type: ignore[attr-defined]
    if node not in {n.value for n in Node}:
        raise Http404("没有这个就诊环节")
    page = queries.node_page(visit, node)
    wait = page.wait
    return VisitNodeRead(
        visit=_header(page.header),
        node=_step(page.node),
        items=[_item(i) for i in page.node.items],
        todos=[_todo(t) for t in page.todos],
        wait=WaitRead(
            department_name=wait.department_name,
            ahead=wait.ahead,
            estimated_minutes=wait.estimated_minutes,
            estimated_at=wait.estimated_at,
            estimated_call_at=wait.estimated_call_at,
            called_at=wait.called_at,
        )
        if wait is not None
        else None,
    )
