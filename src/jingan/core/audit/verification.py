"""Walking the audit chain: every MAC, every link, the sequence, the head and the checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from jingan.core.audit.chain import (
    canonical_json,
    canonical_time,
    chain_mac_valid,
    entry_values,
)
from jingan.core.audit.models import GENESIS, AuditCheckpoint, AuditEntry, ChainHead

CHECKPOINT_PURPOSE = "audit-checkpoint"
_CHUNK = 2000


@dataclass(frozen=True)
class VerificationReport:
    """What one walk over the chain found; ``problem`` names the first bad entry."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    last_sequence: int
    problem: str
    problem_sequence: int | None
    started_at: datetime
    finished_at: datetime

    @property
    def summary(self) -> str:
        if self.ok:
            return (
                f"审计链完好：共 {self.entries_checked} 条记录，"
                f"{self.checkpoints_checked} 个签名检查点，最后序号 #{self.last_sequence}。"
            )
        return f"审计链校验失败：{self.problem}"


def checkpoint_message(
    *,
    sequence: int,
    mac_at_sequence: str,
    previous_checkpoint_signature: str,
    signed_at: datetime,
    key_version: int,
) -> bytes:
    """The bytes an SM2 checkpoint signature covers."""
    document = {
        "v": 1,
        "sequence": sequence,
        "mac_at_sequence": mac_at_sequence,
        "previous_checkpoint_signature": previous_checkpoint_signature,
        "signed_at": canonical_time(signed_at),
        "key_version": key_version,
    }
    return canonical_json(document).encode("utf-8")


def checkpoint_signature_valid(checkpoint: AuditCheckpoint, public_keys: dict[int, str]) -> bool:
    from jingan.core.crypto import sm2

    public_hex = public_keys.get(checkpoint.key_version)
    if not public_hex:
        return False
    try:
        signature = bytes.fromhex(checkpoint.signature)
    except ValueError:
        return False
    message = checkpoint_message(
        sequence=checkpoint.sequence,
        mac_at_sequence=checkpoint.mac_at_sequence,
        previous_checkpoint_signature=checkpoint.previous_checkpoint_signature,
        signed_at=checkpoint.signed_at,
        key_version=checkpoint.key_version,
    )
    try:
        return bool(sm2.verify(public_hex, message, signature))
    except (ValueError, TypeError):
        return False


def _link_problem(entry: Any, previous_sequence: int) -> str:
    """Explain a broken prev link, naming where it points if it points at another entry."""
    target = (
        AuditEntry.objects.filter(mac=entry.prev_mac).values_list("sequence", flat=True).first()
    )
    if target is not None and target != previous_sequence:
        return (
            f"审计记录 #{entry.sequence}：前序 MAC 指向 #{target}，"
            f"而不是 #{previous_sequence}（记录顺序被调换）"
        )
    if previous_sequence == 0:
        return f"审计记录 #{entry.sequence}：前序 MAC 不是链的起点（链首被替换或插入）"
    return (
        f"审计记录 #{entry.sequence}：前序 MAC 与 #{previous_sequence} 不衔接（记录被插入或替换）"
    )


class _Walk:
    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress = progress
        self.checked = 0
        self.last_sequence = 0
        self.last_mac = GENESIS
        self.problem = ""
        self.problem_sequence: int | None = None

    def fail(self, message: str, sequence: int | None) -> None:
        self.problem = message
        self.problem_sequence = sequence

    def entries(self, wanted_macs: dict[int, str]) -> None:
        expected = 1
        for entry in AuditEntry.objects.order_by("sequence").iterator(chunk_size=_CHUNK):
            if entry.sequence != expected:
                missing = (
                    f"#{expected}"
                    if entry.sequence == expected + 1
                    else f"#{expected}–#{entry.sequence - 1}"
                )
                self.fail(
                    f"审计记录 {missing} 缺失：序号从 #{expected - 1} 跳到 #{entry.sequence}"
                    "（记录被删除）",
                    expected,
                )
                return
            if entry.prev_mac != self.last_mac:
                self.fail(_link_problem(entry, expected - 1), entry.sequence)
                return
            if not chain_mac_valid(entry_values(entry), entry.mac):
                self.fail(
                    f"审计记录 #{entry.sequence}：MAC 与内容不符（记录被修改或伪造）",
                    entry.sequence,
                )
                return
            if entry.sequence in wanted_macs:
                wanted_macs[entry.sequence] = entry.mac
            self.checked += 1
            self.last_sequence = entry.sequence
            self.last_mac = entry.mac
            expected += 1
            if self.progress is not None:
                self.progress(1)

    def head(self) -> None:
        head = ChainHead.objects.filter(pk=1).first()
        head_sequence = head.sequence if head else 0
        head_mac = head.mac if head else GENESIS
        if head_sequence > self.last_sequence:
            first_missing = self.last_sequence + 1
            missing = (
                f"#{first_missing}"
                if head_sequence == first_missing
                else f"#{first_missing}–#{head_sequence}"
            )
            self.fail(
                f"审计记录 {missing} 缺失：链头记到 #{head_sequence}，"
                f"最后一条为 #{self.last_sequence}（末尾记录被删除）",
                first_missing,
            )
        elif head_sequence < self.last_sequence:
            self.fail(
                f"审计记录 #{head_sequence + 1}：链头只记到 #{head_sequence}"
                "（记录绕过审计服务写入）",
                head_sequence + 1,
            )
        elif head_mac != self.last_mac:
            self.fail(
                f"审计记录 #{self.last_sequence}：MAC 与链头记录的不符（链头或末条被改动）",
                self.last_sequence,
            )

    def checkpoints(self, checkpoints: list[AuditCheckpoint], macs: dict[int, str]) -> int:
        from jingan.core.crypto.keyring import get_keyring

        public_keys = get_keyring().public_keys(CHECKPOINT_PURPOSE) if checkpoints else {}
        previous_signature = ""
        previous_sequence: int | None = None
        for count, checkpoint in enumerate(checkpoints):
            label = f"检查点 #{checkpoint.sequence}"
            if not checkpoint_signature_valid(checkpoint, public_keys):
                self.fail(f"{label}：SM2 签名无效（检查点被篡改）", checkpoint.sequence)
                return count
            if checkpoint.previous_checkpoint_signature != previous_signature:
                reason = (
                    f"与上一检查点 #{previous_sequence} 的签名不衔接"
                    if previous_sequence
                    else "应为第一个检查点，却指向另一个签名"
                )
                self.fail(f"{label}：{reason}（检查点被删除或替换）", checkpoint.sequence)
                return count
            mac = macs.get(checkpoint.sequence, "")
            if not mac:
                self.fail(f"{label}：所签的审计记录不存在（记录被删除）", checkpoint.sequence)
                return count
            if mac != checkpoint.mac_at_sequence:
                self.fail(
                    f"{label}：所签 MAC 与审计记录 #{checkpoint.sequence} 不符（记录被替换）",
                    checkpoint.sequence,
                )
                return count
            previous_signature = checkpoint.signature
            previous_sequence = checkpoint.sequence
        return len(checkpoints)


def entry_count() -> int:
    return AuditEntry.objects.count()


def verify_chain(*, progress: Callable[[int], None] | None = None) -> VerificationReport:
    """Check every entry's MAC, the sequence, the links, the head and every checkpoint."""
    started_at = timezone.now()
    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    macs: dict[int, str] = {checkpoint.sequence: "" for checkpoint in checkpoints}
    walk = _Walk(progress)
    walk.entries(macs)
    checkpoints_checked = 0
    if not walk.problem:
        walk.head()
    if not walk.problem:
        checkpoints_checked = walk.checkpoints(checkpoints, macs)
    return VerificationReport(
        ok=not walk.problem,
        entries_checked=walk.checked,
        checkpoints_checked=checkpoints_checked,
        last_sequence=walk.last_sequence,
        problem=walk.problem,
        problem_sequence=walk.problem_sequence,
        started_at=started_at,
        finished_at=timezone.now(),
    )
