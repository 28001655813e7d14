from __future__ import annotations

from typing import Any

from django.test import Client

from jingan.core.messaging.contracts import ResidentRecipient
from jingan.core.messaging.models import Message
from jingan.core.messaging.services import notify


def _send(resident: Any, title: str) -> Message:
    [pk] = notify(
        recipients=[ResidentRecipient(resident.pk)],
        title=title,
        body=f"{title}：请按时到院取件",
        category="medical_records",
    )
    return Message.objects.get(pk=pk)


def test_residents_see_their_messages_with_an_unread_badge(
    person: Any, resident_client: Any
) -> None:
    resident = person("王小明")
    first = _send(resident, "申请已受理")
    second = _send(resident, "复印件已寄出")
    client = resident_client(resident)
    page = client.get("/h5/messages/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "2 条未读" in html
    assert [m.pk for m in page.context["page"]] == [second.pk, first.pk]

    detail = client.get(f"/h5/messages/{first.pk}/")
    assert "申请已受理：请按时到院取件" in detail.content.decode()
    first.refresh_from_db()
    assert first.read_at is not None
    assert "1 条未读" in client.get("/h5/messages/").content.decode()

    client.post(f"/h5/messages/{first.pk}/handle/")
    first.refresh_from_db()
    assert first.handled_at is not None
    assert first.handled_by_id is None


def test_a_resident_cannot_see_or_touch_another_residents_message(
    person: Any, resident_client: Any
) -> None:
    owner = person("王小明")
    other = person("李四")
    message = _send(owner, "仅限本人")
    client = resident_client(other)
    assert client.get(f"/h5/messages/{message.pk}/").status_code == 404
    assert client.post(f"/h5/messages/{message.pk}/handle/").status_code == 404
    assert "仅限本人" not in client.get("/h5/messages/").content.decode()
    message.refresh_from_db()
    assert (message.read_at, message.handled_at) == (None, None)


def test_anonymous_visitors_are_sent_to_sign_in(person: Any) -> None:
    message = _send(person("王小明"), "仅限本人")
    client = Client()
    for path in ("/h5/messages/", f"/h5/messages/{message.pk}/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "仅限本人" not in response.content.decode()
    assert client.post(f"/h5/messages/{message.pk}/handle/").status_code in (302, 403)
    message.refresh_from_db()
    assert (message.read_at, message.handled_at) == (None, None)
