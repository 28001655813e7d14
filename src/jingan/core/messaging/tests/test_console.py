from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from jingan.core.audit.models import AuditEntry
from jingan.core.messaging.contracts import ResidentRecipient, StaffRecipient, WeChatPayload
from jingan.core.messaging.models import Message, OutboxEntry
from jingan.core.messaging.services import notify

pytestmark = [pytest.mark.req("MR-A6")]


def _send(user: Any, title: str, *, category: str = "system", **fields: Any) -> Message:
    [pk] = notify(
        recipients=[StaffRecipient(user.pk)],
        title=title,
        body=f"{title}的内容",
        category=category,
        **fields,
    )
    return Message.objects.get(pk=pk)


def _badge(html: str) -> str:
    match = re.search(r'id="message-badge".*?data-unread="(\d+)"', html, re.S)
    assert match, "no message badge on the page"
    return match.group(1)


def test_unread_count_is_in_the_header_of_every_console_page(
    make_staff: Any, client_for: Any
) -> None:
    user = make_staff("alice", permissions=("runtime.view_platform_status",))
    _send(user, "一")
    _send(user, "二")
    client = client_for(user)
    for path in ("/console/", "/console/status/", "/console/messages/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _badge(response.content.decode()) == "2", path
    partial = client.get("/console/messages/badge/", headers={"HX-Request": "true"})
    assert _badge(partial.content.decode()) == "2"
    assert 'hx-trigger="every 30s, messages-changed from:body"' in partial.content.decode()


def test_inbox_lists_unread_first_and_filters(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    old_unread = _send(user, "旧的未读", category="security")
    read = _send(user, "较新已读")
    read.read_at = read.created_at
    read.save()
    newest_unread = _send(user, "最新未读")
    client = client_for(user)
    page = client.get("/console/messages/")
    assert [m.pk for m in page.context["page"]] == [newest_unread.pk, old_unread.pk, read.pk]
    only_security = client.get("/console/messages/?category=security")
    assert [m.pk for m in only_security.context["page"]] == [old_unread.pk]
    only_read = client.get("/console/messages/?state=read")
    assert [m.pk for m in only_read.context["page"]] == [read.pk]
    assert "安全告警" in page.content.decode()


def test_opening_a_message_marks_it_read(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    message = _send(user, "审核待办", link="/console/status/")
    response = client_for(user).get(f"/console/messages/{message.pk}/")
    assert response.status_code == 200
    assert "审核待办的内容" in response.content.decode()
    assert 'href="/console/status/"' in response.content.decode()
    message.refresh_from_db()
    assert message.read_at is not None
    assert _badge(response.content.decode()) == "0"


def test_unsafe_links_are_not_clickable(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    message = _send(user, "可疑链接", link="javascript:alert(1)")
    response = client_for(user).get(f"/console/messages/{message.pk}/")
    assert "javascript:" not in response.content.decode()


def test_marking_handled_greys_the_message_and_is_audited(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    message = _send(user, "审核待办")
    client = client_for(user)
    response = client.post(
        f"/console/messages/{message.pk}/handle/", {"next": "/console/messages/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/messages/"
    message.refresh_from_db()
    assert message.handled_by_id == user.pk
    assert message.read_at is not None
    page = client.get("/console/messages/").content.decode()
    assert f'id="message-{message.pk}" class="list-group-item message-row is-handled"' in page
    audit = AuditEntry.objects.get(action="messaging.message.handle")
    assert (audit.actor_id, audit.object_id) == (user.pk, str(message.pk))
    # Handling twice changes nothing and records nothing more.
    client.post(f"/console/messages/{message.pk}/handle/")
    assert AuditEntry.objects.filter(action="messaging.message.handle").count() == 1


def test_marking_handled_over_htmx_returns_the_greyed_row(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    message = _send(user, "审核待办")
    response = client_for(user).post(
        f"/console/messages/{message.pk}/handle/", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response["HX-Trigger"] == "messages-changed"
    assert html.strip().startswith(
        f'<div id="message-{message.pk}" class="list-group-item message-row is-handled"'
    )
    assert "标记已处理" not in html


def test_mark_all_read(make_staff: Any, client_for: Any) -> None:
    user = make_staff("alice")
    other = make_staff("bob")
    _send(user, "一")
    _send(user, "二")
    theirs = _send(other, "别人的")
    client_for(user).post("/console/messages/read-all/")
    assert Message.objects.filter(staff_user=user, read_at__isnull=True).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


# -- outsiders ---------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login_and_change_nothing(make_staff: Any) -> None:
    user = make_staff("alice")
    message = _send(user, "审核待办")
    client = Client()
    for method, path in [
        ("get", "/console/messages/"),
        ("get", "/console/messages/badge/"),
        ("get", f"/console/messages/{message.pk}/"),
        ("post", f"/console/messages/{message.pk}/handle/"),
        ("post", "/console/messages/read-all/"),
        ("get", "/console/messages/outbox/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/console/login/"), path
    message.refresh_from_db()
    assert (message.read_at, message.handled_at) == (None, None)


def test_another_staff_members_message_does_not_exist_for_you(
    make_staff: Any, client_for: Any
) -> None:
    owner = make_staff("alice")
    message = _send(owner, "仅限本人")
    intruder = client_for(make_staff("mallory", is_superuser=True))
    assert intruder.get(f"/console/messages/{message.pk}/").status_code == 404
    assert intruder.post(f"/console/messages/{message.pk}/handle/").status_code == 404
    listing = intruder.get("/console/messages/").content.decode()
    assert "仅限本人" not in listing
    assert _badge(listing) == "0"
    message.refresh_from_db()
    assert (message.read_at, message.handled_at) == (None, None)
    assert not AuditEntry.objects.filter(action="messaging.message.handle").exists()


# -- outbox console ----------------------------------------------------------------------


@pytest.fixture
def dead_entry(person: Any) -> OutboxEntry:
    resident = person("李四")
    notify(
        recipients=[ResidentRecipient(resident.pk)],
        title="申请已通过",
        body="",
        category="medical_records",
        wechat=WeChatPayload(kind="template", template_id="TPL-9", data={}),
    )
    entry = OutboxEntry.objects.get()
    OutboxEntry.objects.filter(pk=entry.pk).update(
        status="dead", attempts=6, last_error="-1 system error"
    )
    entry.refresh_from_db()
    return entry


def test_operators_see_dead_entries_with_their_reason(
    make_staff: Any, client_for: Any, dead_entry: OutboxEntry
) -> None:
    operator = make_staff("ops", permissions=("messaging.view_outboxentry",))
    response = client_for(operator).get("/console/messages/outbox/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="outbox-{dead_entry.pk}"' in html
    assert "-1 system error" in html
    assert "已放弃" in html
    # Viewing is not replaying: without that permission there is no button.
    assert "重新发送</button>" not in html


def test_replay_requires_its_own_permission_and_changes_nothing_without_it(
    make_staff: Any, client_for: Any, dead_entry: OutboxEntry
) -> None:
    viewer = client_for(make_staff("viewer", permissions=("messaging.view_outboxentry",)))
    clerk = client_for(make_staff("clerk"))
    assert clerk.get("/console/messages/outbox/").status_code == 403
    for client in (viewer, clerk):
        assert client.post(f"/console/messages/outbox/{dead_entry.pk}/replay/").status_code == 403
    dead_entry.refresh_from_db()
    assert (dead_entry.status, dead_entry.attempts) == ("dead", 6)


def test_an_institution_scoped_operator_is_refused(
    make_staff: Any, client_for: Any, dead_entry: OutboxEntry
) -> None:
    from jingan.core.institutions.models import Institution

    huashan = Institution.objects.unscoped().create(
        code="H01", name="华山医院", short_name="华山", kind="secondary_hospital"
    )
    local = make_staff(
        "local",
        permissions=("messaging.view_outboxentry", "messaging.replay_outboxentry"),
        institution=huashan,
    )
    client = client_for(local)
    assert client.get("/console/messages/outbox/").status_code == 403
    assert client.post(f"/console/messages/outbox/{dead_entry.pk}/replay/").status_code == 403
    dead_entry.refresh_from_db()
    assert dead_entry.status == "dead"


def test_replay_button_queues_the_entry_again(
    make_staff: Any,
    client_for: Any,
    dead_entry: OutboxEntry,
) -> None:
    operator = make_staff(
        "ops", permissions=("messaging.view_outboxentry", "messaging.replay_outboxentry")
    )
    client = client_for(operator)
    assert "重新发送</button>" in client.get("/console/messages/outbox/").content.decode()
    response = client.post(f"/console/messages/outbox/{dead_entry.pk}/replay/", follow=True)
    assert "已重新排队发送" in response.content.decode()
    dead_entry.refresh_from_db()
    # The test transaction never commits, so the entry waits as pending for its task.
    assert (dead_entry.status, dead_entry.attempts) == ("pending", 0)
    again = client.post(f"/console/messages/outbox/{dead_entry.pk}/replay/", follow=True)
    assert "只有“已放弃”的消息可以重新发送" in again.content.decode()
    assert client.post("/console/messages/outbox/999999/replay/").status_code == 404
