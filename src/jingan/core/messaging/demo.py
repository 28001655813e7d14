"""Demo messages so the message centre is not empty on a fresh demo (idempotent by key)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model

from jingan.core.messaging.contracts import ResidentRecipient, StaffRecipient
from jingan.core.messaging.services import notify
from jingan.lib.demo import DemoStep, Scale

_STAFF_MESSAGES = [
    (
        "welcome",
        "system",
        "欢迎使用健康静安 · 便捷就医 3.0 工作人员控制台",
        "本控制台汇集病案复印审核、电子处方、机构与权限维护及运营监管。"
        "右上角铃铛显示未读消息数；处理完毕的消息可“标记已处理”，之后以灰色显示。",
        "/console/",
    ),
    (
        "security-guide",
        "security",
        "请妥善保管登录密码与动态口令",
        "登录需要密码和动态口令两步验证；连续多次输错将临时锁定账号。"
        "如发现异常登录，请立即联系安全管理员。",
        "",
    ),
    (
        "outbox-guide",
        "system",
        "微信推送失败时会自动重试",
        "居民的公众号通知在业务提交后发送；可重试的错误按递增间隔自动重试，"
        "多次失败后进入“消息外发队列”，由运维人员核实后重新发送。",
        "/console/messages/outbox/",
    ),
]

_RESIDENT_MESSAGE = (
    "欢迎使用健康静安 · 便捷就医",
    "您可以在这里查看病案复印申请进度、审核结果和就医提醒；"
    "重要通知也会同步推送到“健康静安”公众号。",
)


def _residents() -> list[int]:
    from jingan.core.residents.models import Resident

    return list(Resident.objects.order_by("pk").values_list("pk", flat=True))


def _size(scale: Scale) -> int:
    return get_user_model().objects.filter(is_staff=True).count() + len(_residents())


def _load(scale: Scale, advance: Callable[[int], None]) -> None:
    for user_id in get_user_model().objects.filter(is_staff=True).values_list("pk", flat=True):
        for key, category, title, body, link in _STAFF_MESSAGES:
            notify(
                recipients=[StaffRecipient(user_id)],
                title=title,
                body=body,
                category=category,
                link=link,
                dedup_key=f"demo:{key}",
            )
        advance(1)
    title, body = _RESIDENT_MESSAGE
    for resident_id in _residents():
        notify(
            recipients=[ResidentRecipient(resident_id)],
            title=title,
            body=body,
            category="system",
            link="/h5/",
            dedup_key="demo:welcome",
        )
        advance(1)


STEPS = [DemoStep("messages", "消息中心演示消息", _size, _load)]
