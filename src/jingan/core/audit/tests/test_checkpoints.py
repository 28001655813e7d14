from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.db import connection

from jingan.core.audit.chain import chain_mac, entry_values
from jingan.core.audit.cli import audit_checkpoint, verify_audit
from jingan.core.audit.models import AuditCheckpoint, AuditEntry
from jingan.core.audit.services import record_event, sign_checkpoint
from jingan.core.audit.tests.lifting import LIFTS_TRIGGERS, tamper
from jingan.core.audit.verification import checkpoint_message
from jingan.core.crypto import sm2
from jingan.core.crypto.keyring import get_keyring

pytestmark = [LIFTS_TRIGGERS, pytest.mark.req("CR-3"), pytest.mark.req("SEC-3")]


def _events(count: int) -> None:
    for _ in range(count):
        record_event(action="auth.login.success")


def _verify() -> tuple[int, str, str]:
    result = CliRunner().invoke(verify_audit, ["--quiet"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_checkpoint_signs_the_head_and_links_to_the_previous_one(empty_chain):
    _events(3)
    first = sign_checkpoint()
    _events(2)
    second = sign_checkpoint()

    assert (first.sequence, second.sequence) == (3, 5)
    assert first.previous_checkpoint_signature == ""
    assert second.previous_checkpoint_signature == first.signature
    public = get_keyring().public_keys("audit-checkpoint")[second.key_version]
    message = checkpoint_message(
        sequence=5,
        mac_at_sequence=second.mac_at_sequence,
        previous_checkpoint_signature=first.signature,
        signed_at=second.signed_at,
        key_version=second.key_version,
    )
    assert sm2.verify(public, message, bytes.fromhex(second.signature))
    assert _verify() == (0, "审计链完好：共 5 条记录，2 个签名检查点，最后序号 #5。\n", "")


def test_nothing_new_means_no_checkpoint(empty_chain):
    assert sign_checkpoint() is None
    _events(1)
    assert sign_checkpoint() is not None
    result = CliRunner().invoke(audit_checkpoint, [])
    assert result.stdout == "自上一检查点以来没有新的审计记录，无需签名。\n"
    assert AuditCheckpoint.objects.count() == 1


def test_cli_signs_a_checkpoint(empty_chain):
    _events(2)
    result = CliRunner().invoke(audit_checkpoint, [])
    checkpoint = AuditCheckpoint.objects.get()
    assert result.exit_code == 0
    assert result.stdout == f"已签名检查点 #2（SM2 密钥版本 {checkpoint.key_version}）。\n"


def test_tampered_checkpoint_signature_is_found(empty_chain):
    _events(2)
    checkpoint = sign_checkpoint()
    forged = checkpoint.signature[:-2] + ("00" if checkpoint.signature[-2:] != "00" else "11")
    tamper(f"UPDATE audit_auditcheckpoint SET signature = '{forged}'")

    assert _verify() == (1, "", "审计链校验失败：检查点 #2：SM2 签名无效（检查点被篡改）\n")


def test_edited_checkpoint_is_found(empty_chain):
    _events(2)
    sign_checkpoint()
    tamper("UPDATE audit_auditcheckpoint SET mac_at_sequence = 'x'")

    assert _verify() == (1, "", "审计链校验失败：检查点 #2：SM2 签名无效（检查点被篡改）\n")


def test_chain_rewritten_with_the_chain_key_is_caught_by_the_checkpoint(empty_chain):
    # An insider holding the HMAC key can recompute a consistent chain after an edit;
    # the SM2 checkpoint still names the MAC the entry had when it was signed.
    _events(2)
    sign_checkpoint()
    entry = AuditEntry.objects.get(sequence=2)
    entry.action = "auth.logout"
    forged = chain_mac(entry_values(entry))
    tamper(
        f"UPDATE audit_auditentry SET action = 'auth.logout', mac = '{forged}' WHERE sequence = 2"
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_chainhead SET mac = %s", [forged])

    assert _verify() == (
        1,
        "",
        "审计链校验失败：检查点 #2：所签 MAC 与审计记录 #2 不符（记录被替换）\n",
    )


def test_deleted_checkpoint_breaks_the_next_ones_link(empty_chain):
    _events(1)
    sign_checkpoint()
    _events(1)
    sign_checkpoint()
    _events(1)
    sign_checkpoint()
    tamper("DELETE FROM audit_auditcheckpoint WHERE sequence = 2")

    assert _verify() == (
        1,
        "",
        "审计链校验失败：检查点 #3：与上一检查点 #1 的签名不衔接（检查点被删除或替换）\n",
    )


def test_head_rolled_back_past_a_checkpoint_is_found(empty_chain):
    # Truncating the tail and moving the head back hides nothing the checkpoint signed.
    _events(4)
    sign_checkpoint()
    entries = "audit_auditentry"
    tamper(f"DELETE FROM {entries} WHERE sequence = 4")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT mac FROM {entries} WHERE sequence = 3")
        prev = cursor.fetchone()[0]
        cursor.execute("UPDATE audit_chainhead SET sequence = 3, mac = %s", [prev])

    assert _verify() == (
        1,
        "",
        "审计链校验失败：检查点 #4：所签的审计记录不存在（记录被删除）\n",
    )
