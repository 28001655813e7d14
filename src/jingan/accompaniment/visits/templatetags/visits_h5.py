"""Filters of the resident visit pages: times carried as ISO text in the folded state, and
who booked an appointment (a person's name is masked, a role word is not)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from django import template
from django.utils import timezone

from jingan.lib.masking import mask_name

register = template.Library()

# What HIS systems put in "booked by" when it is not a person.
_ROLE_WORDS = frozenset(
    "本人 患者本人 家属 监护人 代理人 家庭医生 社区医生 签约医生 医生 护士 窗口 挂号窗口 "
    "自助机 客服 健康静安 公众号 医院 转诊".split()
)
# "王小明（家属）", "王小明(家属)": a name with the relation in brackets.
_NAME_WITH_ROLE = re.compile(r"^(?P<name>[^（(]+)[（(](?P<role>[^）)]+)[）)]$")


@register.filter
def visit_time(value: Any, style: str = "full") -> str:
    """An ISO time of the state as the resident reads it: ``2026-11-26 09:30`` (local time).

    ``style="short"``: ``11-26 09:30``; ``"time"``: ``09:30``. A date alone stays a date;
    text that is not a time is shown as it came.
    """
    if value in (None, ""):
        return ""
    moment: datetime | date
    if isinstance(value, datetime | date):
        moment = value
    else:
        text = str(value)
        try:
            # A date alone first: datetime.fromisoformat would read it as midnight.
            moment = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            return text
    if not isinstance(moment, datetime):
        return moment.strftime("%m-%d" if style == "short" else "%Y-%m-%d")
    if moment.tzinfo is not None:
        moment = timezone.localtime(moment)
    if style == "short":
        return moment.strftime("%m-%d %H:%M")
    if style == "time":
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


@register.filter
def booker(value: Any) -> str:
    """``家属`` stays; ``王小明`` → ``王**``; ``王小明（家属）`` → ``王**（家属）``."""
    text = str(value or "").strip()
    if not text or text in _ROLE_WORDS:
        return text
    match = _NAME_WITH_ROLE.match(text)
    if match:
        name = match.group("name").strip()
        shown = name if name in _ROLE_WORDS else mask_name(name)
        return f"{shown}（{match.group('role').strip()}）"
    return mask_name(text)
