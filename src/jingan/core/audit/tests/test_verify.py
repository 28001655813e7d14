from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.db import DatabaseError, IntegrityError, connection, transaction

from jingan.core.audit import append_only_triggers
from jingan.core.audit.cli import verify_audit
from jingan.core.audit.models import AuditEntry, VerificationRun
from jingan.core.audit.services import record_event
from jingan.core.audit.tests.lifting import LIFTS_TRIGGERS, tamper
from jingan.core.audit.verification import verify_chain

pytestmark = [LIFTS_TRIGGERS, pytest.mark.req("CR-3"), pytest.mark.req("SEC-3")]


@pytest.fixture
def five_entries(empty_chain: None) -> None:
    for number in range(1, 6):
        record_event(action="auth.login.success", object_id=str(number))


def _run_cli() -> tuple[int, str, str]:
    result = CliRunner().invoke(verify_audit, ["--quiet"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_intact_chain_verifies_with_a_summary(five_entries):
    assert _run_cli() == (0, "审计链完好：共 5 条记录，0 个签名检查点，最后序号 #5。\n", "")
    run = VerificationRun.objects.get()
    assert (run.ok, run.entries_checked, run.last_sequence, run.problem) == (True, 5, 5, "")


def test_progress_bar_run_prints_the_same_summary(five_entries):
    result = CliRunner().invoke(verify_audit, [])
    assert result.exit_code == 0
    assert result.stdout == "审计链完好：共 5 条记录，0 个签名检查点，最后序号 #5。\n"
    assert "校验审计链" in result.stderr


def test_empty_chain_is_intact(empty_chain):
    assert _run_cli() == (0, "审计链完好：共 0 条记录，0 个签名检查点，最后序号 #0。\n", "")


def test_edit_in_raw_sql_is_found(five_entries):
    tamper("UPDATE audit_auditentry SET action = 'auth.logout' WHERE sequence = 3")

    assert _run_cli() == (
        1,
        "",
        "审计链校验失败：审计记录 #3：MAC 与内容不符（记录被修改或伪造）\n",
    )


def test_deletion_in_raw_sql_is_found(five_entries):
    tamper("DELETE FROM audit_auditentry WHERE sequence = 3")

    assert _run_cli() == (
        1,
        "",
        "审计链校验失败：审计记录 #3 缺失：序号从 #2 跳到 #4（记录被删除）\n",
    )


def test_deletion_of_the_newest_entries_is_found(five_entries):
    tamper("DELETE FROM audit_auditentry WHERE sequence >= 4")

    assert _run_cli() == (
        1,
        "",
        "审计链校验失败：审计记录 #4–#5 缺失：链头记到 #5，最后一条为 #3（末尾记录被删除）\n",
    )


def test_insertion_in_raw_sql_is_found(five_entries):
    third = AuditEntry.objects.get(sequence=3)
    tamper(
        # Make room at #3 (through a high range, so UNIQUE(sequence) holds on the way).
        "UPDATE audit_auditentry SET sequence = sequence + 1000 WHERE sequence >= 3",
        "UPDATE audit_auditentry SET sequence = sequence - 999 WHERE sequence >= 1000",
        "INSERT INTO audit_auditentry (sequence, occurred_at, action, outcome, actor_id, "
        "actor_username, actor_roles, resident_id, object_type, object_id, institution_id, "
        "request_id, ip, user_agent, detail, prev_mac, mac) VALUES (3, "
        f"'{third.occurred_at:%Y-%m-%d %H:%M:%S.%f}', 'auth.logout', 'success', NULL, "
        "'', '', NULL, '', 'forged', NULL, '', '', '', '{}', "
        f"'1:{'0' * 64}', '1:{'f' * 64}')",
        "UPDATE audit_chainhead SET sequence = 6",
    )

    assert _run_cli() == (
        1,
        "",
        "审计链校验失败：审计记录 #3：前序 MAC 与 #2 不衔接（记录被插入或替换）\n",
    )


def test_reordering_in_raw_sql_is_found(five_entries):
    tamper(
        "UPDATE audit_auditentry SET sequence = 100 WHERE sequence = 2",
        "UPDATE audit_auditentry SET sequence = 2 WHERE sequence = 3",
        "UPDATE audit_auditentry SET sequence = 3 WHERE sequence = 100",
    )

    assert _run_cli() == (
        1,
        "",
        "审计链校验失败：审计记录 #2：前序 MAC 指向 #3，而不是 #1（记录顺序被调换）\n",
    )


def test_failed_verification_is_kept_audited_and_alerted(five_entries, make_staff):
    from jingan.core.messaging.models import Message

    auditor = make_staff("auditor", permissions=("audit.view_auditentry",))
    make_staff("sysadmin", permissions=("runtime.view_platform_status",))
    tamper("UPDATE audit_auditentry SET detail = '{\"x\":1}' WHERE sequence = 2")

    exit_code, _, _ = _run_cli()

    assert exit_code == 1
    run = VerificationRun.objects.get()
    assert (run.ok, run.entries_checked, run.problem) == (
        False,
        1,
        "审计记录 #2：MAC 与内容不符（记录被修改或伪造）",
    )
    newest = AuditEntry.objects.order_by("-sequence").first()
    assert (newest.action, newest.outcome) == ("audit.chain.verify", "failure")
    messages = Message.objects.filter(title="审计日志完整性校验失败")
    assert [message.staff_user_id for message in messages] == [auditor.pk]


def test_service_report_names_the_first_bad_entry(five_entries):
    tamper(
        "UPDATE audit_auditentry SET object_id = 'x' WHERE sequence = 4",
        "UPDATE audit_auditentry SET object_id = 'y' WHERE sequence = 2",
    )
    report = verify_chain()
    assert (report.ok, report.problem_sequence, report.entries_checked) == (False, 2, 1)


def test_triggers_refuse_update_and_delete_in_raw_sql(five_entries):
    assert append_only_triggers.installed(connection)
    for statement in (
        "UPDATE audit_auditentry SET action = 'auth.logout' WHERE sequence = 1",
        "DELETE FROM audit_auditentry WHERE sequence = 1",
    ):
        with pytest.raises(DatabaseError, match="audit log is append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
    assert AuditEntry.objects.count() == 5
    assert verify_chain().ok


def test_a_fork_cannot_commit(five_entries):
    second = AuditEntry.objects.get(sequence=2)
    fork = AuditEntry(
        sequence=6,
        occurred_at=second.occurred_at,
        action="auth.logout",
        outcome="success",
        prev_mac=second.prev_mac,
        mac="1:" + "a" * 64,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        fork.save()
