"""Cryptographic state kept in the database: API clients, used nonces, record signatures."""

from __future__ import annotations

from django.db import models

# -- Signed requests from external systems (CR-1, CR-2) ------------------------------


class ApiClient(models.Model):
    """An external system (HIS, record system, vendor) calling the API with SM2-signed requests."""

    app_id = models.CharField("应用标识", max_length=64, unique=True)
    name = models.CharField("应用名称", max_length=100)
    institution_id = models.PositiveIntegerField("所属机构", null=True, blank=True)
    public_key_hex = models.CharField("SM2 公钥", max_length=130)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近调用", null=True, blank=True)

    class Meta:
        verbose_name = "接入应用"
        verbose_name_plural = "接入应用"
        ordering = ["app_id"]

    def __str__(self) -> str:
        return f"{self.app_id} ({self.name})"


class UsedNonce(models.Model):
    """A nonce an API client has spent; kept until its request could no longer be replayed."""

    app_id = models.CharField(max_length=64)
    nonce = models.CharField(max_length=64)
    # The request's own timestamp plus the allowed clock skew: after this moment a replay
    # is refused as stale anyway, so the row may be pruned.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_id", "nonce"], name="usednonce_unique_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.app_id}:{self.nonce}"


# -- Signed important records (CR-7) --------------------------------------------------


class RecordSignatureRow(models.Model):
    """The SM2 signature over one important business record (prescription, review decision)."""

    kind = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    digest = models.CharField("SM3 摘要", max_length=64)
    signature = models.CharField("SM2 签名（Base64 DER）", max_length=128)
    key_version = models.PositiveIntegerField()
    signed_at = models.DateTimeField()

    class Meta:
        verbose_name = "业务记录签名"
        verbose_name_plural = "业务记录签名"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "record_id"], name="recordsignature_unique_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.record_id}"


# -- Key rotation progress (CR-6) ---------------------------------------------------------


class RotationCursor(models.Model):
    """How far re-encryption of one model under a new key version has got (resumable)."""

    purpose = models.CharField(max_length=32)
    model_label = models.CharField(max_length=100)
    target_version = models.PositiveIntegerField()
    # The primary key of the last row done, as text (models may use integer or UUID keys).
    last_pk = models.CharField(max_length=64, blank=True, default="")
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_rewritten = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "密钥轮换进度"
        verbose_name_plural = "密钥轮换进度"
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "model_label", "target_version"],
                name="rotationcursor_unique_model_version",
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} v{self.target_version} {self.model_label}"
