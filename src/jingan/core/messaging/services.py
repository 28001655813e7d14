"""Every write of the message centre: notify, read, handle, replay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from jingan.core.audit.services import record_event
from jingan.core.messaging.contracts import (
    Notice,
    Recipient,
    ResidentRecipient,
    StaffRecipient,
    WeChatPayload,
)
from jingan.core.messaging.models import Message, OutboxEntry

if TYPE_CHECKING:
    from jingan.core.accounts.models import User

__all__ = [
    "handle_message",
    "handle_resident_message",
    "mark_all_read",
    "mark_message_read",
    "notify",
    "notify_many",
    "notify_permission_holders",
    "replay_outbox_entry",
    "unread_count_for_resident",
    "unread_count_for_staff",
]

_CHANNELS = {
    "template": OutboxEntry.Channel.WECHAT_TEMPLATE,
    "subscribe": OutboxEntry.Channel.WECHAT_SUBSCRIBE,
}


class MessagingError(ValueError):
    """A caller asked for something the message centre refuses; the text is for the page."""


def _enqueue_after_commit(entry_id: int) -> None:
    # Robust: the caller's work is committed already; if the queue is unreachable the
    # sweeper (config/schedules.py) picks the pending entry up within minutes.
    from jingan.core.messaging.tasks import enqueue_delivery

    transaction.on_commit(partial(enqueue_delivery, entry_id), robust=True)


def _distinct(recipients: Iterable[Recipient]) -> list[Recipient]:
    seen: dict[Recipient, None] = {}
    for recipient in recipients:
        if not isinstance(recipient, StaffRecipient | ResidentRecipient):
            raise TypeError(f"not a message recipient: {recipient!r}")
        seen.setdefault(recipient, None)
    return list(seen)


def _check_recipients_exist(recipients: list[Recipient]) -> None:
    from jingan.core.residents.models import Resident

    staff_ids = {r.user_id for r in recipients if isinstance(r, StaffRecipient)}
    resident_ids = {r.resident_id for r in recipients if isinstance(r, ResidentRecipient)}
    found_staff = set(
        get_user_model().objects.filter(pk__in=staff_ids).values_list("pk", flat=True)
    )
    found_residents = set(Resident.objects.filter(pk__in=resident_ids).values_list("pk", flat=True))
    missing = sorted(staff_ids - found_staff), sorted(resident_ids - found_residents)
    if missing[0] or missing[1]:
        raise MessagingError(f"收件人不存在：工作人员 {missing[0]}，居民 {missing[1]}")


def _create_message(recipient: Recipient, fields: dict[str, Any]) -> Message | None:
    """The new message, or None when this recipient already has one with the same key."""
    owner: dict[str, int] = (
        {"staff_user_id": recipient.user_id}
        if isinstance(recipient, StaffRecipient)
        else {"resident_id": recipient.resident_id}
    )
    dedup_key = fields["dedup_key"]
    if dedup_key and Message.objects.filter(**owner, dedup_key=dedup_key).exists():
        return None
    try:
        # A savepoint, so a concurrent duplicate does not poison the caller's transaction.
        with transaction.atomic():
            return Message.objects.create(**owner, **fields)
    except IntegrityError:
        if dedup_key and Message.objects.filter(**owner, dedup_key=dedup_key).exists():
            return None
        raise


def notify(
    *,
    recipients: Sequence[Recipient],
    title: str,
    body: str,
    category: str,
    link: str = "",
    dedup_key: str = "",
    wechat: WeChatPayload | None = None,
) -> list[int]:
    """Create in-app messages (and WeChat outbox rows for residents); returns new message ids.

    Runs inside the caller's transaction; WeChat delivery is enqueued only after it commits,
    so a rolled-back caller sends nothing. A recipient who already has a message with the
    same non-empty ``dedup_key`` gets nothing new and contributes no id.
    """
    title, category = title.strip(), category.strip()
    if not title:
        raise MessagingError("消息标题不能为空")
    if not category:
        raise MessagingError("消息类别不能为空")
    if wechat is not None and wechat.kind not in _CHANNELS:
        raise MessagingError(f"不支持的微信消息类型：{wechat.kind}")
    unique = _distinct(recipients)
    fields = {
        "title": title,
        "body": body,
        "category": category,
        "link": link,
        "dedup_key": dedup_key,
    }
    created: list[int] = []
    with transaction.atomic():
        _check_recipients_exist(unique)
        now = timezone.now()
        for recipient in unique:
            message = _create_message(recipient, fields)
            if message is None:
                continue
            created.append(message.pk)
            if wechat is not None and isinstance(recipient, ResidentRecipient):
                entry = OutboxEntry.objects.create(
                    channel=_CHANNELS[wechat.kind],
                    message=message,
                    payload={
                        "template_id": wechat.template_id,
                        "data": dict(wechat.data),
                        "url": wechat.url,
                    },
                    next_attempt_at=now,
                )
                # Registered inside the atomic block: a rollback of it discards the callback.
                _enqueue_after_commit(entry.pk)
    return created


def notify_many(notices: Sequence[Notice]) -> list[int]:
    """``notify`` for many different messages at once: a few queries for the whole lot.

    For high-rate producers (the visit event centre folds hundreds of transitions per
    transaction). Same rules: runs in the caller's transaction, a recipient who already
    has a message with the same non-empty ``dedup_key`` gets nothing new, WeChat delivery
    is enqueued (as one task) only after commit.
    """
    if not notices:
        return []
    for notice in notices:
        if not notice.title.strip():
            raise MessagingError("消息标题不能为空")
        if not notice.category.strip():
            raise MessagingError("消息类别不能为空")
        if notice.wechat is not None and notice.wechat.kind not in _CHANNELS:
            raise MessagingError(f"不支持的微信消息类型：{notice.wechat.kind}")
    with transaction.atomic():
        _check_recipients_exist(_distinct(n.recipient for n in notices))
        keys = {n.dedup_key for n in notices if n.dedup_key}
        taken: set[tuple[str, int, str]] = set()
        if keys:
            for staff_id, resident_id, key in Message.objects.filter(
                dedup_key__in=keys
            ).values_list("staff_user_id", "resident_id", "dedup_key"):
                if staff_id is not None:
                    taken.add(("staff", staff_id, key))
                else:
                    taken.add(("resident", resident_id, key))
        chosen: list[Notice] = []
        for notice in notices:
            owner = _owner_key(notice.recipient)
            if notice.dedup_key:
                mark = (*owner, notice.dedup_key)
                if mark in taken:
                    continue
                taken.add(mark)
            chosen.append(notice)
        if not chosen:
            return []
        try:
            with transaction.atomic():
                messages = Message.objects.bulk_create(
                    [
                        Message(
                            **_owner_fields(notice.recipient),
                            title=notice.title.strip(),
                            body=notice.body,
                            category=notice.category.strip(),
                            link=notice.link,
                            dedup_key=notice.dedup_key,
                        )
                        for notice in chosen
                    ]
                )
        except IntegrityError:
            # A concurrent writer took one of the keys: fall back to one by one.
            return [
                message_id
                for notice in chosen
                for message_id in notify(
                    recipients=[notice.recipient],
                    title=notice.title,
                    body=notice.body,
                    category=notice.category,
                    link=notice.link,
                    dedup_key=notice.dedup_key,
                    wechat=notice.wechat,
                )
            ]
        now = timezone.now()
        entries = OutboxEntry.objects.bulk_create(
            [
                OutboxEntry(
                    channel=_CHANNELS[notice.wechat.kind],
                    message=message,
                    payload={
                        "template_id": notice.wechat.template_id,
                        "data": dict(notice.wechat.data),
                        "url": notice.wechat.url,
                    },
                    next_attempt_at=now,
                )
                for notice, message in zip(chosen, messages, strict=True)
                if notice.wechat is not None and isinstance(notice.recipient, ResidentRecipient)
            ]
        )
        entry_ids = [entry.pk for entry in entries]
        if entry_ids:
            from jingan.core.messaging.tasks import enqueue_deliveries

            transaction.on_commit(partial(enqueue_deliveries, entry_ids), robust=True)
    return [message.pk for message in messages]


def _owner_key(recipient: Recipient) -> tuple[str, int]:
    if isinstance(recipient, StaffRecipient):
        return ("staff", recipient.user_id)
    return ("resident", recipient.resident_id)


def _owner_fields(recipient: Recipient) -> dict[str, int]:
    if isinstance(recipient, StaffRecipient):
        return {"staff_user_id": recipient.user_id}
    return {"resident_id": recipient.resident_id}


def notify_permission_holders(
    *,
    permission: str,
    title: str,
    body: str,
    category: str,
    link: str = "",
    dedup_key: str = "",
    institution_id: int | None = None,
) -> list[int]:
    """Notify every active staff member holding ``permission``; returns new message ids."""
    from jingan.core.access.services import users_with_permission

    holders = users_with_permission(permission, institution_id=institution_id)
    return notify(
        recipients=[StaffRecipient(user.pk) for user in holders],
        title=title,
        body=body,
        category=category,
        link=link,
        dedup_key=dedup_key,
    )


def unread_count_for_staff(user: Any) -> int:
    """Unread messages in a staff member's message centre."""
    if user is None or not user.is_authenticated:
        return 0
    return Message.objects.filter(staff_user_id=user.pk, read_at__isnull=True).count()


def unread_count_for_resident(resident: Any) -> int:
    """Unread messages in a resident's message centre."""
    if resident is None:
        return 0
    return Message.objects.filter(resident_id=resident.pk, read_at__isnull=True).count()


def mark_message_read(*, actor: Any, message: Message) -> Message:
    """Mark a message read by its recipient (staff ``User`` or ``Resident``); idempotent."""
    _check_owner(actor, message)
    if message.read_at is None:
        now = timezone.now()
        # Conditional, so two tabs opening the same message keep the first reading time.
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        message.refresh_from_db(fields=["read_at"])
    return message


def mark_all_read(*, actor: User) -> int:
    """Mark every unread message of a staff member read; returns how many changed."""
    return Message.objects.filter(staff_user_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def handle_message(*, actor: User, message: Message) -> Message:
    """Mark a staff member's message handled (shown greyed from then on)."""
    _check_owner(actor, message)
    if message.handled_at is not None:
        return message
    with transaction.atomic():
        now = timezone.now()
        changed = Message.objects.filter(pk=message.pk, handled_at__isnull=True).update(
            handled_at=now, handled_by=actor
        )
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        if changed:
            record_event(
                action="messaging.message.handle",
                actor=actor,
                object_type="messaging.message",
                object_id=str(message.pk),
                detail={"category": message.category},
            )
    message.refresh_from_db()
    return message


def handle_resident_message(*, actor: Any, message: Message) -> Message:
    """Mark a resident's own message handled; ``actor`` is the ``Resident``."""
    _check_owner(actor, message)
    if message.handled_at is not None:
        return message
    with transaction.atomic():
        now = timezone.now()
        changed = Message.objects.filter(pk=message.pk, handled_at__isnull=True).update(
            handled_at=now
        )
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        if changed:
            record_event(
                action="messaging.message.handle",
                resident_id=actor.pk,
                object_type="messaging.message",
                object_id=str(message.pk),
                detail={"category": message.category},
            )
    message.refresh_from_db()
    return message


def _check_owner(actor: Any, message: Message) -> None:
    # Views fetch through queries.get_*_message_for_*; this guards other callers.
    from jingan.core.residents.models import Resident

    owner_ok = (
        message.resident_id == actor.pk
        if isinstance(actor, Resident)
        else message.staff_user_id == actor.pk
    )
    if not owner_ok:
        raise PermissionError("只能处理自己的消息")


def replay_outbox_entry(*, actor: User, entry_id: int) -> OutboxEntry:
    """Send a dead outbox entry again from a fresh attempt count."""
    with transaction.atomic():
        changed = OutboxEntry.objects.filter(pk=entry_id, status=OutboxEntry.Status.DEAD).update(
            status=OutboxEntry.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_at=None,
        )
        if not changed:
            raise MessagingError("只有“已放弃”的消息可以重新发送")
        entry = OutboxEntry.objects.get(pk=entry_id)
        record_event(
            action="messaging.outbox.replay",
            actor=actor,
            resident_id=entry.message.resident_id,
            object_type="messaging.outboxentry",
            object_id=str(entry.pk),
            detail={"channel": entry.channel, "last_error": entry.last_error[:200]},
        )
        _enqueue_after_commit(entry.pk)
    return entry
