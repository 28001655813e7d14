from __future__ import annotations

import datetime
from typing import Any

import pytest
import time_machine
from django.http import Http404
from django.utils import timezone

from jingan.medical_records import copy_services, services
from jingan.medical_records.models import ApplicationEvent, CopyApplication
from jingan.medical_records.services import ApplicationError, MailAddress
from jingan.medical_records.tests.application_fixtures import (
    JPEG,
    PDF,
    archive,
    id_number,
    inpatient,
    store_sections,
    upload,
)
from jingan.testing.residents import DEFAULT_ID_NUMBER

__all__ = ["archive", "inpatient"]


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


REVIEW = "medical_records.review_copyapplication"
SECOND = "medical_records.second_review_copyapplication"


def _set_review_mode(institution: Any, mode: str) -> None:
    from django.apps import apps

    setting = apps.get_model("dictionary", "InstitutionSetting")
    setting.objects.unscoped().update_or_create(
        institution=institution, key="medical_records.review_mode", defaults={"value": mode}
    )


def _submit(resident: Any, institution: Any, admission: Any, **overrides: Any) -> CopyApplication:
    fields: dict[str, Any] = {
        "actor": resident,
        "institution_id": institution.pk,
        "admission_ids": [admission.pk],
        "applicant_type": "self",
        "purpose": "insurance_claim",
        "sections": ["front_page", "discharge_summary"],
        "copies": 1,
        "delivery_method": "electronic",
    }
    fields.update(overrides)
    return services.submit_application(**fields)


def _timeline(application: CopyApplication) -> list[tuple[str, str, str, int | None]]:
    return [
        (e.from_status, e.to_status, e.actor_kind, e.actor_id)
        for e in ApplicationEvent.objects.filter(application=application)
    ]


@pytest.fixture
def applied(make_resident: Any, inpatient: list[Any], archive: Any) -> tuple[Any, Any, Any]:
    """A resident with an archived stay at the first inpatient institution."""
    resident = make_resident()
    admission = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-R1")
    return resident, inpatient[0], admission


@pytest.mark.req("MR-A3")
@pytest.mark.req("MR-A4")
def test_manual_review_then_tracking_until_the_resident_downloads(
    applied: Any, make_staff: Any
) -> None:
    resident, institution, admission = applied
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    application = _submit(resident, institution, admission)
    services.start_review(actor=reviewer, application_id=application.pk)
    services.approve_application(actor=reviewer, application_id=application.pk, note="材料齐全")
    services.mark_preparing(actor=reviewer, application_id=application.pk)
    with pytest.raises(ApplicationError, match="电子版复印件尚未生成"):
        services.mark_ready(actor=reviewer, application_id=application.pk)
    store_sections(admission, {"front_page": 2})
    copy_services.build_copy(application)
    services.mark_ready(actor=reviewer, application_id=application.pk)
    services.mark_downloaded(actor=resident, number=application.number)
    services.mark_downloaded(actor=resident, number=application.number)  # second: no-op
    application.refresh_from_db()
    assert application.status == "completed"
    assert application.completed_at is not None
    assert _timeline(application) == [
        ("", "submitted", "resident", resident.pk),
        ("submitted", "under_review", "staff", reviewer.pk),
        ("under_review", "approved", "staff", reviewer.pk),
        ("approved", "preparing", "staff", reviewer.pk),
        ("preparing", "ready", "staff", reviewer.pk),
        ("ready", "completed", "resident", resident.pk),
    ]
    assert list(
        _model("audit.AuditEntry")
        .objects.filter(object_id=application.number)
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "medical_records.application.submit",
        "medical_records.application.start_review",
        "medical_records.application.approve",
        "medical_records.application.prepare",
        "medical_records.copy.build",
        "medical_records.application.ready",
        "medical_records.application.download",
    ]


@pytest.mark.req("MR-A4")
def test_a_mailed_copy_is_tracked_to_delivery(applied: Any, make_staff: Any) -> None:
    resident, institution, admission = applied
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    application = _submit(
        resident,
        institution,
        admission,
        delivery_method="mail",
        mail=MailAddress("王秀英", "13800138000", "上海市静安区共和新路 1000 号"),
    )
    services.approve_application(actor=reviewer, application_id=application.pk)
    services.mark_ready(actor=reviewer, application_id=application.pk)
    with pytest.raises(ApplicationError, match="请填写正确的快递单号"):
        services.mark_shipped(actor=reviewer, application_id=application.pk, tracking_no="abc")
    with pytest.raises(ApplicationError, match="纸质件邮寄申请不提供下载"):
        services.mark_downloaded(actor=resident, number=application.number)
    services.mark_shipped(actor=reviewer, application_id=application.pk, tracking_no="sf1234567890")
    services.complete_application(actor=reviewer, application_id=application.pk)
    application.refresh_from_db()
    assert (application.status, application.tracking_no) == ("completed", "SF1234567890")
    assert [e.to_status for e in application.events.all()] == [
        "submitted",
        "approved",
        "ready",
        "shipped",
        "completed",
    ]


@pytest.mark.req("MR-A3")
def test_rejection_needs_a_reason_from_the_dictionary(applied: Any, make_staff: Any) -> None:
    resident, institution, admission = applied
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    application = _submit(resident, institution, admission)
    with pytest.raises(ApplicationError, match="请选择拒绝原因"):
        services.reject_application(actor=reviewer, application_id=application.pk, reason_code="x")
    services.reject_application(
        actor=reviewer,
        application_id=application.pk,
        reason_code="materials_unclear",
        note="身份证照片反光",
    )
    application.refresh_from_db()
    assert application.status == "rejected"
    assert application.reject_reason == "证明材料不清晰或不完整：身份证照片反光"
    with pytest.raises(ApplicationError, match="申请当前状态为“已拒绝”，不能进行此操作"):
        services.approve_application(actor=reviewer, application_id=application.pk)


@pytest.mark.req("MR-A3")
def test_two_level_review_needs_a_second_person_with_the_second_review_permission(
    applied: Any, make_staff: Any
) -> None:
    resident, institution, admission = applied
    _set_review_mode(institution, "two_level")
    first = make_staff("first", permissions=(REVIEW, SECOND), institution=institution)
    plain = make_staff("plain", permissions=(REVIEW,), institution=institution)
    second = make_staff("second", permissions=(REVIEW, SECOND), institution=institution)
    application = _submit(resident, institution, admission)
    services.approve_application(actor=first, application_id=application.pk)
    application.refresh_from_db()
    assert application.status == "second_review"
    with pytest.raises(ApplicationError, match="复核须由初审以外的另一名工作人员进行"):
        services.approve_application(actor=first, application_id=application.pk)
    with pytest.raises(ApplicationError, match="您没有复核权限"):
        services.approve_application(actor=plain, application_id=application.pk)
    services.second_review_application(actor=second, application_id=application.pk)
    application.refresh_from_db()
    assert application.status == "approved"
    assert _timeline(application) == [
        ("", "submitted", "resident", resident.pk),
        ("submitted", "second_review", "staff", first.pk),
        ("second_review", "approved", "staff", second.pk),
    ]


@pytest.mark.req("MR-A3")
def test_automatic_review_approves_verified_self_applications_only(
    applied: Any, archive: Any
) -> None:
    resident, institution, admission = applied
    _set_review_mode(institution, "auto_when_verified")
    application = _submit(resident, institution, admission)
    assert application.status == "approved"
    assert _timeline(application) == [
        ("", "submitted", "resident", resident.pk),
        ("submitted", "approved", "system", None),
    ]
    patient_id = id_number("19500101", 11)
    other = archive(institution, patient_id, "ZY-AGENT", patient_name="李建国")
    by_agent = _submit(
        resident,
        institution,
        other,
        applicant_type="agent",
        patient_name="李建国",
        patient_id_number=patient_id,
        materials={
            "id_card_front": upload("id_card_front"),
            "authorisation_letter": upload("a", PDF, "a.pdf"),
            "agent_id_card": upload("agent_id_card", JPEG),
        },
    )
    assert by_agent.status == "submitted"


@pytest.mark.req("MR-P2")
def test_rate_limits_per_resident_and_per_ip(
    make_resident: Any, inpatient: list[Any], archive: Any, rf: Any, monkeypatch: Any
) -> None:
    resident = make_resident()
    stays = [archive(inpatient[0], DEFAULT_ID_NUMBER, f"ZY-L{n}") for n in range(6)]
    for stay in stays[:5]:
        _submit(resident, inpatient[0], stay)
    with pytest.raises(ApplicationError, match="您今天已提交 5 份申请，已达每日上限，请明天再试"):
        _submit(resident, inpatient[0], stays[5])
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1, minutes=1)):
        _submit(resident, inpatient[0], stays[5])

    monkeypatch.setattr(services, "DAILY_LIMIT_PER_IP", 2)
    request = rf.post("/", REMOTE_ADDR="203.0.113.9")
    for n in range(2):
        someone = make_resident(
            name="李建国", id_number=id_number("19500101", 40 + n), nickname=f"ip{n}"
        )
        stay = archive(inpatient[0], someone.id_number, f"ZY-IP{n}")
        _submit(someone, inpatient[0], stay, request=request)
    third = make_resident(name="李建国", id_number=id_number("19500101", 50))
    stay = archive(inpatient[0], third.id_number, "ZY-IP3")
    with pytest.raises(ApplicationError, match="当前网络提交的申请过多，请稍后再试"):
        _submit(third, inpatient[0], stay, request=request)
    assert CopyApplication.objects.unscoped().filter(resident=third).count() == 0


@pytest.mark.req("MR-P2")
def test_a_duplicate_open_application_is_refused_with_its_number(
    applied: Any, make_staff: Any
) -> None:
    resident, institution, admission = applied
    first = _submit(resident, institution, admission)
    with pytest.raises(ApplicationError) as refused:
        _submit(resident, institution, admission)
    assert str(refused.value) == (
        f"该住院记录已有相同用途的申请正在办理（申请编号 {first.number}），请勿重复提交"
    )
    _submit(resident, institution, admission, purpose="transfer")  # another purpose is fine
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    services.reject_application(actor=reviewer, application_id=first.pk, reason_code="other")
    again = _submit(resident, institution, admission)  # the first one is closed now
    assert again.status == "submitted"


@pytest.mark.req("MR-P5")
def test_every_transition_messages_the_resident_in_app_and_on_wechat(
    applied: Any,
    make_staff: Any,
    simulators: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    resident, institution, admission = applied
    simulators.wechat.add_user("王秀英", openid=resident.openid)
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    with django_capture_on_commit_callbacks(execute=True):
        application = _submit(resident, institution, admission)
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_application(
            actor=reviewer, application_id=application.pk, reason_code="record_not_found"
        )
    messages = list(
        _model("messaging.Message").objects.filter(resident_id=resident.pk).order_by("pk")
    )
    assert [(m.title, m.category, m.link) for m in messages] == [
        (
            "病案复印申请已提交",
            "medical_records",
            f"/h5/records/applications/{application.number}/",
        ),
        (
            "病案复印申请已拒绝",
            "medical_records",
            f"/h5/records/applications/{application.number}/",
        ),
    ]
    assert messages[1].body == (
        f"申请编号 {application.number}，状态：已拒绝。拒绝原因：未找到对应的住院病案"
    )
    received = simulators.wechat.messages(resident.openid)
    assert sorted((r.kind, r.data["keyword1"], r.data["keyword2"]) for r in received) == [
        ("template", application.number, "已拒绝"),
        ("template", application.number, "已提交"),
    ]


def test_a_resident_can_cancel_only_before_review(applied: Any, make_staff: Any) -> None:
    resident, institution, admission = applied
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    application = _submit(resident, institution, admission)
    services.start_review(actor=reviewer, application_id=application.pk)
    with pytest.raises(ApplicationError, match="申请已进入审核，不能取消"):
        services.cancel_application(actor=resident, number=application.number)
    application.refresh_from_db()
    assert application.status == "under_review"


def test_application_numbers_count_up_per_day(applied: Any, archive: Any) -> None:
    resident, institution, admission = applied
    second = archive(institution, DEFAULT_ID_NUMBER, "ZY-N2")
    day = timezone.localdate()
    numbers = [
        _submit(resident, institution, admission).number,
        _submit(resident, institution, second).number,
    ]
    assert numbers == [f"BA{day:%Y%m%d}000001", f"BA{day:%Y%m%d}000002"]


@pytest.mark.req("MR-A3")
def test_reviewers_outside_the_institution_or_without_the_permission_are_refused(
    applied: Any, make_staff: Any, inpatient: list[Any]
) -> None:
    resident, institution, admission = applied
    application = _submit(resident, institution, admission)
    elsewhere = make_staff("elsewhere", permissions=(REVIEW,), institution=inpatient[5])
    no_role = make_staff("clerk", permissions=("medical_records.view_copyapplication",))
    for outsider in (elsewhere, no_role, None):
        for action in (services.start_review, services.approve_application):
            with pytest.raises(Http404):
                action(actor=outsider, application_id=application.pk)
        with pytest.raises(Http404):
            services.reject_application(
                actor=outsider, application_id=application.pk, reason_code="other"
            )
    application.refresh_from_db()
    assert application.status == "submitted"
    assert list(application.events.values_list("to_status", flat=True)) == ["submitted"]
    assert _model("messaging.Message").objects.filter(resident_id=resident.pk).count() == 1


@pytest.mark.req("MR-A3")
def test_a_reviewer_opens_the_materials_and_identity_and_each_read_is_audited(
    applied: Any, make_staff: Any, archive: Any, inpatient: list[Any]
) -> None:
    resident, institution, _ = applied
    patient_id = id_number("19500101", 11)
    stay = archive(institution, patient_id, "ZY-M1", patient_name="李建国")
    application = _submit(
        resident,
        institution,
        stay,
        applicant_type="agent",
        patient_name="李建国",
        patient_id_number=patient_id,
        materials={
            "id_card_front": upload("id_card_front"),
            "authorisation_letter": upload("a", PDF, "a.pdf"),
            "agent_id_card": upload("agent_id_card", JPEG),
        },
    )
    letter = application.materials.get(kind="authorisation_letter")
    reviewer = make_staff("reviewer", permissions=(REVIEW,), institution=institution)
    material, data = services.open_material_for_reviewer(actor=reviewer, material_id=letter.pk)
    assert (material.content_type, data) == ("application/pdf", PDF)
    identity = services.reveal_identity_for_reviewer(actor=reviewer, application_id=application.pk)
    assert (identity.patient_name, identity.patient_id_number) == ("李建国", patient_id)
    reads = (
        _model("audit.AuditEntry")
        .objects.filter(action="resident.personal_data.read")
        .order_by("pk")
    )
    assert [(r.actor_id, r.resident_id, r.detail_data["what"]) for r in reads] == [
        (reviewer.pk, resident.pk, f"病案复印申请 {application.number} 的授权委托书"),
        (reviewer.pk, resident.pk, f"病案复印申请 {application.number} 的患者身份与收件信息"),
    ]
    elsewhere = make_staff("elsewhere", permissions=(REVIEW,), institution=inpatient[5])
    with pytest.raises(Http404):
        services.open_material_for_reviewer(actor=elsewhere, material_id=letter.pk)
    with pytest.raises(Http404):
        services.reveal_identity_for_reviewer(actor=elsewhere, application_id=application.pk)
    assert reads.count() == 2
