"""The words of a visit's notifications (VA-14): one message per transition."""

from __future__ import annotations

from typing import Any

from jingan.integrations.his.port import status_label


def _text(value: Any) -> str:
    return str(value) if value not in (None, "") else ""


def notification_text(
    *, node: str, status: str, node_title: str, details: dict[str, Any], visit: dict[str, Any]
) -> tuple[str, str]:
    """``(title, body)`` of the message for ``node`` reaching ``status``."""
    label = status_label(node, status)
    title = f"{node_title}：{label}"
    department = _text(visit.get("department_name") or details.get("department_name"))
    item = _text(details.get("item_name"))
    lines: list[str] = []
    if node == "appointment":
        when = _text(details.get("appointment_time")).replace("T", " ")[:16]
        lines.append(f"{department} {when}".strip())
    elif node == "registration":
        if status == "unpaid":
            lines.append(f"{department}挂号费 {_text(details.get('fee'))} 元待支付".strip())
        elif status == "registered":
            lines.append(f"{department}挂号成功".strip())
    elif node == "check_in":
        lines.append(f"已在{_text(details.get('location')) or department}签到")
    elif node == "waiting":
        if status == "waiting" and details.get("ahead") is not None:
            lines.append(f"您前面还有 {details.get('ahead')} 人")
        elif status == "called":
            lines.append(f"请到{_text(details.get('room')) or '诊室'}就诊")
        elif status == "passed":
            lines.append("您已过号，请到分诊台重新排队")
    elif node == "consultation" and status == "finished":
        count = len(details.get("prescriptions") or [])
        lines.append(f"本次就诊已结束，开具处方 {count} 张" if count else "本次就诊已结束")
    elif node == "payment":
        total = _text(details.get("total") or details.get("amount"))
        lines.append(f"{item or '费用'} {total} 元".strip())
    elif node == "lab_exam":
        if status == "ordered":
            lines.append(f"请到{_text(details.get('location')) or '检查科室'}做{item or '检查'}")
        else:
            lines.append(f"{item or '检查'}报告已出，可在就诊页面查看")
    elif node == "pharmacy":
        if status == "ready":
            lines.append(
                f"请到{_text(details.get('window')) or '药房'}取药，取药码 {_text(details.get('pickup_code'))}"
            )
        else:
            lines.append("药品已发放")
    elif node == "follow_up":
        lines.append("医生邀请您填写诊后随访问卷")
    return title, "；".join(line for line in lines if line)
