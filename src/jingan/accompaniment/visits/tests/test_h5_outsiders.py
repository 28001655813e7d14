"""Who may read a visit: only its own resident. Anonymous visitors go to sign-in, an
unverified resident to real-name verification, another resident gets a 404 (and an empty
list), a staff session is no resident session; the JSON API answers 401/404 alike.
Nothing leaks, nothing changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.models import Visit, VisitEvent, VisitTodo
from jingan.accompaniment.visits.tests.test_h5_pages import Journey

OTHER_ID_NUMBER = "310106198503151234"


@pytest.fixture
def patient(db: None, make_resident: Any) -> Any:
    return make_resident()  # verified: the visit is linked to them


@pytest.fixture
def visit(patient: Any) -> Visit:
    journey = Journey()
    return journey.send(
        journey.event("registration", "unpaid", 0, fee="25.00"),
        journey.event("check_in", "pending", 1, location="门诊楼 2 楼"),
    )


def page_paths(visit: Visit) -> list[str]:
    base = f"/h5/visits/{visit.reference}/"
    return [
        base,
        f"{base}?partial=live",
        f"{base}nodes/registration/",
        f"{base}nodes/registration/?partial=live",
        f"{base}nodes/pharmacy/",
    ]


def api_paths(visit: Visit) -> list[str]:
    base = f"/api/v1/visits/{visit.reference}"
    return [base, f"{base}/nodes/registration"]


def snapshot() -> tuple[Any, ...]:
    return (
        Visit.objects.unscoped().count(),
        VisitEvent.objects.unscoped().count(),
        list(VisitTodo.objects.order_by("pk").values_list("key", "is_open")),
        list(Visit.objects.unscoped().values_list("revision", flat=True)),
    )


def test_anonymous_visitors_are_sent_to_sign_in(visit: Visit) -> None:
    before = snapshot()
    client = Client()
    for path in ["/h5/visits/", *page_paths(visit)]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/h5/login/?next="), path
    for path in ["/api/v1/visits/", *api_paths(visit)]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert "MZ20261126001" not in response.content.decode()
    assert snapshot() == before


def test_an_unverified_resident_is_sent_to_real_name_verification(
    visit: Visit, make_resident: Any, resident_client: Any
) -> None:
    client = resident_client(make_resident(verified=False))
    for path in ["/h5/visits/", *page_paths(visit)]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/h5/verify/?next="), path
    assert client.get("/api/v1/visits/").status_code == 401


@pytest.mark.req("VA-13")
def test_another_resident_sees_nothing_of_the_visit(
    visit: Visit, make_resident: Any, resident_client: Any
) -> None:
    before = snapshot()
    other = resident_client(make_resident("李建国", OTHER_ID_NUMBER, nickname="另一位居民"))
    listing = other.get("/h5/visits/").content.decode()
    assert "暂无就诊记录" in listing
    assert str(visit.reference) not in listing
    for path in page_paths(visit):
        response = other.get(path)
        assert response.status_code == 404, path
        body = response.content.decode()
        assert "门诊楼 2 楼" not in body
        assert "内科" not in body
        assert "王**" not in body
    assert other.get("/api/v1/visits/").json() == []
    for path in api_paths(visit):
        response = other.get(path)
        assert response.status_code == 404, path
        assert "门诊楼 2 楼" not in response.content.decode()
    assert snapshot() == before


def test_a_staff_session_is_no_resident_session(
    visit: Visit, make_staff: Any, client_for: Any
) -> None:
    staff = client_for(
        make_staff(
            "visitadmin",
            permissions=(
                "visits.view_visit",
                "visits.view_nodetemplate",
                "visits.view_hisconnection",
            ),
        )
    )
    for path in ["/h5/visits/", *page_paths(visit)]:
        response = staff.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/h5/login/?next="), path
    for path in ["/api/v1/visits/", *api_paths(visit)]:
        assert staff.get(path).status_code == 401, path


def test_writes_are_not_allowed_on_the_pages(
    visit: Visit, patient: Any, resident_client: Any
) -> None:
    before = snapshot()
    client = resident_client(patient)
    for path in page_paths(visit):
        assert client.post(path, {"status": "paid"}).status_code == 405, path
    assert snapshot() == before


@pytest.mark.req("VA-13")
def test_the_resident_reads_their_visit_as_json(
    visit: Visit, patient: Any, resident_client: Any
) -> None:
    assert visit.resident_id == patient.pk
    client = resident_client(patient)
    listing = client.get("/api/v1/visits/").json()
    assert [(v["visit"]["reference"], v["is_current"], v["open_todos"]) for v in listing] == [
        (str(visit.reference), True, 2)
    ]
    assert listing[0]["visit"]["patient_name"] == "王**"
    detail = client.get(f"/api/v1/visits/{visit.reference}").json()
    assert detail["visit"]["current_node_title"] == "签到"
    assert detail["visit"]["current_status_label"] == "待签到"
    assert [(t["node"], t["title"], t["url"]) for t in detail["todos"]] == [
        (
            "registration",
            "挂号费待支付",
            f"/h5/visits/{visit.reference}/nodes/registration/",
        ),
        ("check_in", "请到门诊楼 2 楼签到", f"/h5/visits/{visit.reference}/nodes/check_in/"),
    ]
    assert [(s["node"], s["phase"], s["label"]) for s in detail["timeline"]][:4] == [
        ("appointment", "pending", "未开始"),
        ("registration", "todo", "待支付挂号费"),
        ("check_in", "current", "待签到"),
        ("waiting", "pending", "未开始"),
    ]
    node = client.get(f"/api/v1/visits/{visit.reference}/nodes/registration").json()
    assert node["node"]["label"] == "待支付挂号费"
    assert [(i["status"], i["details"]["fee"]) for i in node["items"]] == [("unpaid", "25.00")]
    assert node["wait"] is None
    assert "王秀英" not in json.dumps(detail, ensure_ascii=False)
    assert client.get(f"/api/v1/visits/{visit.reference}/nodes/surgery").status_code == 404
