"""Workstation API (RX-W1) over signed requests, and its outsiders."""

# ruff: noqa: F811 - the shared fixtures are imported from test_services by name

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from jingan.core.public import create_api_client, sign_request
from jingan.prescriptions.erx.models import CentreCall, Prescription, PrescriptionStatus
from jingan.prescriptions.erx.tests.test_services import (
    DRUG_A,
    PATIENT_ID,
    Centre,
    centre,  # noqa: F401 - fixture
    draft,
)

BASE = "/api/v1/erx/workstation"


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    app_id: str,
    key: str,
    query: dict[str, str] | None = None,
) -> Any:
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False, default=str).encode()
    headers = sign_request(
        app_id=app_id, private_key_hex=key, method=method, path=path, query=query, body=raw
    )
    target = f"{path}?{urlencode(query)}" if query else path
    return Client().generic(
        method, target, data=raw, content_type="application/json", headers=headers
    )


@pytest.fixture
def workstation(centre: Centre) -> tuple[str, str]:
    centre.connection.requires_pharmacist_review = False
    centre.connection.save()
    client, key = create_api_client(
        actor=None, app_id="his-ws-001", name="HIS 医生站", institution_id=centre.institution_id
    )
    return client.app_id, key


def body(**overrides: Any) -> dict[str, Any]:
    return json.loads(draft(**overrides).model_dump_json())


@pytest.mark.req("RX-W1", "RX-1", "RX-2", "RX-3", "RX-4")
def test_workstation_drafts_verifies_sends_prints_and_revokes(
    centre: Centre, workstation: tuple[str, str]
) -> None:
    app_id, key = workstation
    created = call("POST", f"{BASE}/prescriptions", body(), app_id=app_id, key=key)
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["status"], data["patient_name_masked"], data["total_amount"]) == (
        "draft",
        "王**",
        "55.44",
    )
    assert PATIENT_ID not in created.content.decode()
    ref = data["reference"]
    verified = call("POST", f"{BASE}/prescriptions/{ref}/preverify", app_id=app_id, key=key)
    assert verified.json()["status"] == "verified"
    reviewed = call("POST", f"{BASE}/prescriptions/{ref}/submit-review", app_id=app_id, key=key)
    assert reviewed.json()["status"] == "reviewed"
    pdf = call("GET", f"{BASE}/prescriptions/{ref}/pdf", app_id=app_id, key=key)
    assert (pdf.status_code, pdf["Content-Type"], pdf.content[:4]) == (
        200,
        "application/pdf",
        b"%PDF",
    )
    sent = call("POST", f"{BASE}/prescriptions/{ref}/send", app_id=app_id, key=key)
    assert (sent.status_code, sent.json()["status"]) == (200, "uploaded")
    slip = call("GET", f"{BASE}/prescriptions/{ref}/purchase-slip", app_id=app_id, key=key)
    assert (slip.status_code, slip.content[:4]) == (200, b"%PDF")
    revoked = call(
        "POST", f"{BASE}/prescriptions/{ref}/revoke", {"reason": "医嘱变更"}, app_id=app_id, key=key
    )
    answer = revoked.json()
    assert (answer["outcome"], answer["message"]) == ("revoked", "处方已撤销")
    assert answer["prescription"]["revoke_outcome_label"] == "已撤销"
    assert answer["prescription"]["rx_status"] == {"code": "02", "label": "已撤销"}
    gone = call("DELETE", f"{BASE}/prescriptions/{ref}", app_id=app_id, key=key)
    assert gone.status_code == 409
    assert gone.json()["code"] == "wrong_state"


@pytest.mark.req("RX-W1", "RX-10")
def test_bad_input_gets_a_chinese_error_naming_the_field(
    centre: Centre, workstation: tuple[str, str]
) -> None:
    app_id, key = workstation
    unknown = body()
    unknown["items"][0]["med_list_codg"] = "X999"
    response = call("POST", f"{BASE}/prescriptions", unknown, app_id=app_id, key=key)
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_drug"
    assert response.json()["field"] == "items.0.med_list_codg"
    bad = body()
    bad["patient_gender"] = "9"
    response = call("POST", f"{BASE}/prescriptions", bad, app_id=app_id, key=key)
    assert response.json() == {
        "code": "invalid_input",
        "message": "患者性别应为 1（男）或 2（女）",
        "field": "patient_gender",
    }
    assert Prescription.objects.unscoped().count() == 0
    drugs = call("GET", f"{BASE}/drugs", app_id=app_id, key=key, query={"keyword": "氨氯地平"})
    assert [d["med_list_codg"] for d in drugs.json()["items"]] == [DRUG_A]


def test_outsiders_get_nothing_and_change_nothing(
    centre: Centre, workstation: tuple[str, str]
) -> None:
    from django.apps import apps

    Institution = apps.get_model("institutions", "Institution")  # noqa: N806

    app_id, key = workstation
    ref = call("POST", f"{BASE}/prescriptions", body(), app_id=app_id, key=key).json()["reference"]
    path = f"{BASE}/prescriptions/{ref}/preverify"
    calls_before = CentreCall.objects.unscoped().count()
    anonymous = Client().post(path)
    assert anonymous.status_code == 401
    unsigned = Client().post(
        path, headers={"X-Jingan-App-Id": app_id, "X-Jingan-Signature": "AAAA"}
    )
    assert unsigned.status_code == 401
    other = (
        Institution.objects.unscoped().exclude(pk=centre.institution_id).order_by("code").first()
    )
    assert other is not None
    other_client, other_key = create_api_client(
        actor=None, app_id="his-ws-other", name="别的医院", institution_id=other.pk
    )
    for method, target in (
        ("POST", path),
        ("GET", f"{BASE}/prescriptions/{ref}"),
        ("GET", f"{BASE}/prescriptions/{ref}/pdf"),
        ("DELETE", f"{BASE}/prescriptions/{ref}"),
    ):
        response = call(method, target, app_id=other_client.app_id, key=other_key)
        assert response.status_code == 404, target
        assert "王" not in response.content.decode()
    # The other client may not write for this institution either: it has no connection.
    response = call(
        "POST",
        f"{BASE}/prescriptions",
        body(hosp_rxno="RX9"),
        app_id=other_client.app_id,
        key=other_key,
    )
    assert response.status_code == 409
    rx = Prescription.objects.unscoped().get(reference=ref)
    assert (rx.status, Prescription.objects.unscoped().count()) == (PrescriptionStatus.DRAFT, 1)
    assert CentreCall.objects.unscoped().count() == calls_before
