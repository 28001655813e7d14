"""E-prescriptions, each institution's connection to the centre, the call journal,
received notifications and the circulation drug catalogue."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from jingan.core.public import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    ScopedManager,
    normalize_id_number,
)

__all__ = [
    "CallOutcome",
    "CentreCall",
    "CentreConnection",
    "CentreNotification",
    "DrugCatalogueEntry",
    "NotificationOutcome",
    "Prescription",
    "PrescriptionEvent",
    "PrescriptionItem",
    "PrescriptionStatus",
    "RevokeOutcome",
]


class PrescriptionStatus(models.TextChoices):
    """Where a prescription is in its life; the centre's own codes are kept beside it."""

    DRAFT = "draft", "草稿"
    VERIFIED = "verified", "已预核验"
    PENDING_REVIEW = "pending_review", "待院内审方"
    REVIEW_REJECTED = "review_rejected", "院内审方不通过"
    REVIEWED = "reviewed", "院内审方通过"
    SIGNED = "signed", "已医保签名"
    UPLOADED = "uploaded", "已上传待审核"
    CENTRE_APPROVED = "centre_approved", "医保审核通过"
    CENTRE_REJECTED = "centre_rejected", "医保审核不通过"
    REVOKE_PENDING = "revoke_pending", "撤销待确认"
    REVOKED = "revoked", "已撤销"
    DISPENSED = "dispensed", "已取药"
    EXPIRED = "expired", "已失效"


# Before upload the prescription is ours: it may be edited or deleted. After upload only
# the centre's flow (revoke, review, pickup) moves it.
EDITABLE_STATUSES = frozenset(
    {PrescriptionStatus.DRAFT, PrescriptionStatus.VERIFIED, PrescriptionStatus.REVIEW_REJECTED}
)
DELETABLE_STATUSES = frozenset(
    {
        PrescriptionStatus.DRAFT,
        PrescriptionStatus.VERIFIED,
        PrescriptionStatus.PENDING_REVIEW,
        PrescriptionStatus.REVIEW_REJECTED,
        PrescriptionStatus.REVIEWED,
        PrescriptionStatus.SIGNED,
    }
)
REVOCABLE_STATUSES = frozenset(
    {
        PrescriptionStatus.UPLOADED,
        PrescriptionStatus.CENTRE_APPROVED,
        PrescriptionStatus.CENTRE_REJECTED,
        PrescriptionStatus.REVOKE_PENDING,
    }
)
FINAL_STATUSES = frozenset(
    {PrescriptionStatus.REVOKED, PrescriptionStatus.DISPENSED, PrescriptionStatus.EXPIRED}
)


class RevokeOutcome(models.TextChoices):
    """What a revoke request came to: it is not yes/no."""

    REVOKED = "revoked", "已撤销"
    REFUSED_DISPENSED = "refused_dispensed", "已取药，不能撤销"
    PENDING_AT_PHARMACY = "pending_at_pharmacy", "药店结算中，撤销待确认"


class CentreConnection(EncryptedModel):
    """One institution's access to the centre (RX-C1): codes, credentials and health."""

    institution = models.OneToOneField(
        "institutions.Institution",
        on_delete=models.CASCADE,
        related_name="erx_connection",
        verbose_name="医疗机构",
    )
    fixmedins_code = models.CharField("定点医药机构编码", max_length=12, unique=True)
    fixmedins_name = models.CharField("定点医药机构名称", max_length=100)
    app_id = models.CharField("应用标识 appId", max_length=64, unique=True)
    app_secret = EncryptedTextField("应用密钥 appSecret")
    private_key_hex = EncryptedTextField("机构 SM2 私钥")
    public_key_hex = models.CharField("机构 SM2 公钥", max_length=130)
    centre_public_key_hex = models.CharField("处方中心 SM2 公钥", max_length=130)
    # The signed API client (core) the institution's doctor workstations use.
    workstation_app_id = models.CharField("医生工作站接入应用", max_length=64, blank=True)
    # Whether prescriptions go through the in-hospital pharmacist review before signing.
    requires_pharmacist_review = models.BooleanField("院内审方", default=True)
    is_enabled = models.BooleanField("启用", default=True)
    last_success_at = models.DateTimeField("最近成功调用", null=True, blank=True)
    last_failure_at = models.DateTimeField("最近失败调用", null=True, blank=True)
    last_failure_reason = models.TextField("最近失败原因", blank=True)
    catalogue_synced_at = models.DateTimeField("药品目录同步时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "处方中心接入"
        verbose_name_plural = "处方中心接入"
        ordering = ["institution__code"]
        permissions = [("manage_centreconnection", "配置处方中心接入")]

    def __str__(self) -> str:
        return self.fixmedins_code


class DrugCatalogueEntry(models.Model):
    """One drug of the centre's circulation catalogue (药品目录), synced per district."""

    med_list_codg = models.CharField("医保药品编码", max_length=50, unique=True)
    generic_name = models.CharField("通用名", max_length=200)
    product_name = models.CharField("商品名", max_length=200, blank=True)
    dosage_form = models.CharField("剂型", max_length=50)
    specification = models.CharField("规格", max_length=100)
    manufacturer = models.CharField("生产企业", max_length=200, blank=True)
    approval_no = models.CharField("批准文号", max_length=50, blank=True)
    unit = models.CharField("包装单位", max_length=20)
    price = models.DecimalField("参考单价", max_digits=12, decimal_places=4)
    is_listed = models.BooleanField("流通目录在列", default=True)
    synced_at = models.DateTimeField("同步时间")

    class Meta:
        verbose_name = "处方流通药品"
        verbose_name_plural = "处方流通药品"
        ordering = ["generic_name", "med_list_codg"]

    def __str__(self) -> str:
        return f"{self.med_list_codg} {self.generic_name}"


class Prescription(EncryptedModel):
    """One insured outpatient e-prescription of an institution, ours and the centre's state."""

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="erx_prescriptions",
        verbose_name="医疗机构",
    )
    # Public identifier for pages and the API (never the sequential pk).
    reference = models.UUIDField("标识", default=uuid.uuid4, unique=True, editable=False)
    hosp_rxno = models.CharField("院内处方号", max_length=40)
    status = models.CharField(
        "状态", max_length=20, choices=PrescriptionStatus.choices, default="draft"
    )
    # Patient (health data: encrypted; the ID number also as a blind index for "my
    # prescriptions" and search).
    patient_name = EncryptedTextField("患者姓名")
    patient_id_number = EncryptedTextField("患者身份证号")
    patient_id_index = BlindIndexField(
        source="patient_id_number", normalizer=normalize_id_number, db_index=True
    )
    patient_gender = models.CharField("性别", max_length=1)  # GB/T 2261.1: 1 男, 2 女
    patient_age = models.PositiveSmallIntegerField("年龄")
    psn_no = models.CharField("医保人员编号", max_length=30, blank=True)
    insuplc_admdvs = models.CharField("参保地医保区划", max_length=6, blank=True)
    mdtrt_id = models.CharField("就诊 ID", max_length=30)
    mdtrt_cert_type = models.CharField("就诊凭证类型", max_length=3, default="02")
    # Visit
    department_code = models.CharField("开方科室编码", max_length=30)
    department_name = models.CharField("开方科室", max_length=100)
    doctor_code = models.CharField("医保医师代码", max_length=30)
    doctor_name = models.CharField("开方医师", max_length=50)
    doctor_title = models.CharField("医师职称", max_length=50, blank=True)
    # A JSON list of {"code": ICD-10, "name": ..., "main": bool}: health data, encrypted.
    diagnoses = EncryptedTextField("诊断")
    rx_type_code = models.CharField("处方类别", max_length=3, default="1")  # 1 西药 2 中成药
    prescribed_at = models.DateTimeField("开方时间")
    valid_days = models.PositiveSmallIntegerField("有效天数", default=3)
    valid_until = models.DateTimeField("有效截止")
    total_amount = models.DecimalField("药品总金额", max_digits=12, decimal_places=2, default=0)
    # The centre's identifiers and state (codes as the centre sent them).
    hi_rxno = models.CharField("医保处方编号", max_length=40, blank=True, db_index=True)
    rx_trace_code = models.CharField("处方追溯码", max_length=64, blank=True)
    rx_status_code = models.CharField("中心处方状态", max_length=4, blank=True)
    rx_used_status_code = models.CharField("中心取药状态", max_length=4, blank=True)
    review_status_code = models.CharField("中心审核状态", max_length=4, blank=True)
    review_opinion = models.TextField("中心审核意见", blank=True)
    reviewed_by_centre_at = models.DateTimeField("中心审核时间", null=True, blank=True)
    centre_pharmacist_name = models.CharField("中心审核药师", max_length=50, blank=True)
    dispensed_at = models.DateTimeField("取药时间", null=True, blank=True)
    # JSON list of the centre's seltdelts (what was dispensed, where).
    dispense_details = models.TextField("取药明细", blank=True)
    pharmacy_name = models.CharField("取药药店", max_length=200, blank=True)
    # In-hospital pharmacist review (院内审方).
    pharmacist = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="院内审方药师",
    )
    pharmacist_reviewed_at = models.DateTimeField("院内审方时间", null=True, blank=True)
    pharmacist_opinion = models.TextField("院内审方意见", blank=True)
    # The prescription PDF and the centre-signed file, SM4-encrypted (core file crypto).
    original_file = models.BinaryField("处方原件", blank=True, default=b"")
    signed_file = models.BinaryField("医保签名处方", blank=True, default=b"")
    sign_digest = models.TextField("签名摘要", blank=True)
    sign_cert_sn = models.CharField("签名证书序列号", max_length=100, blank=True)
    sign_cert_dn = models.CharField("签名证书主题", max_length=300, blank=True)
    revoke_reason = models.CharField("撤销原因", max_length=200, blank=True)
    revoke_outcome = models.CharField(
        "撤销结果", max_length=24, choices=RevokeOutcome.choices, blank=True
    )
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    last_error = models.TextField("最近错误", blank=True)
    # Who created it: a staff user (console) or a workstation (signed API client app id).
    created_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="创建人",
    )
    created_via = models.CharField("来源", max_length=64)  # "console" or "workstation:<app>"
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    uploaded_at = models.DateTimeField("上传时间", null=True, blank=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "医保电子处方"
        verbose_name_plural = "医保电子处方"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "hosp_rxno"], name="erx_prescription_unique_hosp_rxno"
            )
        ]
        indexes = [
            models.Index(fields=["institution", "status", "-created_at"]),
            models.Index(fields=["-created_at", "-id"]),
        ]
        permissions = [
            ("review_prescription", "院内审方"),
            ("prescribe_prescription", "开具与提交电子处方"),
            ("replay_centrecall", "重放处方中心调用"),
        ]

    def __str__(self) -> str:
        return self.hosp_rxno

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    @property
    def is_deletable(self) -> bool:
        return self.status in DELETABLE_STATUSES

    @property
    def is_revocable(self) -> bool:
        return self.status in REVOCABLE_STATUSES


class PrescriptionItem(models.Model):
    """One drug line of a prescription (rxdrugdetail)."""

    prescription = models.ForeignKey(
        Prescription, on_delete=models.CASCADE, related_name="items", verbose_name="处方"
    )
    line_no = models.PositiveSmallIntegerField("序号")
    med_list_codg = models.CharField("医保药品编码", max_length=50)
    generic_name = models.CharField("通用名", max_length=200)
    dosage_form = models.CharField("剂型", max_length=50)
    specification = models.CharField("规格", max_length=100)
    quantity = models.DecimalField("数量", max_digits=10, decimal_places=2)
    unit = models.CharField("单位", max_length=20)
    price = models.DecimalField("单价", max_digits=12, decimal_places=4)
    amount = models.DecimalField("金额", max_digits=12, decimal_places=2)
    single_dose = models.CharField("单次剂量", max_length=30)  # e.g. "0.5 g"
    route_code = models.CharField("用药途径代码", max_length=10)
    route_name = models.CharField("用药途径", max_length=30)
    frequency_code = models.CharField("用药频次代码", max_length=10)
    frequency_name = models.CharField("用药频次", max_length=30)
    days = models.PositiveSmallIntegerField("用药天数")

    class Meta:
        verbose_name = "处方药品"
        verbose_name_plural = "处方药品"
        ordering = ["prescription_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "line_no"], name="erx_item_unique_line")
        ]

    def __str__(self) -> str:
        return f"{self.prescription_id}:{self.line_no}"


class PrescriptionEvent(models.Model):
    """One step in a prescription's timeline, shown to staff and (some) to the resident."""

    prescription = models.ForeignKey(
        Prescription, on_delete=models.CASCADE, related_name="events", verbose_name="处方"
    )
    occurred_at = models.DateTimeField("时间")
    kind = models.CharField("事件", max_length=40)
    status = models.CharField("状态", max_length=20, choices=PrescriptionStatus.choices)
    actor_label = models.CharField("操作方", max_length=100)  # masked staff name or system
    note = models.TextField("说明", blank=True)

    class Meta:
        verbose_name = "处方事件"
        verbose_name_plural = "处方事件"
        ordering = ["occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.prescription_id}:{self.kind}"


class CallOutcome(models.TextChoices):
    OK = "ok", "成功"
    REFUSED = "refused", "业务拒绝"  # the centre answered a non-zero code
    FAILED = "failed", "调用失败"  # no verified answer (transport, timeout, bad signature)


class CentreCall(models.Model):
    """The journal: every call to the centre, plaintext masked, envelopes kept (RX-*)."""

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="erx_calls",
        verbose_name="医疗机构",
    )
    prescription = models.ForeignKey(
        Prescription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name="处方",
    )
    operation = models.CharField("接口", max_length=40)
    path = models.CharField("路径", max_length=200)
    request_masked = models.TextField("请求（脱敏明文）")
    request_envelope = models.TextField("请求报文（密文）")
    response_masked = models.TextField("应答（脱敏明文）", blank=True)
    response_envelope = models.TextField("应答报文（密文）", blank=True)
    outcome = models.CharField("结果", max_length=10, choices=CallOutcome.choices)
    code = models.IntegerField("应答代码", null=True, blank=True)
    message = models.TextField("应答信息", blank=True)
    # True when the centre may have acted although no answer came (a read timeout).
    may_have_reached = models.BooleanField("可能已送达", default=False)
    elapsed_ms = models.PositiveIntegerField("耗时（毫秒）", default=0)
    attempted_at = models.DateTimeField("调用时间", db_index=True)
    actor_label = models.CharField("操作方", max_length=100)
    replay_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replays",
        verbose_name="重放自",
    )
    replayed_at = models.DateTimeField("已重放", null=True, blank=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "处方中心调用"
        verbose_name_plural = "处方中心调用"
        ordering = ["-attempted_at", "-pk"]
        indexes = [models.Index(fields=["institution", "outcome", "-attempted_at"])]

    def __str__(self) -> str:
        return f"{self.operation}:{self.outcome}"


class NotificationOutcome(models.TextChoices):
    APPLIED = "applied", "已处理"
    DUPLICATE = "duplicate", "重复通知"
    REJECTED = "rejected", "已拒收"


class CentreNotification(models.Model):
    """A notification received from the centre (RX-8, RX-9), kept whatever became of it."""

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="erx_notifications",
        verbose_name="医疗机构",
    )
    prescription = models.ForeignKey(
        Prescription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name="处方",
    )
    kind = models.CharField("通知类型", max_length=40, blank=True)
    app_id = models.CharField("appId", max_length=64, blank=True)
    hi_rxno = models.CharField("医保处方编号", max_length=40, blank=True)
    # SM3 of kind + decrypted business object: the same notification twice is a duplicate.
    digest = models.CharField("内容摘要", max_length=64, blank=True, db_index=True)
    envelope = models.TextField("通知报文（原文）")
    data_masked = models.TextField("通知内容（脱敏）", blank=True)
    outcome = models.CharField("结果", max_length=10, choices=NotificationOutcome.choices)
    reason = models.TextField("拒收原因", blank=True)
    received_at = models.DateTimeField("接收时间", db_index=True)
    replayed_at = models.DateTimeField("已重放", null=True, blank=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "处方中心通知"
        verbose_name_plural = "处方中心通知"
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.outcome}"
