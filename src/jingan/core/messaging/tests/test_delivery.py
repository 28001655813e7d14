from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from jingan.core.audit.models import AuditEntry
from jingan.core.messaging import delivery
from jingan.core.messaging.contracts import ResidentRecipient, WeChatPayload
from jingan.core.messaging.models import OutboxEntry
from jingan.core.messaging.services import MessagingError, notify, replay_outbox_entry

TEMPLATE = WeChatPayload(
    kind="template", template_id="TPL-1", data={"first": "申请已受理"}, url="/h5/messages/"
)


def _queue(resident: Any, payload: WeChatPayload = TEMPLATE) -> OutboxEntry:
    # Outside django_capture_on_commit_callbacks the test transaction never commits, so the
    # entry stays pending and each test drives delivery itself.
    notify(
        recipients=[ResidentRecipient(resident.pk)],
        title="申请已受理",
        body="",
        category="medical_records",
        wechat=payload,
    )
    return OutboxEntry.objects.get()


def _attempt_when_due(entry_id: int) -> str:
    """Move the clock to the entry's next attempt and run one delivery."""
    due = OutboxEntry.objects.get(pk=entry_id).next_attempt_at
    with time_machine.travel(max(due, timezone.now()) + timedelta(seconds=1), tick=False):
        return delivery.deliver_outbox_entry(entry_id)


def test_a_sent_entry_is_never_sent_twice(follower: Any, wechat: Any) -> None:
    entry = _queue(follower)
    assert delivery.deliver_outbox_entry(entry.pk) == "sent"
    assert delivery.deliver_outbox_entry(entry.pk) == ""
    assert _attempt_when_due(entry.pk) == ""
    assert len(wechat.messages(follower.openid)) == 1
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("sent", 1)


def test_subscribe_messages_go_to_the_subscribe_endpoint(follower: Any, wechat: Any) -> None:
    entry = _queue(
        follower, WeChatPayload(kind="subscribe", template_id="SUB-1", data={"thing1": "复印完成"})
    )
    assert delivery.deliver_outbox_entry(entry.pk) == "sent"
    [received] = wechat.messages(follower.openid)
    assert (received.kind, received.template_id, received.data) == (
        "subscribe",
        "SUB-1",
        {"thing1": "复印完成"},
    )


def test_a_retryable_failure_is_retried_after_a_growing_back_off(
    follower: Any, wechat: Any
) -> None:
    wechat.inject_faults(2, errcode=-1, errmsg="system error")
    entry = _queue(follower)
    before = timezone.now()
    assert delivery.deliver_outbox_entry(entry.pk) == "failed"
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("failed", 1)
    assert entry.last_error.startswith("-1 system error")  # WeChat appends a request id
    assert timedelta(seconds=29) < entry.next_attempt_at - before < timedelta(seconds=35)
    # Not due yet: another task (or the sweeper) must not jump the back-off.
    assert delivery.deliver_outbox_entry(entry.pk) == ""

    assert _attempt_when_due(entry.pk) == "failed"
    entry.refresh_from_db()
    assert entry.attempts == 2
    assert _attempt_when_due(entry.pk) == "sent"
    entry.refresh_from_db()
    assert (entry.status, entry.attempts, entry.last_error) == ("sent", 3, "")
    assert len(wechat.messages(follower.openid)) == 1


def test_backoff_doubles_and_is_capped() -> None:
    assert [delivery.backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert delivery.backoff_seconds(20) == 3600


def test_an_entry_is_dead_after_the_last_attempt_and_audited(follower: Any, wechat: Any) -> None:
    wechat.inject_faults(delivery.MAX_ATTEMPTS + 1)
    entry = _queue(follower)
    outcomes = [_attempt_when_due(entry.pk) for _ in range(delivery.MAX_ATTEMPTS)]
    assert outcomes == ["failed"] * (delivery.MAX_ATTEMPTS - 1) + ["dead"]
    assert _attempt_when_due(entry.pk) == ""
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("dead", delivery.MAX_ATTEMPTS)
    assert wechat.messages() == []
    audit = AuditEntry.objects.get(action="messaging.outbox.dead")
    assert (audit.outcome, audit.object_id, audit.resident_id) == (
        "failure",
        str(entry.pk),
        follower.pk,
    )


def test_a_permanent_error_is_dead_at_once(wechat: Any, person: Any) -> None:
    stranger = person("赵六")  # never followed the account: WeChat answers 40003
    entry = _queue(stranger)
    assert delivery.deliver_outbox_entry(entry.pk) == "dead"
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("dead", 1)
    assert entry.last_error.startswith("40003 invalid openid")


def test_replay_sends_a_dead_entry_again_and_is_audited(
    follower: Any, wechat: Any, make_staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    operator = make_staff("ops", permissions=("messaging.replay_outboxentry",))
    wechat.inject_faults(1, errcode=40003, errmsg="invalid openid")
    entry = _queue(follower)
    assert delivery.deliver_outbox_entry(entry.pk) == "dead"
    with django_capture_on_commit_callbacks(execute=True):
        replay_outbox_entry(actor=operator, entry_id=entry.pk)
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == ("sent", 1)
    assert len(wechat.messages(follower.openid)) == 1
    assert (
        AuditEntry.objects.filter(action="messaging.outbox.replay", object_id=str(entry.pk)).count()
        == 1
    )
    with pytest.raises(MessagingError, match="只有“已放弃”的消息可以重新发送"):
        replay_outbox_entry(actor=operator, entry_id=entry.pk)


def test_the_sweeper_requeues_due_entries_whose_task_was_lost(follower: Any, wechat: Any) -> None:
    entry = _queue(follower)  # committed, but (as after a crash) never enqueued
    assert delivery.sweep_outbox() == {"requeued": 0, "abandoned": 0}  # within the grace
    with time_machine.travel(timezone.now() + delivery.SWEEP_GRACE + timedelta(seconds=1)):
        assert delivery.sweep_outbox() == {"requeued": 1, "abandoned": 0}
    entry.refresh_from_db()
    assert entry.status == "sent"
    assert len(wechat.messages(follower.openid)) == 1


def test_the_sweeper_buries_a_claim_abandoned_mid_send(follower: Any, wechat: Any) -> None:
    entry = _queue(follower)
    assert delivery._claim(entry.pk)  # a worker claimed it, then died before answering
    with time_machine.travel(timezone.now() + delivery.STALE_CLAIM_AFTER + timedelta(minutes=1)):
        assert delivery.sweep_outbox() == {"requeued": 0, "abandoned": 1}
    entry.refresh_from_db()
    assert entry.status == "dead"
    assert entry.last_error.startswith("发送中断")
    assert wechat.messages() == []
