from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from jingan.core.audit.models import AuditCheckpoint, AuditEntry, VerificationRun
from jingan.core.audit.services import record_event

pytestmark = [pytest.mark.django_db, pytest.mark.req("SEC-3")]

LOG = "/console/audit/"
GETS = (LOG, LOG + "1/")
POSTS = (LOG + "export/", LOG + "verify/", LOG + "checkpoint/")


def _institution(code: str, name: str):
    from jingan.core.institutions.models import Institution, InstitutionKind

    return Institution.objects.create(code=code, name=name, kind=InstitutionKind.choices[0][0])


@pytest.fixture
def events() -> None:
    record_event(
        action="auth.login.failure",
        outcome="failure",
        detail={"username": "zhangsan", "mobile": "13812345678"},
    )
    record_event(action="resident.personal_data.read", resident_id=77, detail={"what": "手机号"})


def _snapshot() -> tuple[int, int, int]:
    return (
        AuditEntry.objects.count(),
        VerificationRun.objects.count(),
        AuditCheckpoint.objects.count(),
    )


def test_anonymous_visitors_are_sent_to_login_and_change_nothing(client, events):
    before = _snapshot()
    for path in GETS:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")
    for path in POSTS:
        response = client.post(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")
    assert _snapshot() == before


@pytest.mark.parametrize("role", ["system_admin", "security_admin"])
def test_administrators_cannot_read_or_export_the_audit_log(role, make_staff, client_for, events):
    # 三权分立: neither administrator holds audit.view_auditentry.
    client = client_for(make_staff("admin", roles=(role,)))
    before = _snapshot()
    for path in GETS:
        response = client.get(path)
        assert response.status_code == 403
        assert b"auth.login.failure" not in response.content
    for path in POSTS:
        assert client.post(path).status_code == 403
    assert _snapshot() == before


def test_auditor_sees_entries_newest_first_with_chain_status(make_staff, client_for):
    auditor = make_staff("auditor", roles=("auditor",))
    record_event(action="auth.login.failure", outcome="failure", detail={"m": "13812345678"})
    record_event(action="resident.personal_data.read", resident_id=77)
    response = client_for(auditor).get(LOG)

    assert response.status_code == 200
    entries = list(response.context["page"])
    assert entries[0].action == "resident.personal_data.read"
    assert [e.sequence for e in entries] == sorted((e.sequence for e in entries), reverse=True)
    page = response.content.decode()
    assert "审计日志" in page
    assert "尚未校验" in page
    assert "禁止修改与删除" in page
    assert "13812345678" not in page


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ("action=auth.", ["auth.login.failure"]),
        ("outcome=failure", ["auth.login.failure"]),
        ("resident_id=77", ["resident.personal_data.read"]),
        ("actor=nobody", []),
    ],
)
def test_auditor_filters_entries(query, actions, make_staff, client_for, events):
    client = client_for(make_staff("auditor", roles=("auditor",)))
    response = client.get(f"{LOG}?{query}")
    assert response.status_code == 200
    assert [entry.action for entry in response.context["page"]] == actions


def test_auditor_filters_by_actor_and_time_range(make_staff, client_for, events):
    auditor = make_staff("auditor", roles=("auditor",))
    record_event(action="auth.logout", actor=auditor)
    client = client_for(auditor)

    by_actor = client.get(f"{LOG}?actor=auditor&action=auth.")
    assert [entry.action for entry in by_actor.context["page"]] == ["auth.logout"]
    by_id = client.get(f"{LOG}?actor={auditor.pk}&action=auth.logout")
    assert [entry.actor_username for entry in by_id.context["page"]] == ["auditor"]

    later = timezone.localtime() + timedelta(hours=1)
    future = client.get(f"{LOG}?since={later:%Y-%m-%dT%H:%M}")
    assert list(future.context["page"]) == []


def test_bad_search_input_gets_chinese_errors(make_staff, client_for, events):
    client = client_for(make_staff("auditor", roles=("auditor",)))
    response = client.get(
        f"{LOG}?since=yesterday&resident_id=-3&action=DROP TABLE&outcome=maybe"
        "&until=2026-01-01T00:00"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert list(response.context["page"]) == []
    for message in (
        "开始时间格式不正确",
        "居民 ID 应为正整数",
        "事件名称只能包含小写字母、数字、下划线和点",
        "请选择列表中的结果",
    ):
        assert message in page


def test_end_before_start_is_refused(make_staff, client_for, events):
    client = client_for(make_staff("auditor", roles=("auditor",)))
    response = client.get(f"{LOG}?since=2026-02-01T00:00&until=2026-01-01T00:00")
    assert "结束时间应晚于开始时间" in response.content.decode()


def test_entry_detail_shows_masked_detail_and_integrity(make_staff, client_for, events):
    client = client_for(make_staff("auditor", roles=("auditor",)))
    entry = AuditEntry.objects.get(action="auth.login.failure")

    response = client.get(f"{LOG}{entry.sequence}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "与内容一致" in page
    assert "衔接" in page
    assert client.get(f"{LOG}999999/").status_code == 404


def test_export_is_masked_and_itself_audited(make_staff, client_for, events):
    auditor = make_staff("auditor", roles=("auditor",))
    client = client_for(auditor)

    response = client.post(LOG + "export/", {"action": "auth.login"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:4] == ["序号", "时间（UTC）", "事件", "结果"]
    assert [row[2] for row in rows[1:]] == ["auth.login.failure"]
    assert rows[1][3] == "失败"
    assert "13812345678" not in body
    assert "138****5678" in body
    export = AuditEntry.objects.order_by("-sequence").first()
    assert (export.action, export.actor_id, export.outcome) == (
        "audit.export",
        auditor.pk,
        "success",
    )
    assert export.detail_data == {"filters": {"action": "auth.login"}, "rows": 1}


def test_export_cells_cannot_become_spreadsheet_formulas(make_staff, client_for):
    record_event(action="auth.login.failure", outcome="failure", object_id="=HYPERLINK(1)")
    client = client_for(make_staff("auditor", roles=("auditor",)))
    body = b"".join(
        client.post(LOG + "export/", {"action": "auth.login.failure"}).streaming_content
    )
    assert "'=HYPERLINK(1)" in body.decode()


def test_auditor_runs_a_verification_from_the_page(make_staff, client_for, events):
    auditor = make_staff("auditor", roles=("auditor",))
    client = client_for(auditor)

    response = client.post(LOG + "verify/", follow=True)

    run = VerificationRun.objects.get()
    assert run.ok is True
    assert "审计链完好" in response.content.decode()
    newest = AuditEntry.objects.order_by("-sequence").first()
    assert (newest.action, newest.actor_id) == ("audit.chain.verify", auditor.pk)


def test_institution_scoped_reader_sees_only_their_institution(make_staff, client_for):
    own, other = _institution("J001", "静安甲医院"), _institution("J002", "静安乙医院")
    record_event(action="institutions.institution.update", institution_id=own.pk)
    record_event(action="institutions.institution.update", institution_id=other.pk)
    reader = make_staff("reader", permissions=("audit.view_auditentry",), institution=own)
    client = client_for(reader)

    response = client.get(f"{LOG}?action=institutions.")
    assert [entry.institution_id for entry in response.context["page"]] == [own.pk]
    foreign = AuditEntry.objects.get(institution_id=other.pk)
    assert client.get(f"{LOG}{foreign.sequence}/").status_code == 404
