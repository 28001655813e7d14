from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from jingan.core.messaging.contracts import ResidentRecipient, StaffRecipient, WeChatPayload
from jingan.core.messaging.models import Message, OutboxEntry
from jingan.core.messaging.services import (
    MessagingError,
    notify,
    notify_permission_holders,
    unread_count_for_staff,
)

PAYLOAD = WeChatPayload(
    kind="template",
    template_id="TPL-APPLY-STATUS",
    data={"first": "您的病案复印申请已通过审核", "keyword1": "复旦大学附属华山医院"},
    url="https://example.invalid/h5/",
)


def test_notify_creates_one_unread_message_per_recipient(make_staff: Any) -> None:
    alice, bob = make_staff("alice"), make_staff("bob")
    ids = notify(
        recipients=[StaffRecipient(alice.pk), StaffRecipient(bob.pk), StaffRecipient(alice.pk)],
        title="  审核待办  ",
        body="有 3 份病案复印申请待审核",
        category="medical_records",
        link="/console/",
    )
    assert len(ids) == 2
    rows = list(Message.objects.order_by("pk").values_list("staff_user_id", "title", "read_at"))
    assert rows == [(alice.pk, "审核待办", None), (bob.pk, "审核待办", None)]
    assert unread_count_for_staff(alice) == 1
    assert OutboxEntry.objects.count() == 0


def test_repeated_notify_with_the_same_dedup_key_is_a_no_op(make_staff: Any) -> None:
    alice = make_staff("alice")
    first = notify(
        recipients=[StaffRecipient(alice.pk)],
        title="完整性告警",
        body="",
        category="security",
        dedup_key="integrity:role:7",
    )
    again = notify(
        recipients=[StaffRecipient(alice.pk)],
        title="完整性告警",
        body="",
        category="security",
        dedup_key="integrity:role:7",
    )
    assert len(first) == 1
    assert again == []
    assert Message.objects.count() == 1


def test_the_dedup_key_is_per_recipient(make_staff: Any) -> None:
    alice, bob = make_staff("alice"), make_staff("bob")
    notify(
        recipients=[StaffRecipient(alice.pk)], title="t", body="", category="system", dedup_key="k"
    )
    ids = notify(
        recipients=[StaffRecipient(alice.pk), StaffRecipient(bob.pk)],
        title="t",
        body="",
        category="system",
        dedup_key="k",
    )
    assert Message.objects.filter(pk__in=ids).get().staff_user_id == bob.pk


def test_notify_refuses_unknown_recipients_and_empty_titles(make_staff: Any) -> None:
    alice = make_staff("alice")
    with pytest.raises(MessagingError, match="收件人不存在"):
        notify(
            recipients=[StaffRecipient(alice.pk), StaffRecipient(999_999)],
            title="t",
            body="",
            category="system",
        )
    with pytest.raises(MessagingError, match="消息标题不能为空"):
        notify(recipients=[StaffRecipient(alice.pk)], title=" ", body="", category="system")
    assert Message.objects.count() == 0


def test_wechat_outbox_rows_only_for_residents(make_staff: Any, person: Any) -> None:
    alice = make_staff("alice")
    resident = person("李四")
    ids = notify(
        recipients=[StaffRecipient(alice.pk), ResidentRecipient(resident.pk)],
        title="申请已通过",
        body="",
        category="medical_records",
        wechat=PAYLOAD,
    )
    entry = OutboxEntry.objects.get()
    assert entry.message_id == Message.objects.get(pk__in=ids, resident=resident).pk
    assert entry.channel == "wechat_template"
    assert entry.status == "pending"
    assert entry.payload == {
        "template_id": "TPL-APPLY-STATUS",
        "data": {"first": "您的病案复印申请已通过审核", "keyword1": "复旦大学附属华山医院"},
        "url": "https://example.invalid/h5/",
    }


def test_delivery_is_enqueued_only_after_commit(
    follower: Any, wechat: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            notify(
                recipients=[ResidentRecipient(follower.pk)],
                title="申请已通过",
                body="",
                category="medical_records",
                wechat=PAYLOAD,
            )
            # Still inside the caller's transaction: nothing has reached WeChat.
            assert wechat.messages() == []
    assert len(callbacks) == 1
    received = wechat.messages(follower.openid)
    assert [(m.kind, m.template_id, m.data["keyword1"]) for m in received] == [
        ("template", "TPL-APPLY-STATUS", "复旦大学附属华山医院")
    ]
    entry = OutboxEntry.objects.get()
    assert (entry.status, entry.attempts, entry.external_id) == (
        "sent",
        1,
        str(received[0].msgid),
    )


def test_a_rolled_back_caller_sends_nothing(
    follower: Any, wechat: Any, django_capture_on_commit_callbacks: Any
) -> None:
    class Abort(Exception):
        pass

    def business_write_that_fails() -> None:
        with transaction.atomic():
            notify(
                recipients=[ResidentRecipient(follower.pk)],
                title="申请已通过",
                body="",
                category="medical_records",
                wechat=PAYLOAD,
            )
            raise Abort

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Abort):
            business_write_that_fails()
    assert callbacks == []
    assert wechat.messages() == []
    assert Message.objects.count() == 0
    assert OutboxEntry.objects.count() == 0


def test_notify_permission_holders_reaches_active_holders_only(make_staff: Any) -> None:
    holder = make_staff("security", permissions=("messaging.view_outboxentry",))
    make_staff("clerk")
    gone = make_staff("former", permissions=("messaging.view_outboxentry",))
    gone.is_active = False
    gone.save()
    ids = notify_permission_holders(
        permission="messaging.view_outboxentry",
        title="微信推送多次失败",
        body="",
        category="security",
        dedup_key="outbox-dead:1",
    )
    assert list(Message.objects.filter(pk__in=ids).values_list("staff_user_id", flat=True)) == [
        holder.pk
    ]


def test_holders_over_an_institution_are_those_whose_scope_covers_it(
    make_staff: Any, django_user_model: Any
) -> None:
    from jingan.core.institutions.models import Institution

    huashan = Institution.objects.unscoped().create(
        code="H01", name="华山医院", short_name="华山", kind="secondary_hospital"
    )
    other = Institution.objects.unscoped().create(
        code="H02", name="静安区中心医院", short_name="中心", kind="secondary_hospital"
    )
    district = make_staff("district", permissions=("messaging.view_outboxentry",))
    local = make_staff("local", permissions=("messaging.view_outboxentry",), institution=huashan)
    make_staff("elsewhere", permissions=("messaging.view_outboxentry",), institution=other)
    ids = notify_permission_holders(
        permission="messaging.view_outboxentry",
        title="华山医院接口异常",
        body="",
        category="system",
        institution_id=huashan.pk,
    )
    recipients = Message.objects.filter(pk__in=ids).values_list("staff_user_id", flat=True)
    assert sorted(recipients) == sorted([district.pk, local.pk])
