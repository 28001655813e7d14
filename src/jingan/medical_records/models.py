"""Copy applications of the one-click medical record service, their materials and timeline."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from jingan.core.public import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    ScopedManager,
    normalize_id_number,
)
from jingan.medical_records.archive_models import *  # noqa: F403


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交"
    UNDER_REVIEW = "under_review", "审核中"
    SECOND_REVIEW = "second_review", "复核中"
    APPROVED = "approved", "已通过"
    REJECTED = "rejected", "已拒绝"
    PREPARING = "preparing", "制作中"
    READY = "ready", "待下载"
    SHIPPED = "shipped", "已寄出"
    COMPLETED = "completed", "已完成"
    CANCELLED = "cancelled", "已取消"


# One colour per status (MR-A2): Tabler badge colours on the console, WeUI tones on H5.
STATUS_COLOURS: dict[str, str] = {
    ApplicationStatus.SUBMITTED: "blue",
    ApplicationStatus.UNDER_REVIEW: "azure",
    ApplicationStatus.SECOND_REVIEW: "indigo",
    ApplicationStatus.APPROVED: "teal",
    ApplicationStatus.REJECTED: "red",
    ApplicationStatus.PREPARING: "orange",
    ApplicationStatus.READY: "green",
    ApplicationStatus.SHIPPED: "cyan",
    ApplicationStatus.COMPLETED: "lime",
    ApplicationStatus.CANCELLED: "secondary",
}

# Statuses in which the resident is still waiting; a second application for the same
# admission and purpose is refused while one of these is open.
OPEN_STATUSES = frozenset(
    {
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.UNDER_REVIEW,
        ApplicationStatus.SECOND_REVIEW,
        ApplicationStatus.APPROVED,
        ApplicationStatus.PREPARING,
        ApplicationStatus.READY,
        ApplicationStatus.SHIPPED,
    }
)


class ApplicantType(models.TextChoices):
    SELF = "self", "本人"
    AGENT = "agent", "委托代理人"
    GUARDIAN = "guardian", "监护人"
    HEIR = "heir", "继承人"


class DeliveryMethod(models.TextChoices):
    ELECTRONIC = "electronic", "电子版下载"
    MAIL = "mail", "邮寄纸质件"


class CopyApplication(EncryptedModel):
    """A resident's request for a copy of one or more archived inpatient records."""

    number = models.CharField("申请编号", max_length=20, unique=True)
    resident = models.ForeignKey(
        "residents.Resident",
        on_delete=models.PROTECT,
        related_name="copy_applications",
        verbose_name="申请人",
    )
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="copy_applications",
        verbose_name="医疗机构",
    )
    applicant_type = models.CharField("申请人类型", max_length=16, choices=ApplicantType.choices)
    patient_name = EncryptedTextField("患者姓名")
    patient_id_number = EncryptedTextField("患者身份证号")
    patient_id_index = BlindIndexField(
        source="patient_id_number", normalizer=normalize_id_number, db_index=True
    )
    applicant_relation = models.CharField("与患者关系", max_length=32, blank=True)
    purpose = models.CharField("复印用途", max_length=32)
    sections = models.JSONField("复印内容", default=list)
    copies = models.PositiveSmallIntegerField(
        "份数", default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    delivery_method = models.CharField("取件方式", max_length=16, choices=DeliveryMethod.choices)
    mail_recipient = EncryptedTextField("收件人", blank=True)
    mail_phone = EncryptedTextField("收件电话", blank=True)
    mail_address = EncryptedTextField("收件地址", blank=True)
    status = models.CharField(
        "状态",
        max_length=16,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.SUBMITTED,
    )
    reject_reason = models.CharField("拒绝原因", max_length=200, blank=True)
    tracking_no = models.CharField("快递单号", max_length=40, blank=True)
    first_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="初审人",
    )
    submitted_ip = models.GenericIPAddressField("提交 IP", null=True, blank=True)
    submitted_at = models.DateTimeField("提交时间", auto_now_add=True)
    reviewed_at = models.DateTimeField("审核时间", null=True, blank=True)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "病案复印申请"
        verbose_name_plural = "病案复印申请"
        ordering = ["-submitted_at", "-pk"]
        permissions = [
            ("review_copyapplication", "审核病案复印申请"),
            ("second_review_copyapplication", "复核病案复印申请"),
        ]
        indexes = [
            # A record room's list and queue (one institution, by status, newest first).
            models.Index(fields=["institution", "status", "-submitted_at"]),
            # The district's list (regulator): newest first, and by status.
            models.Index(fields=["-submitted_at", "-id"], name="medical_rec_submitted_desc"),
            models.Index(fields=["status", "-submitted_at"], name="medical_rec_status_submitted"),
            models.Index(fields=["resident", "-submitted_at"]),
            models.Index(fields=["submitted_ip", "submitted_at"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def status_colour(self) -> str:
        return STATUS_COLOURS.get(self.status, "secondary")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ApplicationAdmission(models.Model):
    """One archived admission whose record an application asks to copy."""

    application = models.ForeignKey(
        CopyApplication, on_delete=models.CASCADE, related_name="admission_links"
    )
    admission = models.ForeignKey(
        "medical_records.ArchivedAdmission",
        on_delete=models.PROTECT,
        related_name="application_links",
    )

    class Meta:
        verbose_name = "申请的住院记录"
        verbose_name_plural = "申请的住院记录"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "admission"], name="medical_records_application_admission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.admission_id}"


class MaterialKind(models.TextChoices):
    ID_CARD_FRONT = "id_card_front", "身份证人像面"
    ID_CARD_BACK = "id_card_back", "身份证国徽面"
    AUTHORISATION_LETTER = "authorisation_letter", "授权委托书"
    AGENT_ID_CARD = "agent_id_card", "代理人身份证"
    GUARDIANSHIP_PROOF = "guardianship_proof", "监护关系证明"
    BIRTH_CERTIFICATE = "birth_certificate", "出生医学证明"
    HEIR_PROOF = "heir_proof", "继承关系证明"
    DEATH_CERTIFICATE = "death_certificate", "死亡证明"


class ApplicationMaterial(EncryptedModel):
    """An uploaded proof (ID card, authorisation, …), stored SM4-encrypted under DATA_DIR."""

    application = models.ForeignKey(
        CopyApplication, on_delete=models.CASCADE, related_name="materials"
    )
    kind = models.CharField("材料类型", max_length=32, choices=MaterialKind.choices)
    file_key = models.UUIDField("文件标识", default=uuid.uuid4, unique=True, editable=False)
    original_name = EncryptedTextField("原文件名", blank=True)
    content_type = models.CharField("文件类型", max_length=64)
    size = models.PositiveIntegerField("大小（字节）")
    sm3 = models.CharField("SM3 摘要", max_length=64)
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = "申请材料"
        verbose_name_plural = "申请材料"
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}#{self.pk}"

    @property
    def encryption_context(self) -> str:
        return f"medical_records.material:{self.file_key}"


class ApplicationEvent(models.Model):
    """One step of an application's timeline, shown to the resident and the record room."""

    class ActorKind(models.TextChoices):
        STAFF = "staff", "工作人员"
        RESIDENT = "resident", "居民"
        SYSTEM = "system", "系统"

    application = models.ForeignKey(
        CopyApplication, on_delete=models.CASCADE, related_name="events"
    )
    from_status = models.CharField(
        "原状态", max_length=16, choices=ApplicationStatus.choices, blank=True
    )
    to_status = models.CharField("新状态", max_length=16, choices=ApplicationStatus.choices)
    actor_kind = models.CharField("操作方", max_length=16, choices=ActorKind.choices)
    actor_id = models.PositiveBigIntegerField("操作人", null=True, blank=True)
    note = models.CharField("说明", max_length=200, blank=True)
    occurred_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "申请进度"
        verbose_name_plural = "申请进度"
        ordering = ["occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.to_status}"


class ApplicationSequence(models.Model):
    """The last number handed out per day; rows locked while a number is drawn."""

    day = models.DateField("日期", unique=True)
    last_value = models.PositiveIntegerField("最后序号", default=0)

    class Meta:
        verbose_name = "申请编号序列"
        verbose_name_plural = "申请编号序列"

    def __str__(self) -> str:
        return f"{self.day}:{self.last_value}"


class CopyDocument(models.Model):
    """The watermarked PDF copy of an approved application, stored SM4-encrypted under DATA_DIR."""

    application = models.OneToOneField(
        CopyApplication,
        on_delete=models.CASCADE,
        related_name="copy_document",
        verbose_name="复印申请",
    )
    # A new key on every rebuild: download links issued for an older build stop working.
    file_key = models.UUIDField("文件标识", default=uuid.uuid4, unique=True, editable=False)
    sm3 = models.CharField("SM3 摘要", max_length=64, blank=True)
    size = models.PositiveIntegerField("大小（字节）", default=0)
    pages = models.PositiveIntegerField("页数", default=0)
    built_at = models.DateTimeField("制作时间", null=True, blank=True)
    download_count = models.PositiveIntegerField("下载次数", default=0)
    first_downloaded_at = models.DateTimeField("首次下载", null=True, blank=True)
    last_downloaded_at = models.DateTimeField("最近下载", null=True, blank=True)
    build_error = models.TextField("制作失败原因", blank=True)
    build_attempts = models.PositiveIntegerField("制作次数", default=0)
    # Set when the encrypted file was deleted after the download period (purge job).
    purged_at = models.DateTimeField("清除时间", null=True, blank=True)

    class Meta:
        verbose_name = "病案复印件"
        verbose_name_plural = "病案复印件"
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.file_key}"

    @property
    def is_built(self) -> bool:
        return self.built_at is not None and bool(self.sm3)

    @property
    def encryption_context(self) -> str:
        return f"medical_records.copy:{self.file_key}"
