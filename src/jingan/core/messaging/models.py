"""Messages for staff and residents, and the outbox that pushes them to other channels."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# Callers choose the category string; known ones get a Chinese label in the pages, and an
# unknown one is shown as given rather than refused, so a new context needs no edit here.
CATEGORY_TITLES = {
    "system": "系统通知",
    "security": "安全告警",
    "account": "账户",
    "medical_records": "病案复印",
    "prescriptions": "电子处方",
    "accompaniment": "陪诊服务",
    "supervision": "运营监管",
    "institutions": "机构管理",
}


def category_title(category: str) -> str:
    return CATEGORY_TITLES.get(category, category)


class Message(models.Model):
    """One message in one recipient's message centre: a staff member's or a resident's."""

    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="工作人员",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
    )
    resident = models.ForeignKey(
        "residents.Resident",
        verbose_name="居民",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
    )
    category = models.CharField("类别", max_length=64)
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容", blank=True)
    link = models.CharField("链接", max_length=500, blank=True)
    dedup_key = models.CharField("去重键", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    read_at = models.DateTimeField("阅读时间", null=True, blank=True)
    handled_at = models.DateTimeField("处理时间", null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="处理人",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = "消息"
        verbose_name_plural = "消息"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(staff_user__isnull=False) & Q(resident__isnull=True))
                | (Q(staff_user__isnull=True) & Q(resident__isnull=False)),
                name="messaging_message_exactly_one_recipient",
            ),
            # A repeated notify with the same key is a no-op, even under a race.
            models.UniqueConstraint(
                fields=["staff_user", "dedup_key"],
                condition=Q(staff_user__isnull=False) & ~Q(dedup_key=""),
                name="messaging_message_staff_dedup",
            ),
            models.UniqueConstraint(
                fields=["resident", "dedup_key"],
                condition=Q(resident__isnull=False) & ~Q(dedup_key=""),
                name="messaging_message_resident_dedup",
            ),
        ]
        indexes = [
            models.Index(fields=["staff_user", "read_at"], name="messaging_staff_unread"),
            models.Index(fields=["resident", "read_at"], name="messaging_resident_unread"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def is_handled(self) -> bool:
        return self.handled_at is not None

    @property
    def category_title(self) -> str:
        return category_title(self.category)


class OutboxEntry(models.Model):
    """One delivery of a message through an outside channel, retried until sent or dead."""

    class Channel(models.TextChoices):
        WECHAT_TEMPLATE = "wechat_template", "公众号模板消息"
        WECHAT_SUBSCRIBE = "wechat_subscribe", "公众号订阅通知"

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        FAILED = "failed", "失败待重试"
        DEAD = "dead", "已放弃"

    channel = models.CharField("渠道", max_length=32, choices=Channel.choices)
    message = models.ForeignKey(
        Message, verbose_name="消息", on_delete=models.CASCADE, related_name="outbox_entries"
    )
    payload = models.JSONField("发送内容", default=dict)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField("已尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试时间")
    claimed_at = models.DateTimeField("开始发送时间", null=True, blank=True)
    last_error = models.TextField("最近错误", blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    external_id = models.CharField("外部消息编号", max_length=128, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "待发消息"
        verbose_name_plural = "待发消息"
        ordering = ["-created_at", "-pk"]
        permissions = [("replay_outboxentry", "可重新发送已放弃的消息")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="messaging_outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"
