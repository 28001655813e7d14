"""Reads of the message centre, always through the recipient: anyone else gets a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.http import Http404

from jingan.core.messaging.models import Message, OutboxEntry

STATES = {
    "unread": "未读",
    "read": "已读未处理",
    "handled": "已处理",
}


def _unread_first(queryset: QuerySet[Message]) -> QuerySet[Message]:
    return queryset.annotate(
        unread_rank=Case(
            When(read_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
    ).order_by("unread_rank", "-created_at", "-pk")


def _filter_state(queryset: QuerySet[Message], state: str) -> QuerySet[Message]:
    if state == "unread":
        return queryset.filter(read_at__isnull=True)
    if state == "read":
        return queryset.filter(read_at__isnull=False, handled_at__isnull=True)
    if state == "handled":
        return queryset.filter(handled_at__isnull=False)
    return queryset


def messages_for_staff(user: Any, *, category: str = "", state: str = "") -> QuerySet[Message]:
    """A staff member's own messages, unread first, optionally filtered."""
    queryset = Message.objects.filter(staff_user_id=user.pk)
    if category:
        queryset = queryset.filter(category=category)
    return _unread_first(_filter_state(queryset, state))


def categories_for_staff(user: Any) -> list[str]:
    return sorted(
        Message.objects.filter(staff_user_id=user.pk).values_list("category", flat=True).distinct()
    )


def get_staff_message_for_user(user: Any, message_id: int) -> Message:
    """The staff member's own message, or 404 (another person's message does not exist)."""
    try:
        return Message.objects.get(pk=message_id, staff_user_id=user.pk)
    except Message.DoesNotExist:
        raise Http404("消息不存在") from None


def messages_for_resident(resident: Any) -> QuerySet[Message]:
    """A resident's own messages, unread first."""
    return _unread_first(Message.objects.filter(resident_id=resident.pk))


def get_resident_message(resident: Any, message_id: int) -> Message:
    """The resident's own message, or 404."""
    try:
        return Message.objects.get(pk=message_id, resident_id=resident.pk)
    except Message.DoesNotExist:
        raise Http404("消息不存在") from None


OUTBOX_VISIBLE = [
    OutboxEntry.Status.PENDING,
    OutboxEntry.Status.SENDING,
    OutboxEntry.Status.FAILED,
    OutboxEntry.Status.DEAD,
]


def outbox_entries(*, status: str = "") -> QuerySet[OutboxEntry]:
    """Outbox entries for operators: unfinished ones (or one status), dead first."""
    queryset = OutboxEntry.objects.select_related("message")
    if status in OutboxEntry.Status.values:
        queryset = queryset.filter(status=status)
    else:
        queryset = queryset.filter(status__in=OUTBOX_VISIBLE)
    return queryset.annotate(
        dead_rank=Case(
            When(status=OutboxEntry.Status.DEAD, then=Value(0)),
            When(status=OutboxEntry.Status.FAILED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
    ).order_by("dead_rank", "-created_at", "-pk")


def outbox_counts() -> dict[str, int]:
    counts = {status: 0 for status in OutboxEntry.Status.values}
    for row in OutboxEntry.objects.values("status").order_by().annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts
