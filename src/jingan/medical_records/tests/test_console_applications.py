"""The record-room console: list, detail, review actions, materials and reveal (MR-A2..A4)."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.utils import timezone

from jingan.medical_records import services
from jingan.medical_records.models import STATUS_COLOURS, CopyApplication
from jingan.medical_records.tests.application_fixtures import JPEG, PDF, archive, inpatient
from jingan.medical_records.tests.console_fixtures import (
    AGENT_PATIENT_ID,
    AGENT_PATIENT_NAME,
    REVIEW,
    ConsoleData,
    console_data,
)
from jingan.testing.residents import DEFAULT_ID_NUMBER, DEFAULT_NAME

__all__ = ["archive", "console_data", "inpatient"]

LIST = "/console/records/applications/"
QUEUE = "/console/records/review/"


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


def _numbers(response: Any) -> list[str]:
    return re.findall(r'data-application="([^"]+)"', response.content.decode())


def _audit(action: str) -> list[Any]:
    return list(_model("audit.AuditEntry").objects.filter(action=action).order_by("sequence"))


def _personal_reads(what_contains: str) -> list[Any]:
    return [
        entry
        for entry in _audit("resident.personal_data.read")
        if what_contains in str(entry.detail_data.get("what", ""))
    ]


@pytest.fixture
def reviewer(make_staff: Any, console_data: ConsoleData) -> Any:
    return make_staff("reviewer", roles=("record_room_reviewer",), institution=console_data.central)


@pytest.mark.req("MR-A2")
def test_the_list_filters_by_status_purpose_type_delivery_date_and_search(
    console_data: ConsoleData, make_staff: Any, client_for: Any
) -> None:
    data = console_data
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    services.start_review(
        actor=make_staff("r1", permissions=(REVIEW,), institution=data.central),
        application_id=data.agent_application.pk,
    )
    old = timezone.now() - datetime.timedelta(days=40)
    CopyApplication.objects.unscoped().filter(pk=data.other_application.pk).update(submitted_at=old)

    newest_first = [
        data.agent_application.number,
        data.self_application.number,
        data.other_application.number,
    ]
    assert _numbers(regulator.get(LIST)) == newest_first
    assert _numbers(regulator.get(LIST, {"status": "under_review"})) == [
        data.agent_application.number
    ]
    assert _numbers(regulator.get(LIST, {"purpose": "judicial"})) == [data.agent_application.number]
    assert _numbers(regulator.get(LIST, {"applicant_type": "self"})) == [
        data.self_application.number,
        data.other_application.number,
    ]
    assert _numbers(regulator.get(LIST, {"delivery_method": "mail"})) == [
        data.agent_application.number
    ]
    assert _numbers(regulator.get(LIST, {"institution": data.other.pk})) == [
        data.other_application.number
    ]
    today = timezone.localdate().isoformat()
    assert _numbers(regulator.get(LIST, {"submitted_from": today})) == newest_first[:2]
    assert _numbers(
        regulator.get(
            LIST, {"submitted_to": (timezone.localdate() - datetime.timedelta(days=39)).isoformat()}
        )
    ) == [data.other_application.number]
    # Search by number prefix or by the patient's ID number (blind index, any spacing/case).
    assert _numbers(regulator.get(LIST, {"q": data.self_application.number})) == [
        data.self_application.number
    ]
    spaced = " ".join([AGENT_PATIENT_ID[:6], AGENT_PATIENT_ID[6:14], AGENT_PATIENT_ID[14:].lower()])
    assert _numbers(regulator.get(LIST, {"q": spaced})) == [data.agent_application.number]
    empty = regulator.get(LIST, {"q": "BA19990101000001"}).content.decode()
    assert "没有符合条件的申请" in empty
    refused = regulator.get(LIST, {"submitted_from": today, "submitted_to": "2020-01-01"})
    assert "提交日期的起始日不能晚于截止日" in refused.content.decode()


@pytest.mark.req("MR-A2")
def test_each_status_has_its_own_colour_with_counts_and_names_are_masked(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    services.reject_application(
        actor=reviewer,
        application_id=console_data.self_application.pk,
        reason_code="materials_unclear",
    )
    html = client_for(reviewer).get(LIST).content.decode()
    assert (
        f'class="badge bg-{STATUS_COLOURS["rejected"]} text-red-fg" data-status="rejected"' in html
    )
    assert (
        f'class="badge bg-{STATUS_COLOURS["submitted"]} text-blue-fg" data-status="submitted"'
        in html
    )
    assert 'data-count="rejected">1</span>' in html
    assert 'data-count="submitted">1</span>' in html
    assert 'data-count="all">2</span>' in html
    assert 'data-status-tab="second_review"' in html
    assert "btn-outline-indigo" in html
    # Own institution only, masked: surname and the ID's first 3 and last 4.
    assert "王*" in html
    assert "李**" in html
    assert DEFAULT_NAME not in html
    assert AGENT_PATIENT_NAME not in html
    assert DEFAULT_ID_NUMBER not in html
    assert AGENT_PATIENT_ID not in html
    assert f"310***********{AGENT_PATIENT_ID[-4:]}" in html
    assert "保险理赔" in html
    assert "司法" in html


@pytest.mark.req("MR-A2")
@pytest.mark.req("MR-A4")
def test_the_detail_shows_the_declared_purpose_sections_admissions_and_timed_timeline(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    application = console_data.agent_application
    services.start_review(actor=reviewer, application_id=application.pk)
    services.approve_application(actor=reviewer, application_id=application.pk, note="材料齐全")
    services.mark_ready(actor=reviewer, application_id=application.pk)
    services.mark_shipped(actor=reviewer, application_id=application.pk, tracking_no="SF1234567890")
    page = client_for(reviewer).get(f"{LIST}{application.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'data-field="purpose">司法[^<]*</dd>', html)
    assert "手术记录" in html
    assert "病案首页" in html
    assert 'data-admission="ZY-C2"' in html
    assert "急性心肌梗死（I21.9）" in html
    assert "张*" in html
    assert "139****5678" in html
    assert "上海市静安区****" in html
    assert "共和新路" not in html
    assert "13912345678" not in html
    assert 'data-field="tracking">SF1234567890' in html
    events = list(application.events.order_by("occurred_at", "pk"))
    steps = re.findall(r'data-step="(\w+)"', html)
    assert steps == ["submitted", "under_review", "approved", "ready", "shipped"]
    times = re.findall(r'data-role="step-time">([^<]+)<', html)
    assert times == [
        timezone.localtime(e.occurred_at).strftime("%Y-%m-%d %H:%M:%S") for e in events
    ]
    assert "工作人员 reviewer · 材料齐全" in html
    # The shipped application waits for 确认签收 only.
    assert "确认签收" in html
    assert "寄出</button>" not in html
    assert len(_personal_reads(f"{application.number} 的申请详情与住院诊断")) == 1


@pytest.mark.req("MR-A3")
def test_a_reviewer_starts_approves_and_the_console_shows_service_errors(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    client = client_for(reviewer)
    application = console_data.self_application
    base = f"{LIST}{application.pk}/actions/"
    response = client.post(base + "start-review/")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}{application.pk}/"
    response = client.post(base + "approve/", {"note": "核验一致"}, follow=True)
    assert "审核通过" in response.content.decode()
    assert console_data.refreshed(application).status == "approved"
    again = client.post(base + "approve/", follow=True).content.decode()
    assert "alert-danger" in again
    assert "申请当前状态为“已通过”，不能进行此操作" in again
    assert [e.to_status for e in application.events.order_by("pk")] == [
        "submitted",
        "under_review",
        "approved",
    ]
    assert client.post(base + "explode/").status_code == 404


@pytest.mark.req("MR-A3")
def test_a_rejection_takes_a_reason_from_the_dictionary(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    client = client_for(reviewer)
    application = console_data.agent_application
    detail = client.get(f"{LIST}{application.pk}/").content.decode()
    assert '<option value="relation_unproven">无法证明与患者的关系</option>' in detail
    url = f"{LIST}{application.pk}/actions/reject/"
    missing = client.post(url, {"reason": "", "note": "x"}, follow=True).content.decode()
    assert "请选择拒绝原因" in missing
    assert console_data.refreshed(application).status == "submitted"
    client.post(url, {"reason": "relation_unproven", "note": "授权书未签字"})
    rejected = console_data.refreshed(application)
    assert rejected.status == "rejected"
    assert rejected.reject_reason == "无法证明与患者的关系：授权书未签字"
    assert [e.detail_data["reason_code"] for e in _audit("medical_records.application.reject")] == [
        "relation_unproven"
    ]


@pytest.mark.req("MR-A3")
def test_two_level_review_goes_to_a_checker_in_the_queue(
    console_data: ConsoleData, reviewer: Any, make_staff: Any, client_for: Any
) -> None:
    setting = _model("dictionary.InstitutionSetting")
    setting.objects.unscoped().update_or_create(
        institution=console_data.central,
        key="medical_records.review_mode",
        defaults={"value": "two_level"},
    )
    checker = make_staff(
        "checker", roles=("record_room_checker",), institution=console_data.central
    )
    application = console_data.self_application
    reviewer_client, checker_client = client_for(reviewer), client_for(checker)
    assert _numbers(reviewer_client.get(QUEUE)) == [
        console_data.self_application.number,
        console_data.agent_application.number,
    ]
    reviewer_client.post(f"{LIST}{application.pk}/actions/approve/")
    assert console_data.refreshed(application).status == "second_review"
    assert _numbers(reviewer_client.get(QUEUE)) == [console_data.agent_application.number]
    # The checker sees it in their queue, filtered by status; the reviewer only waits.
    queue = checker_client.get(QUEUE, {"status": "second_review"})
    assert _numbers(queue) == [application.number]
    own = reviewer_client.get(f"{LIST}{application.pk}/").content.decode()
    assert "复核须由初审以外的另一名工作人员进行" in own
    assert "复核通过</button>" not in own
    colleague = client_for(
        make_staff("colleague", roles=("record_room_reviewer",), institution=console_data.central)
    )
    waiting = colleague.get(f"{LIST}{application.pk}/").content.decode()
    assert "等待病案室复核员复核" in waiting
    assert "复核通过</button>" not in waiting
    refused = colleague.post(f"{LIST}{application.pk}/actions/second-review/", follow=True)
    assert "您没有复核权限" in refused.content.decode()
    assert console_data.refreshed(application).status == "second_review"
    for_checker = checker_client.get(f"{LIST}{application.pk}/").content.decode()
    assert "复核通过</button>" in for_checker
    checker_client.post(f"{LIST}{application.pk}/actions/second-review/", {"note": "同意"})
    assert console_data.refreshed(application).status == "approved"
    assert _numbers(checker_client.get(QUEUE, {"status": "second_review"})) == []


@pytest.mark.req("MR-A3")
def test_materials_are_served_inline_and_every_view_is_audited(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    client = client_for(reviewer)
    application = console_data.agent_application
    detail = client.get(f"{LIST}{application.pk}/").content.decode()
    materials = {m.kind: m for m in application.materials.all()}
    image_url = f"/console/records/materials/{materials['id_card_front'].pk}/"
    pdf_url = f"/console/records/materials/{materials['authorisation_letter'].pk}/"
    assert f'<img src="{image_url}"' in detail
    assert f'href="{pdf_url}" target="_blank"' in detail
    image = client.get(image_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert image.content == JPEG
    assert image["Content-Disposition"].startswith("inline;")
    assert image["X-Content-Type-Options"] == "nosniff"
    assert image["Cache-Control"] == "no-store"
    pdf = client.get(pdf_url)
    assert (pdf["Content-Type"], pdf.content) == ("application/pdf", PDF)
    reads = _personal_reads(application.number)
    assert [r.detail_data["what"] for r in reads] == [
        f"病案复印申请 {application.number} 的申请详情与住院诊断",
        f"病案复印申请 {application.number} 的身份证人像面",
        f"病案复印申请 {application.number} 的授权委托书",
    ]
    assert {r.actor_id for r in reads} == {reviewer.pk}
    assert {r.resident_id for r in reads} == {application.resident_id}


@pytest.mark.req("MR-A3")
def test_show_full_information_reveals_once_and_is_audited(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    client = client_for(reviewer)
    application = console_data.agent_application
    masked = client.get(f"{LIST}{application.pk}/").content.decode()
    assert "显示完整信息" in masked
    assert AGENT_PATIENT_ID not in masked
    revealed = client.post(f"{LIST}{application.pk}/reveal/")
    assert revealed.status_code == 200
    html = revealed.content.decode()
    assert f'data-field="revealed-name">{AGENT_PATIENT_NAME}<' in html
    assert f'data-field="revealed-id">{AGENT_PATIENT_ID}<' in html
    assert "上海市静安区共和新路 1000 号 5 楼" in html
    assert "本次查看已记入审计日志" in html
    assert len(_personal_reads(f"{application.number} 的患者身份与收件信息")) == 1
    assert AGENT_PATIENT_ID not in client.get(f"{LIST}{application.pk}/").content.decode()


@pytest.mark.req("MR-A3")
def test_verification_results_are_shown_without_the_id_numbers(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    html = client_for(reviewer).get(f"{LIST}{console_data.self_application.pk}/").content.decode()
    facts = html.split('id="application-verification"', 1)[1].split('id="application-admissions"')[
        0
    ]
    assert "已实名" in facts
    assert "相似度 0.93 · 流水号 TEST000001" in facts
    assert "校验通过" in facts
    assert re.search(r'data-field="self-match"><span class="badge bg-green-lt">一致', facts)
    assert DEFAULT_ID_NUMBER not in html


@pytest.mark.req("MR-A4")
def test_the_copy_panel_appears_once_the_application_has_a_copy(
    console_data: ConsoleData, reviewer: Any, client_for: Any
) -> None:
    client = client_for(reviewer)
    application = console_data.self_application
    url = f"{LIST}{application.pk}/"
    assert 'id="copy-panel"' not in client.get(url).content.decode()
    _model("medical_records.CopyDocument").objects.create(
        application=application,
        sm3="0" * 64,
        size=2 * 1024 * 1024,
        pages=12,
        built_at=timezone.make_aware(datetime.datetime(2026, 3, 2, 9, 30, 5)),  # noqa: DTZ001
        download_count=3,
    )
    html = client.get(url).content.decode()
    panel = html.split('id="copy-panel"', 1)[1]
    assert "{#" not in html
    assert '<h3 class="card-title">复印件</h3>' in panel
    assert 'data-field="copy-pages">12 页<' in panel
    assert 'data-field="copy-size">2.0\xa0MB<' in panel
    assert 'data-field="copy-built">2026-03-02 09:30:05<' in panel
    assert 'data-field="copy-downloads">3<' in panel
