"""The e-prescription console through its pages (RX-M1, RX-M2, RX-C1), against the
centre simulator over real HTTP with real SM2/SM4, and its outsiders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre.catalogue import CATALOGUE
from jingan.integrations.erx_centre.simulator import ErxCentreSimulator
from jingan.prescriptions.erx import demo, services
from jingan.prescriptions.erx.models import (
    CallOutcome,
    CentreCall,
    CentreConnection,
    CentreNotification,
    DrugCatalogueEntry,
    NotificationOutcome,
    Prescription,
    PrescriptionStatus,
)
from jingan.prescriptions.erx.notifications import receive_notification
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

AMLODIPINE = CATALOGUE[0]  # 苯磺酸氨氯地平片 27.72 元/盒
NIFEDIPINE = CATALOGUE[1]  # 硝苯地平控释片 33.02 元/盒


def institution_model() -> Any:
    return apps.get_model("institutions", "Institution")


@dataclass
class Centre:
    url: str
    simulator: ErxCentreSimulator
    central: Any  # the institution the doctor and pharmacist work at
    other: Any  # a second connected institution


def start_centre(settings: Any, state: Path, *, notify_url: str = "") -> ErxCentreSimulator:
    """The centre simulator on a free loopback port, reviewing only when told to."""
    simulator = ErxCentreSimulator(
        backend=get_sm2_backend(), state_path=state, review_mode="manual", review_delay_seconds=0
    )
    url = simulator.start("127.0.0.1", 0)
    config = {**settings.ERX_CENTRE, "api_base_url": url, "simulator_state": state}
    if notify_url:
        config["notify_url"] = notify_url
    settings.ERX_CENTRE = config
    return simulator


@pytest.fixture
def centre(db: None, settings: Any, tmp_path: Path) -> Iterator[Centre]:
    simulator = start_centre(settings, tmp_path / "centre.json")
    institutions = list(institution_model().objects.unscoped().order_by("code")[:2])
    for institution in institutions:
        demo.ensure_connection(institution)
    services.sync_drug_catalogue(actor=services.SYSTEM_ACTOR, institution_id=institutions[0].pk)
    try:
        yield Centre(simulator.url, simulator, institutions[0], institutions[1])
    finally:
        simulator.stop()


@dataclass
class Staff:
    doctor: Client
    pharmacist: Client
    doctor_user: Any
    pharmacist_user: Any


@pytest.fixture
def staff(centre: Centre, make_staff: Any, client_for: Any) -> Staff:
    doctor = make_staff(
        "doctor", roles=("erx_doctor",), institution=centre.central, display_name="张医生"
    )
    pharmacist = make_staff(
        "pharmacist", roles=("erx_pharmacist",), institution=centre.central, display_name="李药师"
    )
    return Staff(client_for(doctor), client_for(pharmacist), doctor, pharmacist)


def form_data(centre: Centre, **overrides: str) -> dict[str, str]:
    data = {
        "institution": str(centre.central.pk),
        "hosp_rxno": "RX20260310001",
        "patient_name": DEFAULT_NAME,
        "patient_id_number": DEFAULT_ID_NUMBER,
        "patient_gender": "2",
        "patient_age": "80",
        "psn_no": "31000012345678",
        "insuplc_admdvs": "310106",
        "mdtrt_id": "MZ202603100001",
        "department_code": "A03",
        "department_name": "心血管内科门诊",
        "doctor_code": "D310106001",
        "doctor_name": "张医生",
        "doctor_title": "主治医师",
        "rx_type_code": "1",
        "valid_days": "3",
        "diagnosis-TOTAL_FORMS": "1",
        "diagnosis-INITIAL_FORMS": "0",
        "diagnosis-MIN_NUM_FORMS": "1",
        "diagnosis-MAX_NUM_FORMS": "10",
        "diagnosis-0-code": "I10.X00",
        "diagnosis-0-name": "原发性高血压",
        "diagnosis-0-main": "on",
        "item-TOTAL_FORMS": "1",
        "item-INITIAL_FORMS": "0",
        "item-MIN_NUM_FORMS": "1",
        "item-MAX_NUM_FORMS": "5",
        "item-0-med_list_codg": AMLODIPINE["medListCodg"],
        "item-0-quantity": "2",
        "item-0-single_dose": "5 mg",
        "item-0-route_code": "01",
        "item-0-frequency_code": "qd",
        "item-0-days": "14",
    }
    data.update(overrides)
    return data


def create_through_form(client: Client, centre: Centre, **overrides: str) -> Prescription:
    response = client.post("/console/erx/prescriptions/new/", form_data(centre, **overrides))
    assert response.status_code == 302, response.content.decode()[:2000]
    rxno = overrides.get("hosp_rxno", "RX20260310001")
    prescription = Prescription.objects.unscoped().get(hosp_rxno=rxno)
    assert response["Location"] == f"/console/erx/prescriptions/{prescription.reference}/"
    # Take the "saved" message off the session, so each action below shows only its own.
    client.get("/console/erx/prescriptions/")
    return prescription


def act(client: Client, prescription: Prescription, action: str, **data: str) -> Any:
    return client.post(
        f"/console/erx/prescriptions/{prescription.reference}/actions/{action}/", data, follow=True
    )


def reload(prescription: Prescription) -> Prescription:
    return Prescription.objects.unscoped().get(pk=prescription.pk)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def uploaded(staff: Staff, centre: Centre, **overrides: str) -> Prescription:
    """A prescription taken through the console to the centre (status uploaded)."""
    prescription = create_through_form(staff.doctor, centre, **overrides)
    assert act(staff.doctor, prescription, "preverify").status_code == 200
    act(staff.doctor, prescription, "submit-review")
    act(staff.pharmacist, prescription, "approve", opinion="用药合理")
    act(staff.doctor, prescription, "sign-upload")
    prescription = reload(prescription)
    assert prescription.status == PrescriptionStatus.UPLOADED
    return prescription


def audit_actions() -> list[str]:
    return sorted(apps.get_model("audit", "AuditEntry").objects.values_list("action", flat=True))


# -- RX-M1: create, modify, query, delete -------------------------------------------------


@pytest.mark.req("RX-M1")
def test_a_doctor_creates_a_prescription_with_catalogue_drugs(centre: Centre, staff: Staff) -> None:
    page = staff.doctor.get("/console/erx/prescriptions/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="item-0-med_list_codg"' in html
    assert 'hx-get="/console/erx/drugs/search/"' in html

    prescription = create_through_form(
        staff.doctor,
        centre,
        **{
            "item-TOTAL_FORMS": "2",
            "item-1-med_list_codg": NIFEDIPINE["medListCodg"],
            "item-1-quantity": "1",
            "item-1-single_dose": "30 mg",
            "item-1-route_code": "01",
            "item-1-frequency_code": "qd",
            "item-1-days": "7",
        },
    )
    assert prescription.status == PrescriptionStatus.DRAFT
    assert prescription.created_via == "console"
    assert prescription.created_by_id == staff.doctor_user.pk
    assert prescription.patient_name == DEFAULT_NAME
    assert prescription.total_amount == Decimal("88.46")  # 2 × 27.72 + 33.02
    items = list(prescription.items.order_by("line_no").values_list("generic_name", "amount"))
    assert items == [("苯磺酸氨氯地平片", Decimal("55.44")), ("硝苯地平控释片", Decimal("33.02"))]

    detail = staff.doctor.get(f"/console/erx/prescriptions/{prescription.reference}/")
    html = detail.content.decode()
    assert "王**" in html
    assert "310***********1002" in html
    assert DEFAULT_NAME not in html
    assert DEFAULT_ID_NUMBER not in html
    assert 'data-status="draft"' in html
    assert "草稿" in html
    assert "原发性高血压" in html
    assert "88.46 元" in html
    assert 'id="action-preverify"' in html
    assert 'id="edit-prescription"' in html
    assert "erx.prescription.personal_data.read" in audit_actions() or (
        "resident.personal_data.read" in audit_actions()
    )


@pytest.mark.req("RX-M1")
def test_bad_input_is_refused_in_chinese_and_nothing_is_saved(centre: Centre, staff: Staff) -> None:
    unknown = staff.doctor.post(
        "/console/erx/prescriptions/new/",
        form_data(centre, **{"item-0-med_list_codg": "XNOTINCATALOGUE"}),
    )
    assert unknown.status_code == 422
    assert (
        "药品编码 XNOTINCATALOGUE 不在医保电子处方流通药品目录中（第 1 种药品），"
        "请从药品目录中选择或先同步目录"
    ) in unknown.content.decode()
    wrong_gender = staff.doctor.post(
        "/console/erx/prescriptions/new/", form_data(centre, patient_gender="1")
    )
    assert wrong_gender.status_code == 422
    assert "患者性别与身份证号不符" in wrong_gender.content.decode()
    missing = staff.doctor.post(
        "/console/erx/prescriptions/new/", form_data(centre, **{"diagnosis-0-name": ""})
    )
    assert missing.status_code == 422
    assert "诊断第 1 行 诊断名称：这个字段是必填项。" in missing.content.decode()
    # What the doctor typed is still on the page.
    assert 'value="MZ202603100001"' in missing.content.decode()
    assert Prescription.objects.unscoped().count() == 0


@pytest.mark.req("RX-M1")
def test_a_doctor_modifies_a_draft_and_a_sent_one_cannot_be_modified(
    centre: Centre, staff: Staff
) -> None:
    prescription = create_through_form(staff.doctor, centre)
    page = staff.doctor.get(f"/console/erx/prescriptions/{prescription.reference}/edit/")
    html = page.content.decode()
    assert f'value="{DEFAULT_ID_NUMBER}"' in html
    assert "苯磺酸氨氯地平片 5mg*7片" in html  # the line shows the drug's name
    changed = staff.doctor.post(
        f"/console/erx/prescriptions/{prescription.reference}/edit/",
        form_data(
            centre,
            **{"item-INITIAL_FORMS": "1", "item-0-quantity": "3", "diagnosis-0-code": "I10.X01"},
        ),
    )
    assert changed.status_code == 302
    prescription = reload(prescription)
    assert prescription.total_amount == Decimal("83.16")
    assert prescription.events.filter(kind="updated").count() == 1

    sent = uploaded(staff, centre, hosp_rxno="RX20260310002")
    refused = staff.doctor.get(f"/console/erx/prescriptions/{sent.reference}/edit/", follow=True)
    assert messages_of(refused) == ["处方当前状态为“已上传待审核”，不能修改"]
    posted = staff.doctor.post(
        f"/console/erx/prescriptions/{sent.reference}/edit/",
        form_data(centre, hosp_rxno="RX20260310002", **{"item-0-quantity": "9"}),
        follow=True,
    )
    assert messages_of(posted) == ["处方当前状态为“已上传待审核”，不能修改"]
    assert reload(sent).total_amount == Decimal("55.44")


@pytest.mark.req("RX-M1")
def test_the_list_filters_by_status_number_patient_and_doctor(centre: Centre, staff: Staff) -> None:
    first = create_through_form(staff.doctor, centre)
    second = create_through_form(
        staff.doctor,
        centre,
        hosp_rxno="RX20260310009",
        patient_name="李强",
        patient_id_number="310106198503151234",
        patient_gender="1",
        patient_age="40",
        doctor_name="王医生",
        doctor_code="D310106002",
    )
    act(staff.doctor, second, "preverify")
    hi_rxno = reload(second).hi_rxno
    assert hi_rxno

    def listed(query: str) -> list[str]:
        response = staff.doctor.get(f"/console/erx/prescriptions/?{query}")
        assert response.status_code == 200
        return [row["p"].hosp_rxno for row in response.context["rows"]]

    assert listed("") == ["RX20260310009", "RX20260310001"]
    assert listed("status=verified") == ["RX20260310009"]
    assert listed("status=draft") == ["RX20260310001"]
    assert listed(f"id_number={DEFAULT_ID_NUMBER}") == ["RX20260310001"]
    assert listed("id_number=310106198503151234") == ["RX20260310009"]
    assert listed("id_number=12345") == []
    assert listed(f"rxno={hi_rxno}") == ["RX20260310009"]
    assert listed("rxno=RX20260310001") == ["RX20260310001"]
    assert listed("doctor=王医生") == ["RX20260310009"]
    today = timezone.localdate().isoformat()
    assert listed(f"date_from={today}&date_to={today}") == ["RX20260310009", "RX20260310001"]
    assert listed("date_from=2020-01-01&date_to=2020-01-02") == []
    response = staff.doctor.get("/console/erx/prescriptions/?status=draft")
    tabs = {tab["code"]: tab["count"] for tab in response.context["tabs"]}
    assert tabs == {"": 2, "draft": 1, "verified": 1}
    html = response.content.decode()
    assert "李*" not in html  # the other status is filtered out
    assert first.hosp_rxno in html


@pytest.mark.req("RX-M1")
def test_a_doctor_deletes_a_draft_after_confirming_but_not_an_uploaded_one(
    centre: Centre, staff: Staff
) -> None:
    draft = create_through_form(staff.doctor, centre)
    confirm = staff.doctor.get(f"/console/erx/prescriptions/{draft.reference}/delete/")
    assert "确定删除这张处方吗？删除后不能恢复。" in confirm.content.decode()
    done = staff.doctor.post(f"/console/erx/prescriptions/{draft.reference}/delete/", follow=True)
    assert messages_of(done) == ["处方 RX20260310001 已删除"]
    assert not Prescription.objects.unscoped().filter(pk=draft.pk).exists()

    sent = uploaded(staff, centre, hosp_rxno="RX20260310003")
    page = staff.doctor.get(f"/console/erx/prescriptions/{sent.reference}/delete/")
    assert "已提交处方中心的处方不能删除，请改用撤销。" in page.content.decode()
    refused = staff.doctor.post(f"/console/erx/prescriptions/{sent.reference}/delete/", follow=True)
    assert len(messages_of(refused)) == 1
    assert "请改为撤销" in messages_of(refused)[0]
    assert reload(sent).status == PrescriptionStatus.UPLOADED


@pytest.mark.req("RX-M1")
def test_the_detail_page_takes_a_prescription_to_the_centre_and_back(
    centre: Centre, staff: Staff
) -> None:
    prescription = create_through_form(staff.doctor, centre)
    verified = act(staff.doctor, prescription, "preverify")
    prescription = reload(prescription)
    assert messages_of(verified) == [
        f"处方 RX20260310001：预核验通过，医保处方编号 {prescription.hi_rxno}"
    ]
    submitted = act(staff.doctor, prescription, "submit-review")
    assert messages_of(submitted) == ["处方 RX20260310001：已提交院内审方"]
    # The doctor may not review; the pharmacist may not sign.
    assert act(staff.doctor, prescription, "approve").status_code == 403
    assert act(staff.pharmacist, prescription, "sign-upload").status_code == 403
    act(staff.pharmacist, prescription, "approve", opinion="用药合理")
    signed = act(staff.doctor, prescription, "sign-upload")
    assert messages_of(signed) == [
        "处方 RX20260310001：已签名并上传处方中心，处方状态：已上传待审核"
    ]
    prescription = reload(prescription)

    centre.simulator.review(prescription.hi_rxno, approve=True, opinion="处方合理")
    refreshed = act(staff.pharmacist, prescription, "refresh")
    assert messages_of(refreshed) == ["处方 RX20260310001：已查询处方中心，当前状态：医保审核通过"]
    html = refreshed.content.decode()
    assert "审核通过（02）" in html
    assert "处方合理" in html
    assert "未取药（01）" in html
    assert 'data-role="slip-qr"' in html
    assert "<svg" in html
    assert "uploadChk" in html
    assert "rxFileUpld" in html

    pdf = staff.doctor.get(f"/console/erx/prescriptions/{prescription.reference}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    slip = staff.doctor.get(f"/console/erx/prescriptions/{prescription.reference}/slip/")
    assert slip.status_code == 200
    assert slip.content.startswith(b"%PDF")

    revealed = staff.doctor.post(f"/console/erx/prescriptions/{prescription.reference}/reveal/")
    assert DEFAULT_ID_NUMBER in revealed.content.decode()
    assert "完整信息仅本次显示，本次查看已记入审计日志" in revealed.content.decode()

    missing = act(staff.doctor, prescription, "revoke", reason=" ")
    assert messages_of(missing) == ["处方 RX20260310001：请填写撤销原因"]
    centre.simulator.pharmacy(prescription.hi_rxno, "start")
    pending = act(staff.doctor, prescription, "revoke", reason="患者要求更换药品")
    assert messages_of(pending) == ["处方 RX20260310001：撤销结果：药店结算中，撤销待确认"]
    assert reload(prescription).status == PrescriptionStatus.REVOKE_PENDING


# -- RX-M2: review queue, catalogue, pickups, exceptions -------------------------------------


@pytest.mark.req("RX-M2")
def test_the_pharmacist_works_through_the_review_queue(centre: Centre, staff: Staff) -> None:
    first = create_through_form(staff.doctor, centre)
    second = create_through_form(staff.doctor, centre, hosp_rxno="RX20260310002")
    for prescription in (first, second):
        act(staff.doctor, prescription, "preverify")
        act(staff.doctor, prescription, "submit-review")

    queue = staff.pharmacist.get("/console/erx/review/")
    assert [row["p"].hosp_rxno for row in queue.context["rows"]] == [
        "RX20260310001",
        "RX20260310002",
    ]
    assert 'data-action="approve"' in queue.content.decode()

    no_reason = staff.pharmacist.post(
        f"/console/erx/prescriptions/{second.reference}/actions/reject/",
        {"opinion": "", "next": "/console/erx/review/"},
        follow=True,
    )
    assert messages_of(no_reason) == ["处方 RX20260310002：审方不通过时请填写审方意见"]
    assert reload(second).status == PrescriptionStatus.PENDING_REVIEW

    approved = staff.pharmacist.post(
        f"/console/erx/prescriptions/{first.reference}/actions/approve/",
        {"opinion": "用药合理", "next": "/console/erx/review/"},
        follow=True,
    )
    assert approved.redirect_chain == [("/console/erx/review/", 302)]
    assert messages_of(approved) == ["处方 RX20260310001：院内审方通过"]
    rejected = staff.pharmacist.post(
        f"/console/erx/prescriptions/{second.reference}/actions/reject/",
        {"opinion": "剂量过大", "next": "https://evil.example/"},
        follow=True,
    )
    assert rejected.redirect_chain == [(f"/console/erx/prescriptions/{second.reference}/", 302)]
    first, second = reload(first), reload(second)
    assert (first.status, first.pharmacist_opinion) == (PrescriptionStatus.REVIEWED, "用药合理")
    assert (second.status, second.pharmacist_opinion) == (
        PrescriptionStatus.REVIEW_REJECTED,
        "剂量过大",
    )
    assert second.pharmacist_id == staff.pharmacist_user.pk
    empty = staff.pharmacist.get("/console/erx/review/")
    assert "没有等待审方的处方" in empty.content.decode()


@pytest.mark.req("RX-M2")
def test_the_catalogue_is_searched_queried_live_and_synced(centre: Centre, staff: Staff) -> None:
    DrugCatalogueEntry.objects.all().delete()
    empty = staff.pharmacist.get("/console/erx/catalogue/")
    assert "尚未同步" in empty.content.decode()
    assert empty.context["page"].paginator.count == 0

    synced = staff.pharmacist.post("/console/erx/catalogue/sync/", follow=True)
    assert messages_of(synced) == [f"药品目录已同步，共 {len(CATALOGUE)} 种药品"]
    assert DrugCatalogueEntry.objects.count() == len(CATALOGUE)

    local = staff.pharmacist.get("/console/erx/catalogue/?q=硝苯地平")
    assert [e.med_list_codg for e in local.context["page"].object_list] == [
        NIFEDIPINE["medListCodg"]
    ]
    calls = CentreCall.objects.unscoped().filter(operation="circDrugQuery").count()
    live = staff.pharmacist.get("/console/erx/catalogue/?q=硝苯地平&live=1")
    assert live.context["live_error"] == ""
    assert live.context["live"].total == 1
    assert [d.med_list_codg for d in live.context["live"].items] == [NIFEDIPINE["medListCodg"]]
    assert "处方中心实时结果" in live.content.decode()
    assert CentreCall.objects.unscoped().filter(operation="circDrugQuery").count() == calls + 1

    # The doctor reads and queries but does not sync.
    assert staff.doctor.get("/console/erx/catalogue/?q=硝苯地平&live=1").status_code == 200
    assert staff.doctor.post("/console/erx/catalogue/sync/").status_code == 403
    options = staff.doctor.get("/console/erx/drugs/search/?drug_q=氨氯地平")
    assert f'data-code="{AMLODIPINE["medListCodg"]}"' in options.content.decode()
    none = staff.doctor.get("/console/erx/drugs/search/?drug_q=不存在的药")
    assert "目录中没有“不存在的药”" in none.content.decode()


@pytest.mark.req("RX-M2")
def test_pickup_results_are_listed_and_queried_from_the_centre(
    centre: Centre, staff: Staff
) -> None:
    prescription = uploaded(staff, centre)
    draft = create_through_form(staff.doctor, centre, hosp_rxno="RX20260310005")
    page = staff.pharmacist.get("/console/erx/pickups/")
    assert [row["p"].hosp_rxno for row in page.context["rows"]] == ["RX20260310001"]
    assert draft.hosp_rxno not in page.content.decode()

    centre.simulator.review(prescription.hi_rxno, approve=True, opinion="")
    centre.simulator.pharmacy(prescription.hi_rxno, "start")
    centre.simulator.pharmacy(prescription.hi_rxno, "complete")
    done = staff.pharmacist.post(
        f"/console/erx/prescriptions/{prescription.reference}/actions/refresh/",
        {"next": "/console/erx/pickups/"},
        follow=True,
    )
    assert done.redirect_chain == [("/console/erx/pickups/", 302)]
    assert messages_of(done) == ["处方 RX20260310001：已查询处方中心，当前状态：已取药"]
    html = done.content.decode()
    assert "已取药（02）" in html
    assert 'data-status="dispensed"' in html
    prescription = reload(prescription)
    assert prescription.dispensed_at is not None
    dispensed = staff.pharmacist.get("/console/erx/pickups/?status=dispensed")
    assert [row["p"].hosp_rxno for row in dispensed.context["rows"]] == ["RX20260310001"]
    assert staff.pharmacist.get("/console/erx/pickups/?status=uploaded").context["rows"] == []


@pytest.mark.req("RX-M2")
def test_the_exception_log_shows_failures_and_replays_them(
    centre: Centre, staff: Staff, settings: Any, make_staff: Any, client_for: Any
) -> None:
    prescription = create_through_form(staff.doctor, centre)
    working = settings.ERX_CENTRE["api_base_url"]
    settings.ERX_CENTRE = {**settings.ERX_CENTRE, "api_base_url": "http://127.0.0.1:9"}
    failed = act(staff.doctor, prescription, "preverify")
    assert len(messages_of(failed)) == 1
    assert messages_of(failed)[0].startswith("处方 RX20260310001：")
    assert reload(prescription).status == PrescriptionStatus.DRAFT
    call = CentreCall.objects.unscoped().get(operation="uploadChk")
    assert call.outcome == CallOutcome.FAILED

    status, _ = receive_notification(b'{"appId": "nobody", "encData": "00"}')
    assert status >= 400
    notification = CentreNotification.objects.unscoped().get()
    assert notification.outcome == NotificationOutcome.REJECTED

    log = staff.pharmacist.get("/console/erx/exceptions/")
    html = log.content.decode()
    assert [c.pk for c in log.context["calls"]] == [call.pk]
    assert 'data-action="replay-call"' in html
    assert "调用失败" in html
    # A notification no institution could be found for is a district matter.
    assert log.context["notifications"] == []

    settings.ERX_CENTRE = {**settings.ERX_CENTRE, "api_base_url": working}
    # The replay permission stands in for the step's own: the pharmacist re-runs the
    # doctor's failed pre-verification; a doctor without it is refused.
    assert staff.doctor.post(f"/console/erx/calls/{call.pk}/replay/").status_code == 403
    replayed = staff.pharmacist.post(f"/console/erx/calls/{call.pk}/replay/", follow=True)
    assert messages_of(replayed) == ["已重放 uploadChk 调用，结果：成功"]
    assert reload(prescription).status == PrescriptionStatus.VERIFIED
    assert CentreCall.objects.unscoped().filter(replay_of=call).count() == 1
    again = staff.pharmacist.post(f"/console/erx/calls/{call.pk}/replay/", follow=True)
    assert messages_of(again) == ["重放失败：该调用已重放过，请查看重放记录"]


@pytest.mark.req("RX-M2")
def test_district_staff_see_and_replay_rejected_notifications(
    centre: Centre, make_staff: Any, client_for: Any
) -> None:
    receive_notification(b'{"appId": "nobody", "encData": "00"}')
    notification = CentreNotification.objects.unscoped().get()
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    log = regulator.get("/console/erx/exceptions/")
    assert [n.pk for n in log.context["notifications"]] == [notification.pk]
    assert 'data-action="replay-notification"' not in log.content.decode()
    assert (
        regulator.post(f"/console/erx/notifications/{notification.pk}/replay/").status_code == 403
    )

    replayer = client_for(
        make_staff(
            "replayer",
            permissions=(
                "erx.view_centrecall",
                "erx.view_centrenotification",
                "erx.replay_centrecall",
            ),
        )
    )
    page = replayer.get("/console/erx/exceptions/")
    assert notification.reason in page.content.decode()
    replayed = replayer.post(f"/console/erx/notifications/{notification.pk}/replay/", follow=True)
    assert len(messages_of(replayed)) == 1
    assert messages_of(replayed)[0].startswith(("已重新处理该通知，结果：", "重放失败："))


# -- RX-C1: the 26 institutions -----------------------------------------------------------------


@pytest.mark.req("RX-C1")
def test_all_26_institutions_are_listed_with_their_connections_and_tested(
    centre: Centre, make_staff: Any, client_for: Any
) -> None:
    institutions = list(institution_model().objects.unscoped().order_by("code"))
    assert len(institutions) == 26
    for institution in institutions:
        demo.ensure_connection(institution)
    admin = client_for(make_staff("sysadmin", roles=("system_admin",)))
    page = admin.get("/console/erx/connections/")
    html = page.content.decode()
    assert [row.institution.code for row in page.context["rows"]] == [i.code for i in institutions]
    assert all(row.connection is not None for row in page.context["rows"])
    assert '<span data-count="configured">26</span>' in html
    assert '<span data-count="enabled">26</span>' in html
    assert html.count('data-action="test"') == 26

    connection = CentreConnection.objects.unscoped().get(institution=centre.other)
    tested = admin.post(f"/console/erx/connections/{connection.pk}/test/", follow=True)
    result = tested.context["result"]
    assert result["ok"] is True
    assert result["message"].startswith(f"{connection.fixmedins_name}：")
    assert "连接测试成功" in tested.content.decode()
    assert CentreConnection.objects.unscoped().get(pk=connection.pk).last_success_at is not None

    local_admin = client_for(
        make_staff("local-admin", roles=("institution_admin",), institution=centre.central)
    )
    own = local_admin.get("/console/erx/connections/")
    assert [row.institution.pk for row in own.context["rows"]] == [centre.central.pk]
    assert local_admin.post(f"/console/erx/connections/{connection.pk}/test/").status_code == 404
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    assert len(regulator.get("/console/erx/connections/").context["rows"]) == 26
    assert regulator.post(f"/console/erx/connections/{connection.pk}/test/").status_code == 403


@pytest.mark.req("RX-C1")
def test_a_failing_connection_test_says_why(
    centre: Centre, make_staff: Any, client_for: Any, settings: Any
) -> None:
    connection = CentreConnection.objects.unscoped().get(institution=centre.central)
    settings.ERX_CENTRE = {**settings.ERX_CENTRE, "api_base_url": "http://127.0.0.1:9"}
    admin = client_for(
        make_staff("local-admin", roles=("institution_admin",), institution=centre.central)
    )
    tested = admin.post(f"/console/erx/connections/{connection.pk}/test/", follow=True)
    assert tested.context["result"]["ok"] is False
    assert "连接测试失败" in tested.content.decode()


# -- outsiders -------------------------------------------------------------------------------------


@dataclass
class Targets:
    prescription: Prescription
    call: CentreCall
    notification: CentreNotification
    connection: CentreConnection


@pytest.fixture
def targets(centre: Centre, staff: Staff) -> Targets:
    prescription = create_through_form(staff.doctor, centre)
    act(staff.doctor, prescription, "preverify")
    act(staff.doctor, prescription, "submit-review")
    call = CentreCall.objects.unscoped().get(operation="uploadChk")
    CentreCall.objects.unscoped().filter(pk=call.pk).update(outcome=CallOutcome.FAILED)
    receive_notification(b"not an envelope")
    notification = CentreNotification.objects.unscoped().get()
    CentreNotification.objects.unscoped().filter(pk=notification.pk).update(
        institution=centre.central
    )
    connection = CentreConnection.objects.unscoped().get(institution=centre.central)
    return Targets(reload(prescription), call, notification, connection)


ACTIONS = ("preverify", "submit-review", "sign-upload", "revoke", "refresh", "approve", "reject")


def pages(t: Targets) -> list[str]:
    rx = f"/console/erx/prescriptions/{t.prescription.reference}/"
    return [
        "/console/erx/prescriptions/",
        "/console/erx/prescriptions/new/",
        rx,
        f"{rx}edit/",
        f"{rx}delete/",
        f"{rx}pdf/",
        f"{rx}slip/",
        "/console/erx/drugs/search/?drug_q=氨氯地平",
        "/console/erx/review/",
        "/console/erx/catalogue/?q=氨氯地平&live=1",
        "/console/erx/pickups/",
        "/console/erx/exceptions/",
        "/console/erx/connections/",
    ]


def posts(t: Targets) -> list[str]:
    rx = f"/console/erx/prescriptions/{t.prescription.reference}/"
    return [
        "/console/erx/prescriptions/new/",
        f"{rx}edit/",
        f"{rx}delete/",
        f"{rx}reveal/",
        *(f"{rx}actions/{action}/" for action in ACTIONS),
        "/console/erx/catalogue/sync/",
        f"/console/erx/calls/{t.call.pk}/replay/",
        f"/console/erx/notifications/{t.notification.pk}/replay/",
        f"/console/erx/connections/{t.connection.pk}/test/",
    ]


def state() -> list[Any]:
    return [
        list(
            Prescription.objects.unscoped()
            .order_by("pk")
            .values_list("hosp_rxno", "status", "total_amount", "pharmacist_opinion")
        ),
        list(CentreCall.objects.unscoped().order_by("pk").values_list("pk", "replayed_at")),
        list(
            CentreNotification.objects.unscoped()
            .order_by("pk")
            .values_list("pk", "outcome", "replayed_at")
        ),
        list(CentreConnection.objects.unscoped().values_list("pk", "last_success_at")),
        DrugCatalogueEntry.objects.count(),
    ]


def reads_of_personal_data() -> int:
    return (
        apps.get_model("audit", "AuditEntry")
        .objects.filter(
            action__in=("resident.personal_data.read", "erx.prescription.personal_data.read")
        )
        .count()
    )


def all_refused(
    t: Targets, client: Client, check: Callable[[str, Any], None], *, with_posts: bool = True
) -> None:
    before, reads = state(), reads_of_personal_data()
    body = form_data_for_outsiders(t)
    for path in pages(t):
        check(path, client.get(path))
    if with_posts:
        for path in posts(t):
            check(path, client.post(path, body))
    assert state() == before
    assert reads_of_personal_data() == reads


def form_data_for_outsiders(t: Targets) -> dict[str, str]:
    return {
        "institution": str(t.prescription.institution_id),
        "hosp_rxno": "RX-OUTSIDER",
        "reason": "撤销",
        "opinion": "意见",
    }


def redirected_to(prefix: str) -> Callable[[str, Any], None]:
    def check(path: str, response: Any) -> None:
        assert response.status_code == 302, path
        assert response["Location"].startswith(prefix), path

    return check


def status(code: int) -> Callable[[str, Any], None]:
    def check(path: str, response: Any) -> None:
        assert response.status_code == code, (path, response.status_code)
        assert DEFAULT_ID_NUMBER not in response.content.decode(errors="ignore"), path

    return check


@pytest.mark.req("RX-M1")
def test_anonymous_visitors_are_sent_to_the_console_sign_in(targets: Targets) -> None:
    all_refused(targets, Client(), redirected_to("/console/login/"))


@pytest.mark.req("RX-M1")
def test_a_resident_session_has_no_console_access(
    targets: Targets, make_resident: Any, resident_client: Any
) -> None:
    client = resident_client(make_resident())
    all_refused(targets, client, redirected_to("/console/login/"))


@pytest.mark.req("RX-M1")
def test_staff_without_erx_permissions_are_refused(
    targets: Targets, centre: Centre, make_staff: Any, client_for: Any
) -> None:
    clerk = make_staff(
        "clerk", permissions=("institutions.view_institution",), institution=centre.central
    )
    all_refused(targets, client_for(clerk), status(403))


@pytest.mark.req("RX-M1")
def test_staff_of_another_institution_see_nothing_of_ours(
    targets: Targets, centre: Centre, make_staff: Any, client_for: Any
) -> None:
    t = targets
    before, reads = state(), reads_of_personal_data()
    doctor = client_for(make_staff("other-doctor", roles=("erx_doctor",), institution=centre.other))
    pharmacist = client_for(
        make_staff("other-pharmacist", roles=("erx_pharmacist",), institution=centre.other)
    )
    admin = client_for(
        make_staff("other-admin", roles=("institution_admin",), institution=centre.other)
    )
    rx = f"/console/erx/prescriptions/{t.prescription.reference}/"
    for client in (doctor, pharmacist):
        for path in (rx, f"{rx}pdf/", f"{rx}slip/"):
            assert client.get(path).status_code == 404, path
        listing = client.get("/console/erx/prescriptions/")
        assert listing.context["page"].paginator.count == 0
    for path in (f"{rx}edit/", f"{rx}delete/"):
        assert doctor.get(path).status_code == 404, path
        assert doctor.post(path, form_data_for_outsiders(t)).status_code == 404, path
    for action in ("preverify", "submit-review", "sign-upload", "revoke", "refresh"):
        assert doctor.post(f"{rx}actions/{action}/", {"reason": "x"}).status_code == 404
    for action in ("approve", "reject", "refresh"):
        assert pharmacist.post(f"{rx}actions/{action}/", {"opinion": "x"}).status_code == 404
    assert doctor.post(f"{rx}reveal/").status_code == 404
    assert pharmacist.get("/console/erx/review/").context["page"].paginator.count == 0
    assert pharmacist.get("/console/erx/pickups/").context["page"].paginator.count == 0
    log = pharmacist.get("/console/erx/exceptions/")
    assert list(log.context["calls"]) == []
    assert log.context["notifications"] == []
    assert pharmacist.post(f"/console/erx/calls/{t.call.pk}/replay/").status_code == 404
    assert (
        pharmacist.post(f"/console/erx/notifications/{t.notification.pk}/replay/").status_code
        == 404
    )
    assert admin.post(f"/console/erx/connections/{t.connection.pk}/test/").status_code == 404
    # A doctor cannot write into another institution through the form either.
    created = doctor.post(
        "/console/erx/prescriptions/new/",
        form_data(centre, hosp_rxno="RX-INTRUDER", institution=str(centre.central.pk)),
    )
    assert created.status_code == 422
    assert state() == before
    assert reads_of_personal_data() == reads


@pytest.mark.req("RX-M2")
def test_the_read_only_regulator_reads_everything_but_changes_nothing(
    targets: Targets, make_staff: Any, client_for: Any
) -> None:
    t = targets
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    listing = regulator.get("/console/erx/prescriptions/")
    assert [row["p"].pk for row in listing.context["rows"]] == [t.prescription.pk]
    detail = regulator.get(f"/console/erx/prescriptions/{t.prescription.reference}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert 'data-role="read-only"' in html
    assert "显示完整信息" not in html
    assert DEFAULT_ID_NUMBER not in html
    before = state()
    for path in posts(t):
        response = regulator.post(path, form_data_for_outsiders(t))
        assert response.status_code == 403, (path, response.status_code)
    assert state() == before
