"""The visit journal (event centre), folded visits, to-dos, node templates, HIS connections
and the messages we could not take."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from jingan.core.public import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    ScopedManager,
    normalize_id_number,
)

__all__ = [
    "CircuitState",
    "ConnectionTest",
    "HisConnection",
    "NodeTemplate",
    "PartitionHead",
    "PartitionLease",
    "RejectedMessage",
    "SubCentreMember",
    "Visit",
    "VisitEvent",
    "VisitTodo",
    "WaitEstimate",
]


class VisitEvent(EncryptedModel):
    """One entry of the journal: a node change as a HIS (or a third party) reported it.

    Append-only. The primary key orders a partition: a sub-centre reads its partitions
    by ``id`` above its stored offset. ``(source, source_event_id)`` is unique, so a
    repeated delivery is a no-op at ingest.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField("来源通道", max_length=64)
    source_event_id = models.CharField("来源事件号", max_length=128)
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="visit_events",
        verbose_name="医疗机构",
    )
    visit_key = models.CharField("HIS 就诊流水号", max_length=64)
    partition = models.PositiveSmallIntegerField("分区")
    node = models.CharField("节点", max_length=20)
    item = models.CharField("项目", max_length=64, blank=True)
    status = models.CharField("状态", max_length=20)
    kind = models.CharField("类型", max_length=12, default="event")
    target_event_id = models.CharField("更正/作废的事件号", max_length=128, blank=True)
    occurred_at = models.DateTimeField("发生时间")
    emitted_at = models.DateTimeField("发出时间", null=True, blank=True)
    received_at = models.DateTimeField("接收时间")
    # JSON: {"patient": {...}, "payload": {...}}; personal and health data, encrypted.
    body = EncryptedTextField("内容")

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "就诊事件"
        verbose_name_plural = "就诊事件"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_event_id"], name="visits_event_source_unique"
            )
        ]
        indexes = [
            models.Index(fields=["partition", "id"], name="visits_event_partition"),
            models.Index(fields=["institution", "visit_key"], name="visits_event_visit"),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.source_event_id}"


class NodeTemplate(models.Model):
    """One version of an institution's journey: which nodes, their order, titles and to-do wording.

    ``nodes`` is a list of ``{"node", "title", "todos": {status: wording}}`` in display
    order; a node absent from the list is not shown. Versions are never edited: a change
    is a new version, and a visit keeps the version it started with.
    """

    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.CASCADE,
        related_name="node_templates",
        verbose_name="医疗机构",
    )
    version = models.PositiveIntegerField("版本")
    nodes = models.JSONField("节点")
    note = models.CharField("修改说明", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="修改人",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["institution", "-version"]
        verbose_name = "就诊节点模板"
        verbose_name_plural = "就诊节点模板"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "version"], name="visits_template_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class Visit(EncryptedModel):
    """An outpatient visit as folded from its events; rebuilt from the journal at any time."""

    reference = models.UUIDField("标识", default=uuid.uuid4, unique=True, editable=False)
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        related_name="visits",
        verbose_name="医疗机构",
    )
    visit_key = models.CharField("HIS 就诊流水号", max_length=64)
    partition = models.PositiveSmallIntegerField("分区")
    template = models.ForeignKey(
        NodeTemplate, on_delete=models.PROTECT, related_name="visits", verbose_name="节点模板"
    )
    resident = models.ForeignKey(
        "residents.Resident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="visits",
        verbose_name="居民",
    )
    patient_name = EncryptedTextField("患者姓名", blank=True)
    patient_id_number = EncryptedTextField("患者身份证号", blank=True)
    patient_id_index = BlindIndexField(
        source="patient_id_number", normalizer=normalize_id_number, db_index=True
    )
    department_name = models.CharField("科室", max_length=100, blank=True)
    doctor_name = models.CharField("医生", max_length=50, blank=True)
    # JSON of the fold (nodes, items, details, history); health data, encrypted.
    state = EncryptedTextField("状态")
    current_node = models.CharField("当前节点", max_length=20, blank=True)
    current_status = models.CharField("当前状态", max_length=20, blank=True)
    is_finished = models.BooleanField("已结束", default=False)
    started_at = models.DateTimeField("开始时间")
    last_event_at = models.DateTimeField("最近事件时间")
    event_count = models.PositiveIntegerField("事件数", default=0)
    # Bumped on every change; the live page asks for a fragment newer than it holds.
    revision = models.PositiveIntegerField("修订号", default=0)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "门诊就诊"
        verbose_name_plural = "门诊就诊"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "visit_key"], name="visits_visit_key_unique"
            )
        ]
        indexes = [models.Index(fields=["resident", "-started_at"], name="visits_resident")]

    def __str__(self) -> str:
        return self.visit_key


class VisitTodo(models.Model):
    """A to-do of a visit (VA-13): open while its node waits on the resident, closed after."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="todos")
    key = models.CharField("键", max_length=120)  # node:item:status
    node = models.CharField("节点", max_length=20)
    item = models.CharField("项目", max_length=64, blank=True)
    status = models.CharField("状态", max_length=20)
    title = models.CharField("待办", max_length=200)
    is_open = models.BooleanField("待处理", default=True)
    opened_at = models.DateTimeField("产生时间")
    closed_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        ordering = ["opened_at", "id"]
        verbose_name = "就诊待办"
        verbose_name_plural = "就诊待办"
        constraints = [
            models.UniqueConstraint(fields=["visit", "key"], name="visits_todo_key_unique")
        ]

    def __str__(self) -> str:
        return self.title


class WaitEstimate(models.Model):
    """The wait we told the resident (VA-7), kept to compare with when they were called."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="wait_estimates")
    source_event_id = models.CharField("来源事件号", max_length=128)
    department_name = models.CharField("科室", max_length=100, blank=True)
    ahead = models.PositiveIntegerField("前方人数")
    minutes_per_patient = models.FloatField("人均接诊分钟")
    estimated_minutes = models.PositiveIntegerField("预计等待分钟")
    estimated_at = models.DateTimeField("估计时间")
    estimated_call_at = models.DateTimeField("预计叫号时间")
    called_at = models.DateTimeField("实际叫号时间", null=True, blank=True)

    class Meta:
        ordering = ["estimated_at"]
        verbose_name = "候诊时间估计"
        verbose_name_plural = "候诊时间估计"
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "source_event_id"], name="visits_wait_estimate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.estimated_minutes} 分钟"


class PartitionLease(models.Model):
    """Who processes a journal partition, until when, and how far it has got."""

    partition = models.PositiveSmallIntegerField("分区", unique=True)
    owner = models.CharField("持有者", max_length=100, blank=True)
    # A new token on every takeover: a sub-centre that lost its lease can no longer commit.
    token = models.UUIDField("租约令牌", null=True, blank=True)
    expires_at = models.DateTimeField("到期时间", null=True, blank=True)
    offset = models.BigIntegerField("已处理到", default=0)
    processed = models.BigIntegerField("已处理事件数", default=0)
    takeovers = models.PositiveIntegerField("接管次数", default=0)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["partition"]
        verbose_name = "事件分区租约"
        verbose_name_plural = "事件分区租约"

    def __str__(self) -> str:
        return f"P{self.partition}"


class PartitionHead(models.Model):
    """The append side of a partition: ingest updates this row before inserting, so the
    row lock orders a partition's appends and ids commit in increasing order within it
    (a sub-centre reading ``id > offset`` never skips an event committed late)."""

    partition = models.PositiveSmallIntegerField("分区", unique=True)
    appended = models.BigIntegerField("已写入事件数", default=0)

    class Meta:
        ordering = ["partition"]
        verbose_name = "事件分区写入头"
        verbose_name_plural = "事件分区写入头"

    def __str__(self) -> str:
        return f"P{self.partition}"


class SubCentreMember(models.Model):
    """A live sub-centre process (heartbeat), so the live ones share the partitions evenly."""

    name = models.CharField("名称", max_length=100, unique=True)
    host = models.CharField("主机", max_length=100)
    pid = models.PositiveIntegerField("进程号")
    allowed = models.CharField("可处理分区", max_length=200)
    started_at = models.DateTimeField("启动时间")
    heartbeat_at = models.DateTimeField("心跳时间")

    class Meta:
        ordering = ["name"]
        verbose_name = "事件子中心"
        verbose_name_plural = "事件子中心"

    def __str__(self) -> str:
        return self.name


class CircuitState(models.TextChoices):
    CLOSED = "closed", "正常"
    OPEN = "open", "熔断中"
    HALF_OPEN = "half_open", "试探恢复"


class HisConnection(EncryptedModel):
    """How the platform reaches one institution's HIS (HI-1), and how polling is going."""

    institution = models.OneToOneField(
        "institutions.Institution",
        on_delete=models.CASCADE,
        related_name="his_connection",
        verbose_name="医疗机构",
    )
    # The dialect is the institution's (Institution.his_dialect); this is where to reach it:
    # A host:port of the HIS MLLP listener (connection test), B base URL of the HIS's
    # query/ping service, C SOAP endpoint URL, D database URL of the HIS views.
    endpoint = models.CharField("接口地址", max_length=300)
    # Dialect-specific secrets (database password, SOAP credentials); encrypted.
    secret = EncryptedTextField("接口凭据", blank=True)
    is_enabled = models.BooleanField("启用", default=True)
    poll_interval_seconds = models.PositiveIntegerField("轮询间隔（秒）", default=10)
    watermark = models.CharField("轮询水位", max_length=100, blank=True)
    circuit = models.CharField(
        "熔断状态", max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField("连续失败次数", default=0)
    next_poll_at = models.DateTimeField("下次轮询", null=True, blank=True)
    last_poll_at = models.DateTimeField("最近轮询", null=True, blank=True)
    last_success_at = models.DateTimeField("最近成功", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=500, blank=True)
    events_received = models.BigIntegerField("累计接收事件", default=0)
    last_event_at = models.DateTimeField("最近收到事件", null=True, blank=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["institution__code"]
        verbose_name = "HIS 对接"
        verbose_name_plural = "HIS 对接"
        permissions = [("manage_hisconnection", "维护 HIS 对接并做连接测试")]

    def __str__(self) -> str:
        return self.endpoint


class ConnectionTest(models.Model):
    """One connection test of an institution's HIS from the console (HI-1)."""

    connection = models.ForeignKey(HisConnection, on_delete=models.CASCADE, related_name="tests")
    tested_at = models.DateTimeField("测试时间", auto_now_add=True)
    tested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    ok = models.BooleanField("成功")
    message = models.CharField("结果", max_length=500)
    elapsed_ms = models.PositiveIntegerField("耗时（毫秒）")

    class Meta:
        ordering = ["-tested_at"]
        verbose_name = "连接测试"
        verbose_name_plural = "连接测试"

    def __str__(self) -> str:
        return self.message


class RejectedMessage(EncryptedModel):
    """An inbound message we could not take, kept whole with the reason; replayable."""

    class Status(models.TextChoices):
        PENDING = "pending", "待处理"
        REPLAYED = "replayed", "已重放"
        DISCARDED = "discarded", "已忽略"

    channel = models.CharField("通道", max_length=20)  # hl7 | rest | soap | views | amqp | api
    source = models.CharField("来源", max_length=64, blank=True)
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rejected_his_messages",
        verbose_name="医疗机构",
    )
    received_at = models.DateTimeField("接收时间")
    raw = EncryptedTextField("原始报文")  # text (HL7 decoded per MSH-18, JSON, XML, row JSON)
    code = models.CharField("错误码", max_length=40)
    reason = models.CharField("原因", max_length=500)
    status = models.CharField(
        "处理状态", max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField("重放次数", default=0)
    replayed_at = models.DateTimeField("重放时间", null=True, blank=True)
    replay_result = models.CharField("重放结果", max_length=500, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "被拒 HIS 消息"
        verbose_name_plural = "被拒 HIS 消息"
        permissions = [("replay_rejectedmessage", "重放或忽略被拒 HIS 消息")]
        indexes = [models.Index(fields=["status", "-received_at"], name="visits_rejected_status")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.code}"
