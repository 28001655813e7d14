"""Third-party systems drive visit nodes through the signed integration interface
``POST /api/v1/his/events`` in the platform's canonical JSON (VA-3)."""

# ruff: noqa: F811 - the shared fixture is imported by name

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.centre.processor import drain
from jingan.accompaniment.visits.models import RejectedMessage, VisitEvent
from jingan.accompaniment.visits.tests.push_fixtures import (
    EVENTS,
    PATIENT_ID,
    PATIENT_NAME,
    api_client,  # noqa: F401 - fixture
    body_bytes,
    post_signed,
)

CODE = "310106001"  # 上海市静安区中心医院 (its HIS speaks HL7; the queue caller is a third party)
OTHER = "310106002"

pytestmark = pytest.mark.django_db


def canonical(event_id: str, node: str, status: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "institution": CODE,
        "visit": "MZ2026112600088",
        "node": node,
        "status": status,
        "occurred_at": f"2026-11-26T10:{minute:02d}:00+08:00",
        "patient": {"name": PATIENT_NAME, "id_number": PATIENT_ID},
        "payload": {"department_name": "内科", "queue_no": "03-021", "room": "内科第 3 诊室"},
        **extra,
    }


def rows() -> list[tuple[Any, ...]]:
    return list(
        VisitEvent.objects.unscoped()
        .order_by("pk")
        .values_list("source", "source_event_id", "node", "status", "occurred_at")
    )


@pytest.mark.req("VA-3")
def test_a_queue_caller_moves_the_visit_through_the_integration_interface(
    api_client: Callable[..., tuple[str, str]],
    make_resident: Any,
    resident_client: Callable[[Any], Client],
) -> None:
    resident = make_resident(PATIENT_NAME, PATIENT_ID)
    app_id, key = api_client(CODE, app_id="queue-caller-001")
    body = [
        canonical("Q1", "waiting", "waiting", 5, payload={"ahead": 2, "room": "内科第 3 诊室"}),
        canonical("Q2", "waiting", "called", 12),
    ]

    response = post_signed(EVENTS, body, app_id=app_id, key=key)

    assert response.status_code == 200
    assert response.json() == {"code": "0", "message": "成功", "accepted": 2, "duplicates": 0}
    assert rows() == [
        ("queue-caller-001", "Q1", "waiting", "waiting", datetime(2026, 11, 26, 2, 5, tzinfo=UTC)),
        ("queue-caller-001", "Q2", "waiting", "called", datetime(2026, 11, 26, 2, 12, tzinfo=UTC)),
    ]
    assert drain() == 2
    visits = resident_client(resident).get("/api/v1/visits/").json()
    assert [
        (v["visit"]["current_node_title"], v["visit"]["current_status_label"]) for v in visits
    ] == [("候诊", "已叫号")]
    reference = visits[0]["visit"]["reference"]
    page = resident_client(resident).get(f"/api/v1/visits/{reference}").json()
    assert [t["title"] for t in page["todos"]] == ["已叫号，请到内科第 3 诊室就诊"]


@pytest.mark.req("VA-3")
def test_event_ids_belong_to_the_calling_application(
    api_client: Callable[..., tuple[str, str]],
) -> None:
    caller = api_client(CODE, app_id="queue-caller-001")
    kiosk = api_client(CODE, app_id="self-service-kiosk")

    first = post_signed(
        EVENTS, canonical("1", "check_in", "checked_in", 1), app_id=caller[0], key=caller[1]
    )
    other = post_signed(
        EVENTS, canonical("1", "payment", "paid", 2, item="F1"), app_id=kiosk[0], key=kiosk[1]
    )
    again = post_signed(
        EVENTS, canonical("1", "check_in", "checked_in", 1), app_id=caller[0], key=caller[1]
    )

    assert [r.json()["accepted"] for r in (first, other, again)] == [1, 1, 0]
    assert again.json()["duplicates"] == 1
    assert [(r[0], r[1], r[2]) for r in rows()] == [
        ("queue-caller-001", "1", "check_in"),
        ("self-service-kiosk", "1", "payment"),
    ]


@pytest.mark.req("VA-3")
def test_a_third_party_cannot_speak_as_a_his_channel(
    api_client: Callable[..., tuple[str, str]],
) -> None:
    app_id, key = api_client(CODE, app_id="queue-caller-001")
    body = canonical("MSG00017", "waiting", "called", 3, source="his-a:310106001")

    response = post_signed(EVENTS, body, app_id=app_id, key=key)

    kept = RejectedMessage.objects.unscoped().get()
    assert response.status_code == 422
    assert response.json() == {
        "code": "foreign_source",
        "message": "事件来源 his-a:310106001 与接入应用 queue-caller-001 不符",
        "rejectedId": kept.pk,
    }
    assert (kept.channel, kept.source, kept.institution.code, kept.raw) == (
        "api",
        "queue-caller-001",
        CODE,
        body_bytes(body).decode(),
    )
    assert rows() == []


@pytest.mark.req("VA-3")
def test_bad_events_are_kept_with_the_reason(api_client: Callable[..., tuple[str, str]]) -> None:
    app_id, key = api_client(CODE, app_id="queue-caller-001")
    body = canonical("Q9", "waiting", "sleeping", 3)

    response = post_signed(EVENTS, body, app_id=app_id, key=key)

    assert response.status_code == 422
    assert response.json()["code"] == "unknown_status"
    assert response.json()["message"] == "事件的节点 waiting 没有状态 sleeping"
    assert RejectedMessage.objects.unscoped().get().code == "unknown_status"
    assert rows() == []


@pytest.mark.req("VA-3")
def test_outsiders_of_the_integration_interface_change_nothing(
    api_client: Callable[..., tuple[str, str]],
) -> None:
    other_id, other_key = api_client(OTHER, app_id="other-hospital-app")
    loose_id, loose_key = api_client(None, app_id="district-tool")
    body = canonical("Q1", "waiting", "called", 3)

    anonymous = Client().post(EVENTS, data=body_bytes(body), content_type="application/json")
    foreign = post_signed(EVENTS, body, app_id=other_id, key=other_key)
    loose = post_signed(EVENTS, body, app_id=loose_id, key=loose_key)

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "missing_header")
    assert (foreign.status_code, foreign.json()["code"]) == (403, "foreign_institution")
    assert foreign.json()["message"] == "消息中的机构编码 310106001 与发送方机构 310106002 不符"
    assert (loose.status_code, loose.json()["code"]) == (403, "client_without_institution")
    assert rows() == []
    # Only the foreign message is kept, for the sender's institution to review.
    assert list(RejectedMessage.objects.unscoped().values_list("institution__code", "code")) == [
        (OTHER, "foreign_institution")
    ]
