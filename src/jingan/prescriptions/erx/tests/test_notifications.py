"""The centre's notifications: applied, idempotent, rejected-but-kept, recovered by polling."""

# ruff: noqa: F811 - the shared fixtures are imported from test_services by name

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre.envelope import AppCredentials, now_ms, seal
from jingan.prescriptions.erx import services, tasks
from jingan.prescriptions.erx.errors import ErxError
from jingan.prescriptions.erx.models import (
    CentreNotification,
    NotificationOutcome,
    Prescription,
    PrescriptionStatus,
)
from jingan.prescriptions.erx.tests.test_services import (
    NOTIFY_PATH,
    Centre,
    centre,  # noqa: F401 - fixture
    doctor,  # noqa: F401 - fixture
    pharmacist,  # noqa: F401 - fixture
    start_centre,
    to_uploaded,
)

S = PrescriptionStatus


@pytest.fixture
def live_centre(settings: Any, live_server_url: str) -> Iterator[Centre]:
    running = start_centre(settings, notify_url=f"{live_server_url}{NOTIFY_PATH}")
    services.sync_drug_catalogue(actor=services.SYSTEM_ACTOR, institution_id=running.institution_id)
    yield running
    running.simulator.stop()


@pytest.fixture
def live_staff(live_centre: Centre, make_staff: Callable[..., Any]) -> tuple[Any, Any]:
    return (
        make_staff("doctor", roles=("erx_doctor",), institution=live_centre.institution_id),
        make_staff("pharmacist", roles=("erx_pharmacist",), institution=live_centre.institution_id),
    )


def wait_status(prescription_id: int, status: str, timeout: float = 8.0) -> Prescription:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rx = Prescription.objects.unscoped().get(pk=prescription_id)
        if rx.status == status:
            return rx
        time.sleep(0.05)
    raise AssertionError(f"prescription stayed {rx.status}, expected {status}")


def centre_notification(
    centre: Centre, data: dict[str, Any], *, kind: str, timestamp: int | None = None
) -> bytes:
    """A notification sealed exactly as the centre does (app credentials, centre key)."""
    connection = centre.connection
    envelope = seal(
        data,
        credentials=AppCredentials(app_id=connection.app_id, app_secret=connection.app_secret),
        signing_key_hex=centre.simulator.state.centre_private_key_hex,
        backend=get_sm2_backend(),
        version="1.0.0",
        timestamp=timestamp,
        extra_fields={"transType": kind},
    )
    return json.dumps(envelope, ensure_ascii=False).encode()


@pytest.mark.req("RX-8", "RX-9")
def test_review_and_pickup_notifications_are_applied_and_a_repeat_changes_nothing(
    live_centre: Centre, live_staff: tuple[Any, Any]
) -> None:
    doctor_user, pharmacist_user = live_staff
    rx = to_uploaded(live_centre, doctor_user, pharmacist_user)
    approved = wait_status(rx.pk, S.CENTRE_APPROVED)
    assert (approved.review_status_code, approved.centre_pharmacist_name != "") == ("02", True)
    review = CentreNotification.objects.unscoped().get(kind="rxChkInfoNotify")
    assert (review.outcome, review.hi_rxno, review.prescription_id) == (
        "applied",
        rx.hi_rxno,
        rx.pk,
    )
    live_centre.pharmacy(rx.hi_rxno, "complete")
    dispensed = wait_status(rx.pk, S.DISPENSED)
    assert dispensed.rx_used_status_code == "02"
    assert (
        dispensed.pharmacy_name == live_centre.simulator.prescription(rx.hi_rxno).pharmacy[1] != ""
    )
    pickup = CentreNotification.objects.unscoped().get(kind="rxSetlInfoNotify")
    assert pickup.outcome == NotificationOutcome.APPLIED
    events = dispensed.events.count()
    # The same notification again: answered code 0, kept as a duplicate, nothing moves.
    response = Client().post(
        NOTIFY_PATH, data=pickup.envelope.encode(), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["code"] == 0
    again = CentreNotification.objects.unscoped().order_by("-pk").first()
    assert again is not None
    assert again.outcome == NotificationOutcome.DUPLICATE
    after = Prescription.objects.unscoped().get(pk=rx.pk)
    assert (after.status, after.events.count()) == (S.DISPENSED, events)


@pytest.mark.req("RX-8")
def test_dropped_notification_is_recovered_by_the_polling_task(
    live_centre: Centre, live_staff: tuple[Any, Any]
) -> None:
    live_centre.settings(drop_notifications=1)
    rx = to_uploaded(live_centre, *live_staff)
    live_centre.wait_reviewed(rx.hi_rxno)
    time.sleep(0.3)
    assert Prescription.objects.unscoped().get(pk=rx.pk).status == S.UPLOADED
    assert not CentreNotification.objects.unscoped().exists()
    result = tasks.poll_outstanding_prescriptions()
    assert (result.checked, result.changed, result.failed) == (1, 1, 0)
    assert Prescription.objects.unscoped().get(pk=rx.pk).status == S.CENTRE_APPROVED


@pytest.mark.req("RX-8")
def test_tampered_notification_is_rejected_kept_and_not_applied(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    body = json.loads(
        centre_notification(
            centre,
            {"hiRxno": rx.hi_rxno, "rxChkStasCodg": "03", "rxChkOpnn": "剂量超限"},
            kind="rxChkInfoNotify",
        )
    )
    # Flip one hex digit of the ciphertext.
    body["encData"] = ("0" if body["encData"][0] != "0" else "1") + body["encData"][1:]
    response = Client().post(NOTIFY_PATH, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] in (1002, 1003)
    kept = CentreNotification.objects.unscoped().get()
    assert kept.outcome == NotificationOutcome.REJECTED
    assert kept.reason.startswith("通知验证失败：")
    assert kept.institution_id == centre.institution_id
    assert Prescription.objects.unscoped().get(pk=rx.pk).status == S.UPLOADED
    with pytest.raises(ErxError, match="通知仍无法验证"):
        services.replay_notification(actor=services.SYSTEM_ACTOR, notification_id=kept.pk)


@pytest.mark.req("RX-9")
def test_stale_notification_is_rejected_then_replayed_from_the_console(
    centre: Centre, doctor: Any, pharmacist: Any, make_staff: Callable[..., Any]
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    stale = centre_notification(
        centre,
        {
            "hiRxno": rx.hi_rxno,
            "rxChkStasCodg": "03",
            "rxChkOpnn": "剂量超限",
            "fixmedinsCode": centre.connection.fixmedins_code,
        },
        kind="rxChkInfoNotify",
        timestamp=now_ms() - 10 * 60 * 1000,
    )
    response = Client().post(NOTIFY_PATH, data=stale, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == 1003
    kept = CentreNotification.objects.unscoped().get()
    assert kept.reason == "通知验证失败：timestamp 已过期或超前（允许 ±5 分钟）"
    assert Prescription.objects.unscoped().get(pk=rx.pk).status == S.UPLOADED
    admin = make_staff(
        "ops", permissions=("erx.replay_centrecall",), institution=centre.institution_id
    )
    replayed = services.replay_notification(
        actor=services.staff_actor(admin), notification_id=kept.pk
    )
    assert replayed.outcome == NotificationOutcome.APPLIED
    assert replayed.replayed_at is not None
    after = Prescription.objects.unscoped().get(pk=rx.pk)
    assert (after.status, after.review_opinion) == (S.CENTRE_REJECTED, "剂量超限")


def test_notification_for_unknown_prescription_is_kept_with_the_reason(centre: Centre) -> None:
    body = centre_notification(centre, {"hiRxno": "NOPE123"}, kind="rxSetlInfoNotify")
    response = Client().post(NOTIFY_PATH, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == 2003
    kept = CentreNotification.objects.unscoped().get()
    assert (kept.outcome, kept.reason) == ("rejected", "本机构没有医保处方编号为 NOPE123 的处方")
