"""Archived inpatient records synced from the institutions, and how each institution syncs."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from jingan.core.public import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    ScopedManager,
    normalize_id_number,
)

__all__ = [
    "ArchiveChannel",
    "ArchiveMode",
    "ArchiveSource",
    "ArchivedAdmission",
    "ArchivedSection",
    "RejectedArchivePayload",
    "UploadStatus",
]


class ArchiveChannel(models.TextChoices):
    PUSH = "push", "机构推送"
    POLL = "poll", "平台拉取"


class ArchiveMode(models.TextChoices):
    PUSH = "push", "机构推送（签名接口）"
    POLL = "poll", "平台定时拉取"


class UploadStatus(models.TextChoices):
    PENDING = "pending", "待上传"
    UPLOADED = "uploaded", "已上传"
    FAILED = "failed", "上传失败"


class ArchiveSource(models.Model):
    """How one inpatient institution's record archive reaches the platform (MR-A1, MR-C1)."""

    institution = models.OneToOneField(
        "institutions.Institution",
        on_delete=models.CASCADE,
        related_name="archive_source",
        verbose_name="医疗机构",
    )
    mode = models.CharField("同步方式", max_length=8, choices=ArchiveMode.choices)
    base_url = models.URLField("归档接口地址", max_length=200, blank=True)
    api_app_id = models.CharField("推送接入应用标识", max_length=64, blank=True)
    poll_interval_minutes = models.PositiveIntegerField(
        "拉取间隔（分钟）",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )
    is_enabled = models.BooleanField("启用", default=True)
    last_polled_at = models.DateTimeField("最近拉取", null=True, blank=True)
    last_success_at = models.DateTimeField("最近成功", null=True, blank=True)
    last_failure_at = models.DateTimeField("最近失败", null=True, blank=True)
    last_failure_reason = models.TextField("最近失败原因", blank=True)
    # Paging position of an interrupted pull, resumed by the next one.
    last_cursor = models.CharField("续传游标", max_length=200, blank=True)
    # The newest archive time seen: the next pull asks only for newer archives.
    last_archived_at = models.DateTimeField("已同步至", null=True, blank=True)
    received_count = models.PositiveIntegerField("接收条数", default=0)
    rejected_count = models.PositiveIntegerField("拒收条数", default=0)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "病案归档接口"
        verbose_name_plural = "病案归档接口"
        ordering = ["institution__code"]
        permissions = [("manage_archive_source", "配置病案归档接口")]

    def __str__(self) -> str:
        return f"{self.institution_id}:{self.mode}"

    @property
    def can_poll(self) -> bool:
        return bool(self.base_url)


class ArchivedAdmission(EncryptedModel):
    """One archived inpatient stay (admission index) of an institution."""

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="archived_admissions",
        verbose_name="医疗机构",
    )
    admission_no = models.CharField("住院号", max_length=64)
    patient_name = EncryptedTextField("患者姓名")
    patient_id_number = EncryptedTextField("患者身份证号")
    patient_id_index = BlindIndexField(
        source="patient_id_number", normalizer=normalize_id_number, db_index=True
    )
    admitted_on = models.DateField("入院日期")
    discharged_on = models.DateField("出院日期")
    department_code = models.CharField("科室编码", max_length=32)
    department_name = models.CharField("科室名称", max_length=100)
    # A JSON list of {"code": ICD-10, "name": ...}: diagnoses are health data, encrypted.
    diagnoses = EncryptedTextField("诊断")
    archived_at = models.DateTimeField("归档时间")
    synced_at = models.DateTimeField("同步时间")
    channel = models.CharField("来源渠道", max_length=8, choices=ArchiveChannel.choices)
    # SM3 of the canonical payload: the same digest again is a no-op.
    source_digest = models.CharField("来源摘要", max_length=64)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "归档住院病案"
        verbose_name_plural = "归档住院病案"
        ordering = ["-discharged_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "admission_no"], name="medical_records_admission_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}:{self.admission_no}"

    def diagnosis_list(self) -> list[dict[str, Any]]:
        """The diagnoses as ``[{"code", "name"}, ...]``."""
        value = json.loads(self.diagnoses or "[]")
        return value if isinstance(value, list) else []


class ArchivedSection(models.Model):
    """One section (首页, 出院记录 …) of an archived admission and its stored document."""

    admission = models.ForeignKey(
        ArchivedAdmission, on_delete=models.CASCADE, related_name="sections"
    )
    code = models.CharField("组成部分", max_length=32)
    title = models.CharField("标题", max_length=100)
    page_count = models.PositiveIntegerField("页数")
    document_ref = models.CharField("文档标识", max_length=128)
    document_digest = models.CharField("文档 SM3 摘要", max_length=64)
    upload_status = models.CharField(
        "上传状态", max_length=8, choices=UploadStatus.choices, default=UploadStatus.PENDING
    )
    upload_error = models.TextField("上传失败原因", blank=True)
    upload_attempts = models.PositiveIntegerField("上传尝试次数", default=0)
    # Relative to DATA_DIR: the SM4-encrypted PDF, once fetched and verified.
    stored_path = models.CharField("存储路径", max_length=300, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "归档病案组成部分"
        verbose_name_plural = "归档病案组成部分"
        ordering = ["admission_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["admission", "code"], name="medical_records_section_unique"
            )
        ]
        indexes = [models.Index(fields=["upload_status"], name="medical_rec_section_status")]

    def __str__(self) -> str:
        return f"{self.admission_id}:{self.code}"


class RejectedArchivePayload(EncryptedModel):
    """An archive payload that could not be accepted, kept as it came, with the reason."""

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rejected_archive_payloads",
        verbose_name="医疗机构",
    )
    channel = models.CharField("来源渠道", max_length=8, choices=ArchiveChannel.choices)
    admission_no = models.CharField("住院号", max_length=64, blank=True)
    payload = EncryptedTextField("原始数据")
    reason = models.TextField("拒收原因")
    received_at = models.DateTimeField("接收时间", auto_now_add=True)
    replayed_at = models.DateTimeField("重新处理时间", null=True, blank=True)
    replay_result = models.TextField("重新处理结果", blank=True)
    is_resolved = models.BooleanField("已解决", default=False)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "拒收的归档数据"
        verbose_name_plural = "拒收的归档数据"
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"rejected#{self.pk}"
