"""Workflow services against the real centre simulator over HTTP (real SM2/SM4).

Fixtures here are shared by test_api.py and test_notifications.py (imported there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre.catalogue import CATALOGUE
from jingan.integrations.erx_centre.simulator import CentreApp, CentreState, ErxCentreSimulator
from jingan.prescriptions.erx import services
from jingan.prescriptions.erx.errors import ErrorCode, ErxError
from jingan.prescriptions.erx.models import (
    CallOutcome,
    CentreCall,
    CentreConnection,
    DrugCatalogueEntry,
    Prescription,
    PrescriptionStatus,
    RevokeOutcome,
)
from jingan.prescriptions.erx.schemas import PrescriptionDraft

S = PrescriptionStatus
DRUG_A = CATALOGUE[0]["medListCodg"]  # 苯磺酸氨氯地平片 27.72 / 盒
DRUG_B = CATALOGUE[1]["medListCodg"]
PATIENT_NAME = "王小明"
NOTIFY_PATH = "/api/v1/erx/centre/notifications"


def valid_id_number(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body17, weights, strict=True))
    return body17 + "10X98765432"[total % 11]


PATIENT_ID = valid_id_number("31010619800101003")  # 17th digit odd: male


class Centre:
    """One running simulator plus an institution connected to it."""

    def __init__(self, simulator: ErxCentreSimulator, url: str, connection: CentreConnection):
        self.simulator = simulator
        self.url = url
        self.connection = connection

    @property
    def institution_id(self) -> int:
        return self.connection.institution_id

    def pharmacy(self, hi_rxno: str, stage: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/simulator/pharmacy", params={"hiRxno": hi_rxno, "stage": stage}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settings(self, **values: Any) -> None:
        response = httpx.post(f"{self.url}/simulator/settings", json=values)
        assert response.status_code == 200, response.text

    def wait_reviewed(self, hi_rxno: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rx = self.simulator.prescription(hi_rxno)
            if rx is not None and rx.review_status != "01":
                return
            time.sleep(0.05)
        raise AssertionError(f"centre did not review {hi_rxno}")


def start_centre(settings: Any, *, notify_url: str = "", review_pharmacist: bool = True) -> Centre:
    from django.apps import apps

    Institution = apps.get_model("institutions", "Institution")  # noqa: N806

    backend = get_sm2_backend()
    simulator = ErxCentreSimulator(
        backend=backend,
        state=CentreState(),
        review_mode="auto",
        review_delay_seconds=0.1,
        notify_backoff_seconds=0.05,
    )
    url = simulator.start()
    settings.ERX_CENTRE = {**settings.ERX_CENTRE, "api_base_url": url, "timeout_seconds": 5.0}
    institution = Institution.objects.unscoped().order_by("code").first()
    assert institution is not None
    pair = backend.generate_keypair()
    app_id = f"erxapp{institution.code}".ljust(16, "0")
    simulator.add_app(
        CentreApp(
            app_id=app_id,
            app_secret="S3cret-for-tests-0001",
            public_key_hex=pair.public_hex,
            fixmedins_code="H31010600001",
            fixmedins_name=institution.name,
            notify_url=notify_url,
        )
    )
    connection = CentreConnection.objects.create(
        institution=institution,
        fixmedins_code="H31010600001",
        fixmedins_name=institution.name,
        app_id=app_id,
        app_secret="S3cret-for-tests-0001",
        private_key_hex=pair.private_hex,
        public_key_hex=pair.public_hex,
        centre_public_key_hex=simulator.centre_public_key_hex,
        requires_pharmacist_review=review_pharmacist,
    )
    return Centre(simulator, url, connection)


@pytest.fixture
def centre(db: None, settings: Any) -> Iterator[Centre]:
    running = start_centre(settings)
    services.sync_drug_catalogue(actor=services.SYSTEM_ACTOR, institution_id=running.institution_id)
    yield running
    running.simulator.stop()


def draft(**overrides: Any) -> PrescriptionDraft:
    values: dict[str, Any] = {
        "hosp_rxno": "RX0001",
        "patient_name": PATIENT_NAME,
        "patient_id_number": PATIENT_ID,
        "patient_gender": "1",
        "patient_age": 45,
        "mdtrt_id": "MD20260001",
        "department_code": "NK01",
        "department_name": "内科",
        "doctor_code": "D310106001",
        "doctor_name": "李医生",
        "diagnoses": [{"code": "I10", "name": "原发性高血压", "main": True}],
        "items": [
            {
                "med_list_codg": DRUG_A,
                "quantity": "2",
                "single_dose": "5 mg",
                "route_code": "01",
                "frequency_code": "qd",
                "days": 14,
            }
        ],
    }
    values.update(overrides)
    return PrescriptionDraft.model_validate(values)


@pytest.fixture
def doctor(make_staff: Callable[..., Any], centre: Centre) -> Any:
    return make_staff("doctor", roles=("erx_doctor",), institution=centre.institution_id)


@pytest.fixture
def pharmacist(make_staff: Callable[..., Any], centre: Centre) -> Any:
    return make_staff("pharmacist", roles=("erx_pharmacist",), institution=centre.institution_id)


def to_reviewed(centre: Centre, doctor: Any, pharmacist: Any, **overrides: Any) -> Prescription:
    actor = services.staff_actor(doctor)
    rx = services.save_draft(
        actor=actor, institution_id=centre.institution_id, draft=draft(**overrides)
    )
    services.preverify(actor=actor, prescription_id=rx.pk)
    services.submit_for_review(actor=actor, prescription_id=rx.pk)
    return services.review_by_pharmacist(
        actor=services.staff_actor(pharmacist), prescription_id=rx.pk, approve=True, opinion="合理"
    )


def to_uploaded(centre: Centre, doctor: Any, pharmacist: Any, **overrides: Any) -> Prescription:
    rx = to_reviewed(centre, doctor, pharmacist, **overrides)
    actor = services.staff_actor(doctor)
    services.sign(actor=actor, prescription_id=rx.pk)
    return services.upload(actor=actor, prescription_id=rx.pk)


@pytest.mark.req("RX-10")
def test_sync_drug_catalogue_pages_through_the_whole_centre_catalogue(centre: Centre) -> None:
    assert DrugCatalogueEntry.objects.count() == len(CATALOGUE) == 60
    entry = DrugCatalogueEntry.objects.get(med_list_codg=DRUG_A)
    assert (entry.generic_name, entry.unit, entry.price) == (
        "苯磺酸氨氯地平片",
        "盒",
        Decimal("27.7200"),
    )
    # Two pages of 50: the journal has exactly those two catalogue calls (+ the fixture's).
    pages = CentreCall.objects.unscoped().filter(operation="circDrugQuery", outcome=CallOutcome.OK)
    assert pages.count() == 2
    live = services.query_drug_catalogue(
        actor=services.SYSTEM_ACTOR, institution_id=centre.institution_id, keyword="氨氯地平"
    )
    assert [d.med_list_codg for d in live.items] == [DRUG_A]
    assert live.total == 1


@pytest.mark.req("RX-1", "RX-2", "RX-3", "RX-5", "RX-6", "RX-7")
def test_full_flow_from_draft_to_dispensed_through_polling(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_reviewed(centre, doctor, pharmacist)
    assert rx.status == S.REVIEWED
    assert rx.hi_rxno
    assert rx.rx_trace_code
    actor = services.staff_actor(doctor)
    signed = services.sign(actor=actor, prescription_id=rx.pk)
    assert signed.status == S.SIGNED
    assert services.signed_file_bytes(signed).startswith(b"%PDF")
    assert signed.sign_digest
    uploaded = services.upload(actor=actor, prescription_id=rx.pk)
    assert (uploaded.status, uploaded.rx_status_code) == (S.UPLOADED, "01")
    centre.wait_reviewed(rx.hi_rxno)
    approved = services.refresh_from_centre(actor=actor, prescription_id=rx.pk)
    assert (approved.status, approved.review_status_code) == (S.CENTRE_APPROVED, "02")
    centre.pharmacy(rx.hi_rxno, "complete")
    dispensed = services.refresh_from_centre(actor=actor, prescription_id=rx.pk)
    assert (dispensed.status, dispensed.rx_used_status_code) == (S.DISPENSED, "02")
    assert dispensed.dispensed_at is not None
    assert dispensed.pharmacy_name == centre.simulator.prescription(rx.hi_rxno).pharmacy[1] != ""
    assert json.loads(dispensed.dispense_details)[0]["medListCodg"] == DRUG_A
    kinds = list(dispensed.events.values_list("kind", flat=True))
    assert kinds == [
        "created",
        "preverified",
        "submitted_for_review",
        "pharmacist_approved",
        "signed",
        "uploaded",
        "centre_query",
        "centre_query",
    ]


@pytest.mark.req("RX-1", "RX-3")
def test_journal_keeps_ciphertext_and_masks_the_patient(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    calls = CentreCall.objects.unscoped().filter(prescription=rx).order_by("pk")
    assert [(c.operation, c.outcome) for c in calls] == [
        ("uploadChk", "ok"),
        ("rxFixmedinsSign", "ok"),
        ("rxFileUpld", "ok"),
    ]
    for call in calls:
        assert PATIENT_NAME not in call.request_masked
        assert PATIENT_ID not in call.request_masked
        assert PATIENT_NAME not in call.request_envelope  # ciphertext only
        envelope = json.loads(call.request_envelope)
        assert envelope["encData"]
        assert envelope["signData"]
    check = json.loads(calls[0].request_masked)
    assert check["mdtrtinfo"]["patnName"] == "王**"
    assert check["mdtrtCertNo"] == PATIENT_ID[:3] + "*" * 11 + PATIENT_ID[-4:]
    upload = json.loads(calls[2].request_masked)
    assert upload["rxFile"].startswith("<")
    assert upload["certno"].endswith(PATIENT_ID[-4:])


@pytest.mark.req("RX-4")
def test_revoke_before_pickup_is_revoked(centre: Centre, doctor: Any, pharmacist: Any) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    outcome = services.revoke(
        actor=services.staff_actor(doctor), prescription_id=rx.pk, reason="患者要求更换药品"
    )
    assert outcome == RevokeOutcome.REVOKED
    rx.refresh_from_db()
    assert (rx.status, rx.revoke_outcome, rx.rx_status_code) == (S.REVOKED, "revoked", "02")


@pytest.mark.req("RX-4")
def test_revoke_after_dispensing_is_refused_and_the_prescription_stays(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    centre.wait_reviewed(rx.hi_rxno)
    centre.pharmacy(rx.hi_rxno, "complete")
    outcome = services.revoke(
        actor=services.staff_actor(doctor), prescription_id=rx.pk, reason="开错了"
    )
    assert outcome == RevokeOutcome.REFUSED_DISPENSED
    rx.refresh_from_db()
    assert (rx.status, rx.revoke_outcome) == (S.DISPENSED, "refused_dispensed")
    refused = CentreCall.objects.unscoped().get(prescription=rx, operation="rxUndo")
    assert (refused.outcome, refused.code) == (CallOutcome.REFUSED, 3001)


@pytest.mark.req("RX-4")
def test_revoke_while_pharmacy_settles_is_pending_then_completes(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    centre.wait_reviewed(rx.hi_rxno)
    centre.pharmacy(rx.hi_rxno, "start")
    actor = services.staff_actor(doctor)
    outcome = services.revoke(actor=actor, prescription_id=rx.pk, reason="剂量需调整")
    assert outcome == RevokeOutcome.PENDING_AT_PHARMACY
    rx.refresh_from_db()
    assert (rx.status, rx.revoke_outcome, rx.rx_status_code) == (
        S.REVOKE_PENDING,
        "pending_at_pharmacy",
        "04",
    )
    centre.pharmacy(rx.hi_rxno, "release")
    done = services.refresh_from_centre(actor=actor, prescription_id=rx.pk)
    assert (done.status, done.revoke_outcome) == (S.REVOKED, "revoked")


@pytest.mark.req("RX-1")
def test_unknown_drug_code_is_refused_locally_and_by_the_centre(
    centre: Centre, doctor: Any
) -> None:
    actor = services.staff_actor(doctor)
    with pytest.raises(ErxError) as local:
        services.save_draft(
            actor=actor,
            institution_id=centre.institution_id,
            draft=draft(items=[{**draft().items[0].model_dump(), "med_list_codg": "X000"}]),
        )
    assert local.value.code == ErrorCode.UNKNOWN_DRUG
    assert local.value.field == "items.0.med_list_codg"
    assert local.value.message.startswith("药品编码 X000 不在医保电子处方流通药品目录中")
    assert Prescription.objects.unscoped().count() == 0
    # A drug our (stale) catalogue still lists but the centre does not.
    stale = DrugCatalogueEntry.objects.get(med_list_codg=DRUG_A)
    stale.pk = None
    stale.med_list_codg = "XSTALE0000001"
    stale.save()
    rx = services.save_draft(
        actor=actor,
        institution_id=centre.institution_id,
        draft=draft(items=[{**draft().items[0].model_dump(), "med_list_codg": "XSTALE0000001"}]),
    )
    with pytest.raises(ErxError) as remote:
        services.preverify(actor=actor, prescription_id=rx.pk)
    assert remote.value.centre_code == 2001
    assert "XSTALE0000001" in remote.value.message
    rx.refresh_from_db()
    assert rx.status == S.DRAFT
    assert rx.last_error == remote.value.message
    call = CentreCall.objects.unscoped().get(prescription=rx)
    assert (call.outcome, call.code) == (CallOutcome.REFUSED, 2001)


def test_state_rules_refuse_edit_and_delete_after_upload(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    rx = to_uploaded(centre, doctor, pharmacist)
    actor = services.staff_actor(doctor)
    with pytest.raises(ErxError) as deleting:
        services.delete_prescription(actor=actor, prescription_id=rx.pk)
    assert deleting.value.message == "处方 RX0001 当前状态为“已上传待审核”，不能删除，请改为撤销"
    with pytest.raises(ErxError) as editing:
        services.save_draft(
            actor=actor, institution_id=centre.institution_id, draft=draft(), prescription_id=rx.pk
        )
    assert editing.value.code == ErrorCode.WRONG_STATE
    assert Prescription.objects.unscoped().get(pk=rx.pk).status == S.UPLOADED


def test_pharmacist_cannot_review_own_prescription_and_rejection_needs_opinion(
    centre: Centre, make_staff: Callable[..., Any]
) -> None:
    both = make_staff(
        "both", roles=("erx_doctor", "erx_pharmacist"), institution=centre.institution_id
    )
    actor = services.staff_actor(both)
    rx = services.save_draft(actor=actor, institution_id=centre.institution_id, draft=draft())
    services.preverify(actor=actor, prescription_id=rx.pk)
    services.submit_for_review(actor=actor, prescription_id=rx.pk)
    with pytest.raises(ErxError, match="审核不通过时请填写审方意见"):
        services.review_by_pharmacist(actor=actor, prescription_id=rx.pk, approve=False, opinion="")
    with pytest.raises(ErxError, match="不能审核自己开具的处方"):
        services.review_by_pharmacist(actor=actor, prescription_id=rx.pk, approve=True, opinion="")


def test_other_institution_staff_cannot_touch_the_prescription(
    centre: Centre, doctor: Any, make_staff: Callable[..., Any]
) -> None:
    from django.apps import apps

    Institution = apps.get_model("institutions", "Institution")  # noqa: N806

    other = (
        Institution.objects.unscoped().exclude(pk=centre.institution_id).order_by("code").first()
    )
    outsider = make_staff("outsider", roles=("erx_doctor",), institution=other)
    rx = services.save_draft(
        actor=services.staff_actor(doctor), institution_id=centre.institution_id, draft=draft()
    )
    with pytest.raises(ErxError) as error:
        services.preverify(actor=services.staff_actor(outsider), prescription_id=rx.pk)
    assert error.value.code == ErrorCode.NOT_FOUND
    assert not CentreCall.objects.unscoped().filter(prescription=rx).exists()


@pytest.mark.req("RX-3")
def test_lost_upload_answer_is_reconciled_not_resent(
    centre: Centre, doctor: Any, pharmacist: Any
) -> None:
    from jingan.integrations.erx_centre.port import CentreError, Operation
    from jingan.prescriptions.erx import client

    rx = to_reviewed(centre, doctor, pharmacist)
    actor = services.staff_actor(doctor)
    services.sign(actor=actor, prescription_id=rx.pk)
    real = client.port_for(centre.connection)

    class LosesUploadAnswer:
        profile = real.profile

        def call(self, operation: Operation, data: Any) -> Any:
            answer = real.call(operation, data)  # the centre acts on it ...
            if operation == Operation.UPLOAD:  # ... but the answer never arrives
                raise CentreError("读取超时", retryable=False, reached=True)
            return answer

    with client.using_port(lambda connection: LosesUploadAnswer()):
        done = services.upload(actor=actor, prescription_id=rx.pk)
    assert done.status == S.UPLOADED
    uploads = CentreCall.objects.unscoped().filter(prescription=rx, operation="rxFileUpld")
    assert [(c.outcome, c.may_have_reached) for c in uploads] == [(CallOutcome.FAILED, True)]
    at_centre = centre.simulator.prescription(rx.hi_rxno)
    assert at_centre is not None
    assert at_centre.uploaded is True
    assert "upload_reconciled" in set(done.events.values_list("kind", flat=True))
