"""The tamper-evident audit log: an append-only HMAC-SM3 chain with SM2-signed checkpoints."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.db import models


class AppendOnlyError(Exception):
    """Audit entries and checkpoints are never changed or removed once written."""


def _refuse(what: str) -> NoReturn:
    raise AppendOnlyError(f"审计日志只能追加，不能{what}")


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses every bulk write: rows enter only through the audit services."""

    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("修改")

    def delete(self) -> NoReturn:
        _refuse("删除")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("修改")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        # Bulk inserts would bypass the chain head; every row goes through record_event.
        _refuse("批量写入")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("修改")


class AppendOnlyModel(models.Model):
    """A model whose rows may be inserted once and never saved again or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            _refuse("修改")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("删除")


class Outcome(models.TextChoices):
    SUCCESS = "success", "成功"
    FAILURE = "failure", "失败"
    DENIED = "denied", "拒绝"


# The prev_mac of the first entry; unique like every other prev_mac, so a second
# "first" entry can never commit either.
GENESIS = "genesis"


# Retention: the platform never deletes audit entries (the law asks for at least six
# months; we keep everything). No code path removes them and ``flush`` refuses to.
class AuditEntry(AppendOnlyModel):
    """One audited event, chained to its predecessor by an HMAC-SM3 over its canonical form."""

    sequence = models.PositiveBigIntegerField("序号", unique=True)
    occurred_at = models.DateTimeField("时间（UTC）", db_index=True)
    action = models.CharField("事件", max_length=128, db_index=True)
    outcome = models.CharField("结果", max_length=16, choices=Outcome.choices)
    # Plain ids, not foreign keys: the log outlives the rows it talks about.
    actor_id = models.BigIntegerField("操作人 ID", null=True, blank=True, db_index=True)
    actor_username = models.CharField("操作人账号", max_length=150, blank=True)
    actor_roles = models.TextField("操作人角色", blank=True)
    resident_id = models.BigIntegerField("居民 ID", null=True, blank=True, db_index=True)
    object_type = models.CharField("对象类型", max_length=64, blank=True)
    object_id = models.CharField("对象 ID", max_length=64, blank=True)
    institution_id = models.BigIntegerField("机构 ID", null=True, blank=True, db_index=True)
    request_id = models.CharField("请求 ID", max_length=64, blank=True)
    # Text, not an inet column: the chain hashes exactly the stored string.
    ip = models.CharField("IP 地址", max_length=45, blank=True)
    user_agent = models.CharField("客户端", max_length=256, blank=True)
    # Canonical JSON text (sorted keys), stored as hashed so every database returns
    # it byte for byte; see ``detail_data`` for the parsed form.
    detail = models.TextField("详情", blank=True, default="{}")
    prev_mac = models.CharField("前一条 MAC", max_length=100, unique=True)
    mac = models.CharField("MAC", max_length=100, unique=True)

    class Meta:
        verbose_name = "审计记录"
        verbose_name_plural = "审计记录"
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["action", "-occurred_at"])]
        # Viewing is the only thing anyone may do with entries (the auditor role).
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action}"

    @property
    def detail_data(self) -> dict[str, Any]:
        try:
            value = json.loads(self.detail or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {"value": value}


class ChainHead(models.Model):
    """The single row naming the chain's last entry; writers lock it to take the next number."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    mac = models.CharField(max_length=100, default=GENESIS)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "审计链头"
        verbose_name_plural = "审计链头"
        default_permissions = ()
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="audit_chainhead_single")
        ]

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class AuditCheckpoint(AppendOnlyModel):
    """An SM2 signature over the chain's MAC at one sequence, linked to the previous checkpoint."""

    sequence = models.PositiveBigIntegerField("序号", unique=True)
    mac_at_sequence = models.CharField("该序号的 MAC", max_length=100)
    previous_checkpoint_signature = models.TextField("上一检查点签名", blank=True)
    signature = models.TextField("SM2 签名（hex DER）")
    signed_at = models.DateTimeField("签名时间")
    key_version = models.PositiveIntegerField("密钥版本")

    class Meta:
        verbose_name = "审计检查点"
        verbose_name_plural = "审计检查点"
        ordering = ["-sequence"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"checkpoint #{self.sequence}"


class VerificationRun(models.Model):
    """The outcome of one walk over the chain, shown to auditors as the chain's status."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.PositiveBigIntegerField()
    checkpoints_checked = models.PositiveIntegerField()
    last_sequence = models.PositiveBigIntegerField()
    problem = models.TextField(blank=True)

    class Meta:
        verbose_name = "审计链校验"
        verbose_name_plural = "审计链校验"
        ordering = ["-finished_at"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"verification {self.finished_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"
