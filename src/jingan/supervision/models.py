"""Run history, the exchange register, the indicator store and alerts of the supervision
platform. Lake data itself lives in Parquet under ``DATA_DIR/lake`` (DESIGN §5)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from jingan.core.public import ScopedManager

__all__ = [
    "Alert",
    "AlertComment",
    "AlertRule",
    "AlertState",
    "ExchangeFile",
    "ExchangeState",
    "IndicatorState",
    "IndicatorValue",
    "JobKind",
    "JobRun",
    "JobStatus",
]


class JobKind(models.TextChoices):
    COLLECT = "collect", "数据采集"
    CLEAN = "clean", "数据清洗"
    INDICATORS = "indicators", "指标计算"
    ALERTS = "alerts", "监测预警"


class JobStatus(models.TextChoices):
    RUNNING = "running", "运行中"
    SUCCEEDED = "succeeded", "成功"
    PARTIAL = "partial", "部分成功"  # finished, with rejected rows
    FAILED = "failed", "失败"


class JobRun(models.Model):
    """One run of a collection, cleaning, indicator or alert job (SB-6, SB-7)."""

    kind = models.CharField("作业类型", max_length=12, choices=JobKind.choices)
    # The dataset (collect, clean), indicator group or "all" the run worked on.
    target = models.CharField("作业对象", max_length=64)
    day = models.DateField("数据日期", null=True, blank=True)
    status = models.CharField("状态", max_length=10, choices=JobStatus.choices)
    trigger = models.CharField("触发方式", max_length=16)  # schedule | manual | demo | test
    started_at = models.DateTimeField("开始时间", db_index=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    rows_in = models.PositiveBigIntegerField("输入行数", default=0)
    rows_out = models.PositiveBigIntegerField("输出行数", default=0)
    rows_rejected = models.PositiveBigIntegerField("拒收行数", default=0)
    error = models.TextField("错误", blank=True)
    # A JSON object: per-rule reject counts, snapshot path, indicator codes, ...
    detail = models.TextField("详情", blank=True, default="{}")
    actor = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="操作人",
    )

    class Meta:
        verbose_name = "监管作业运行"
        verbose_name_plural = "监管作业运行"
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["kind", "target", "day"])]
        permissions = [("rerun_jobrun", "重跑监管作业")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}:{self.day}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ExchangeState(models.TextChoices):
    INBOX = "inbox", "待交换"
    ACCEPTED = "accepted", "已接收"
    QUARANTINED = "quarantined", "已隔离"


class ExchangeFile(models.Model):
    """A file that crossed (or failed to cross) the internet → government exchange (SB-2)."""

    dataset = models.CharField("数据集", max_length=64)
    day = models.DateField("数据日期")
    filename = models.CharField("文件名", max_length=200)
    sm3 = models.CharField("SM3 摘要（清单）", max_length=64)
    size = models.PositiveBigIntegerField("大小（字节）", default=0)
    rows_declared = models.PositiveBigIntegerField("清单行数", default=0)
    state = models.CharField("状态", max_length=12, choices=ExchangeState.choices)
    reason = models.TextField("隔离原因", blank=True)
    received_at = models.DateTimeField("进入交换区", db_index=True)
    processed_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "数据交换文件"
        verbose_name_plural = "数据交换文件"
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["dataset", "day"])]

    def __str__(self) -> str:
        return f"{self.dataset}:{self.day}:{self.state}"


class IndicatorValue(models.Model):
    """One value of the indicator store (指标中间库, SB-4).

    Keyed by indicator, grain, period and dimensions; ratios keep their numerator and
    denominator so roll-ups are Σnum/Σden. District-wide rows have no institution;
    rows broken down by institution carry it (the scope of institution staff).
    """

    indicator = models.CharField("指标编码", max_length=64)
    grain = models.CharField("粒度", max_length=8)  # day | month | period
    period_start = models.DateField("周期开始")
    # Canonical "name=value|name=value" (sorted by name); "" for the total.
    dimensions_key = models.CharField("维度", max_length=200, default="", blank=True)
    dimensions = models.TextField("维度（JSON）", default="{}", blank=True)
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="医疗机构",
    )
    value = models.FloatField("值")
    numerator = models.FloatField("分子", null=True, blank=True)
    denominator = models.FloatField("分母", null=True, blank=True)
    computed_at = models.DateTimeField("计算时间")
    run = models.ForeignKey(
        JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "指标值"
        verbose_name_plural = "指标值"
        ordering = ["indicator", "grain", "period_start", "dimensions_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "grain", "period_start", "dimensions_key"],
                name="indicatorvalue_unique_point",
            )
        ]
        indexes = [models.Index(fields=["indicator", "grain", "period_start"])]

    def __str__(self) -> str:
        return f"{self.indicator}:{self.grain}:{self.period_start}:{self.dimensions_key}"


class IndicatorState(models.Model):
    """How fresh each indicator is: the last run and the last day its data covers."""

    indicator = models.CharField("指标编码", max_length=64, unique=True)
    data_through = models.DateField("数据截至", null=True, blank=True)
    last_run_at = models.DateTimeField("最近计算", null=True, blank=True)
    last_error = models.TextField("最近错误", blank=True)

    class Meta:
        verbose_name = "指标状态"
        verbose_name_plural = "指标状态"
        ordering = ["indicator"]

    def __str__(self) -> str:
        return self.indicator


class AlertRule(models.Model):
    """A threshold on an indicator (absolute, or relative to its own baseline), or on a
    feed's freshness (SB-5)."""

    class Kind(models.TextChoices):
        ABSOLUTE = "absolute", "绝对阈值"
        RELATIVE = "relative", "相对基线"
        FRESHNESS = "freshness", "数据断供"

    class Comparator(models.TextChoices):
        ABOVE = "above", "高于"
        BELOW = "below", "低于"

    class Severity(models.TextChoices):
        INFO = "info", "提示"
        WARNING = "warning", "警告"
        CRITICAL = "critical", "严重"

    code = models.CharField("规则编码", max_length=64, unique=True)
    name = models.CharField("规则名称", max_length=100)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    # The indicator watched (absolute/relative) or the dataset (freshness).
    indicator = models.CharField("指标编码", max_length=64, blank=True)
    dataset = models.CharField("数据集", max_length=64, blank=True)
    grain = models.CharField("粒度", max_length=8, default="day")
    # "" = the total; otherwise a dimensions_key prefix such as "institution=" for every
    # institution's own series.
    dimensions_key = models.CharField("维度", max_length=200, blank=True, default="")
    comparator = models.CharField(
        "比较", max_length=6, choices=Comparator.choices, default=Comparator.BELOW
    )
    # absolute: the threshold itself; relative: the allowed change as a fraction of the
    # baseline (0.3 = 30 %); freshness: days without new data.
    threshold = models.FloatField("阈值")
    baseline_days = models.PositiveSmallIntegerField("基线天数", default=28)
    cooldown_minutes = models.PositiveIntegerField("冷却时间（分钟）", default=24 * 60)
    severity = models.CharField(
        "级别", max_length=8, choices=Severity.choices, default=Severity.WARNING
    )
    is_enabled = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "预警规则"
        verbose_name_plural = "预警规则"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class AlertState(models.TextChoices):
    OPEN = "open", "待处理"
    ACKNOWLEDGED = "acknowledged", "已确认"
    RESOLVED = "resolved", "已解决"


class Alert(models.Model):
    """One alert raised by a rule, handled in the alert inbox (SB-5)."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.PROTECT, related_name="alerts", verbose_name="规则"
    )
    state = models.CharField("状态", max_length=14, choices=AlertState.choices)
    severity = models.CharField("级别", max_length=8, choices=AlertRule.Severity.choices)
    title = models.CharField("标题", max_length=200)
    message = models.TextField("说明")
    period_start = models.DateField("数据周期", null=True, blank=True)
    dimensions_key = models.CharField("维度", max_length=200, blank=True, default="")
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="医疗机构",
    )
    value = models.FloatField("观测值", null=True, blank=True)
    baseline = models.FloatField("基线", null=True, blank=True)
    opened_at = models.DateTimeField("触发时间", db_index=True)
    last_triggered_at = models.DateTimeField("最近触发")
    trigger_count = models.PositiveIntegerField("触发次数", default=1)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="处理人",
    )
    acknowledged_at = models.DateTimeField("确认时间", null=True, blank=True)
    resolved_at = models.DateTimeField("解决时间", null=True, blank=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        verbose_name = "预警"
        verbose_name_plural = "预警"
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["state", "-opened_at"])]
        permissions = [("handle_alert", "处理预警")]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.state}"


class AlertComment(models.Model):
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="comments", verbose_name="预警"
    )
    author = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="作者"
    )
    body = models.TextField("内容")
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "预警处理记录"
        verbose_name_plural = "预警处理记录"
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.alert_id}:{self.pk}"
