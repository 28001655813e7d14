"""The resident's "我的处方" (H5): own list and detail, the slip QR, and outsiders."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingan.prescriptions.erx.models import Prescription, PrescriptionStatus
from jingan.prescriptions.erx.tests.test_console import (
    Centre,
    Staff,
    act,
    centre,
    create_through_form,
    reload,
    staff,
    uploaded,
)
from jingan.testing.residents import DEFAULT_ID_NUMBER

__all__ = ["centre", "staff"]

OTHER_ID_NUMBER = "310106198503151234"


def h5_paths(prescription: Prescription) -> list[str]:
    return [
        "/h5/erx/prescriptions/",
        f"/h5/erx/prescriptions/{prescription.reference}/",
        f"/h5/erx/prescriptions/{prescription.reference}/slip/",
    ]


@pytest.mark.req("RX-M2")
def test_the_resident_sees_an_empty_list_before_any_prescription(
    db: None, make_resident: Any, resident_client: Any
) -> None:
    client = resident_client(make_resident())
    page = client.get("/h5/erx/prescriptions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "您还没有医保电子处方" in html
    assert 'id="rx-list"' not in html


@pytest.mark.req("RX-M2")
def test_the_resident_follows_review_pickup_and_sees_the_slip_qr(
    centre: Centre, staff: Staff, make_resident: Any, resident_client: Any
) -> None:
    resident = make_resident()
    client = resident_client(resident)
    draft = create_through_form(staff.doctor, centre, hosp_rxno="RX20260310008")
    prescription = uploaded(staff, centre)
    listing = client.get("/h5/erx/prescriptions/")
    html = listing.content.decode()
    # Only what reached the centre: the draft is the doctor's business.
    assert [card["p"].pk for card in listing.context["cards"]] == [prescription.pk]
    assert draft.hosp_rxno not in html
    assert 'data-status="uploaded"' in html
    assert "已上传待审核" in html
    assert "审核：待审核" in html

    detail_url = f"/h5/erx/prescriptions/{prescription.reference}/"
    waiting = client.get(detail_url).content.decode()
    assert "处方已提交医保处方中心，正在等待审核，请稍后查看。" in waiting
    assert 'data-role="slip-qr"' not in waiting
    assert client.get(f"{detail_url}slip/").status_code == 409

    centre.simulator.review(prescription.hi_rxno, approve=True, opinion="处方合理")
    act(staff.pharmacist, prescription, "refresh")
    approved = client.get(detail_url).content.decode()
    assert 'data-status="centre_approved"' in approved
    assert '<dd data-field="review">审核通过</dd>' in approved
    assert '<dd data-field="review-opinion">处方合理</dd>' in approved
    assert '<dd data-field="pickup">未取药</dd>' in approved
    assert 'data-role="slip-qr"' in approved
    assert "<svg" in approved
    assert f"医保处方编号 {prescription.hi_rxno}" in approved
    assert "苯磺酸氨氯地平片" in approved
    assert "张医生（主治医师）" in approved
    slip = client.get(f"{detail_url}slip/")
    assert slip.status_code == 200
    assert slip["Content-Type"] == "application/pdf"
    assert slip["Content-Disposition"].startswith("attachment;")
    assert slip.content.startswith(b"%PDF")

    centre.simulator.pharmacy(prescription.hi_rxno, "start")
    centre.simulator.pharmacy(prescription.hi_rxno, "complete")
    act(staff.pharmacist, prescription, "refresh")
    assert reload(prescription).status == PrescriptionStatus.DISPENSED
    collected = client.get(detail_url).content.decode()
    assert '<dd data-field="pickup">已取药</dd>' in collected
    assert 'data-field="dispensed-at"' in collected
    assert 'data-role="slip-qr"' not in collected  # no QR once the drugs are collected
    assert client.get(f"{detail_url}slip/").status_code == 409


@pytest.mark.req("RX-M2")
def test_the_resident_reads_what_a_revocation_came_to(
    centre: Centre, staff: Staff, make_resident: Any, resident_client: Any
) -> None:
    client = resident_client(make_resident())
    prescription = uploaded(staff, centre)
    act(staff.doctor, prescription, "revoke", reason="患者要求更换药品")
    assert reload(prescription).status == PrescriptionStatus.REVOKED
    html = client.get(f"/h5/erx/prescriptions/{prescription.reference}/").content.decode()
    assert 'data-status="revoked"' in html
    assert (
        '<div class="rx-alert rx-alert_info" data-field="revoke">医生已撤销本处方。</div>' in html
    )
    assert "本处方已被医生撤销，不能再取药。" in html


@pytest.mark.req("RX-M2")
def test_another_resident_gets_404_and_an_empty_list(
    centre: Centre, staff: Staff, make_resident: Any, resident_client: Any
) -> None:
    prescription = uploaded(staff, centre)
    other = resident_client(make_resident("李强", OTHER_ID_NUMBER))
    listing = other.get("/h5/erx/prescriptions/")
    assert listing.context["cards"] == []
    assert prescription.hosp_rxno not in listing.content.decode()
    for path in h5_paths(prescription)[1:]:
        response = other.get(path)
        assert response.status_code == 404, path
        assert DEFAULT_ID_NUMBER not in response.content.decode(errors="ignore")
    # An unverified resident has no ID number to match and is sent to verify first.
    unverified = resident_client(make_resident(verified=False))
    response = unverified.get("/h5/erx/prescriptions/")
    assert response.status_code == 302
    assert "/h5/" in response["Location"]
    assert "verify" in response["Location"]


@pytest.mark.req("RX-M2")
def test_anonymous_visitors_and_staff_are_sent_to_the_resident_sign_in(
    centre: Centre, staff: Staff
) -> None:
    prescription = uploaded(staff, centre)
    for client in (Client(), staff.doctor):
        for path in h5_paths(prescription):
            response = client.get(path)
            assert response.status_code == 302, path
            assert response["Location"].startswith("/h5/login/"), path
    assert Client().post("/h5/erx/prescriptions/").status_code in (302, 405)
