from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.messaging.contracts import ResidentRecipient, StaffRecipient
from jingan.core.messaging.models import Message
from jingan.core.messaging.services import notify
from jingan.testing.browser import DESKTOP, PHONE, screenshot

pytestmark = [pytest.mark.browser]


def _signed_in(page: Any, client: Any, base_url: str) -> None:
    """Carry a test client's session (second factor satisfied) into the browser."""
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": base_url}
            for name, morsel in client.cookies.items()
        ]
    )


@pytest.mark.req("MR-A6")
def test_staff_sees_the_count_opens_a_message_and_marks_it_handled(
    live_server_url: str, open_page: Callable[..., Any], make_staff: Any, client_for: Any
) -> None:
    user = make_staff("alice", permissions=("runtime.view_platform_status",))
    for title, category in [
        ("华山医院病案复印申请待审核（3 份）", "medical_records"),
        ("角色权限完整性校验通过", "security"),
        ("微信推送多次失败，请核实", "system"),
    ]:
        notify(
            recipients=[StaffRecipient(user.pk)],
            title=title,
            body=f"{title}。请在工作时间内处理。",
            category=category,
        )
    target = Message.objects.get(title__startswith="华山医院")
    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(user), live_server_url)

    page.goto(live_server_url + "/console/status/")
    badge = page.locator("#message-badge")
    assert badge.get_attribute("data-unread") == "3"
    assert badge.locator(".badge").inner_text() == "3"

    badge.click()
    page.wait_for_url(live_server_url + "/console/messages/")
    screenshot(page, "messaging-inbox")
    page.get_by_label("类别").select_option("security")
    page.wait_for_url(live_server_url + "/console/messages/?category=security")
    assert page.locator(".message-row").count() == 1
    page.goto(live_server_url + "/console/messages/")
    page.get_by_role("link", name="华山医院病案复印申请待审核（3 份）").click()
    page.wait_for_url(f"{live_server_url}/console/messages/{target.pk}/?next=**")
    assert page.locator("#message-badge").get_attribute("data-unread") == "2"
    assert page.get_by_text("待处理", exact=True).count() == 1
    screenshot(page, "messaging-message")

    page.get_by_role("button", name="标记已处理").click()
    page.wait_for_url(live_server_url + "/console/messages/")
    row = page.locator(f"#message-{target.pk}")
    assert "is-handled" in (row.get_attribute("class") or "")
    assert row.get_by_text("已处理", exact=True).count() == 1
    grey = row.locator(".message-row__title").evaluate("e => getComputedStyle(e).color")
    assert grey == "rgb(154, 165, 181)"
    screenshot(page, "messaging-inbox-handled")

    # The other two rows can be handled in place over HTMX; the badge follows at once.
    other = Message.objects.get(title__startswith="角色权限")
    page.locator(f"#message-{other.pk}").get_by_role("button", name="标记已处理").click()
    page.locator(f"#message-{other.pk}.is-handled").wait_for()
    page.wait_for_function("() => document.querySelector('#message-badge').dataset.unread === '1'")
    assert problems.errors == []


def test_resident_reads_a_message_on_a_phone(
    live_server_url: str,
    open_page: Callable[..., Any],
    person: Any,
    resident_client: Any,
) -> None:
    resident = person("王小明")
    for title in ("您的病案复印申请已受理", "复印件已由邮政寄出"):
        notify(
            recipients=[ResidentRecipient(resident.pk)],
            title=title,
            body=f"{title}。如有疑问请致电医院病案室。",
            category="medical_records",
        )
    page, problems = open_page(**PHONE)
    _signed_in(page, resident_client(resident), live_server_url)
    page.goto(live_server_url + "/h5/messages/")
    assert page.get_by_text("2 条未读").count() == 1
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375
    screenshot(page, "messaging-h5-inbox")
    page.get_by_text("您的病案复印申请已受理").click()
    screenshot(page, "messaging-h5-message")
    page.get_by_role("button", name="标记已处理").click()
    page.get_by_text("返回消息列表").click()
    assert page.get_by_text("1 条未读").count() == 1
    screenshot(page, "messaging-h5-inbox-after")
    assert problems.errors == []


def test_operator_replays_a_dead_push_from_the_outbox(
    live_server_url: str,
    open_page: Callable[..., Any],
    make_staff: Any,
    client_for: Any,
    follower: Any,
    wechat: Any,
) -> None:
    from jingan.core.messaging.contracts import WeChatPayload
    from jingan.core.messaging.models import OutboxEntry

    operator = make_staff(
        "ops", permissions=("messaging.view_outboxentry", "messaging.replay_outboxentry")
    )
    wechat.inject_faults(1, errcode=48001, errmsg="api unauthorized")
    notify(
        recipients=[ResidentRecipient(follower.pk)],
        title="病案复印申请审核通过",
        body="",
        category="medical_records",
        wechat=WeChatPayload(
            kind="template", template_id="TPL-APPROVED", data={"first": "审核通过"}
        ),
    )
    # Committed and delivered inline at once: 48001 is permanent, so the entry is dead.
    entry = OutboxEntry.objects.get()
    assert (entry.status, entry.attempts) == ("dead", 1)

    page, problems = open_page(**DESKTOP)
    _signed_in(page, client_for(operator), live_server_url)
    page.goto(live_server_url + "/console/messages/outbox/")
    row = page.locator(f"#outbox-{entry.pk}")
    assert "48001 api unauthorized" in row.inner_text()
    screenshot(page, "messaging-outbox")
    row.get_by_role("button", name="重新发送").click()
    page.get_by_text(f"已重新排队发送（编号 {entry.pk}）").wait_for()
    entry.refresh_from_db()
    assert entry.status == "sent"
    assert [m.template_id for m in wechat.messages(follower.openid)] == ["TPL-APPROVED"]
    assert problems.errors == []
