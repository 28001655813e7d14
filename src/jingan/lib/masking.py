"""One masking module for pages, logs, exports and messages (GB/T 35273 §7.2 style).

- ID numbers keep the 3-digit province/city prefix and the last 4: ``110***********123X``;
- mobiles keep the first 3 and last 4: ``138****1234``;
- names keep the surname (the first character; two for the common compound surnames):
  ``张*``, ``欧阳**``;
- addresses keep the district-level prefix and hide the street and number.

``mask_text`` finds ID numbers and mobiles inside free text (log lines, JSON details)
and ``MaskingFilter`` applies it to every log record.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# 18-digit resident ID (GB 11643) or the legacy 15-digit form, not inside a longer number.
_ID_18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_ID_15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")
# Mainland mobile, optionally with +86/86 in front.
_MOBILE_PATTERN = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")

_COMPOUND_SURNAMES = frozenset(
    "欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫 "
    "宗政 濮阳 公冶 太叔 申屠 公孙 慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官 "
    "司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 轩辕 令狐 段干 百里 呼延 "
    "东郭 南门 羊舌 微生 公户 公玉 公仪 梁丘 公仲 公上 公门 公山 公坚 左丘 公伯 西门 公祖 "
    "第五 公乘 贯丘 公皙 南荣 东里 东宫 仲长 子书 子桑 即墨 达奚 褚师".split()
)
# Where an address stops being coarse: after the district/county marker, else the city.
_ADDRESS_CUTS = (re.compile(r"^(.{0,12}?(?:区|县|旗))"), re.compile(r"^(.{0,8}?市)"))


def mask_id_number(value: str | None) -> str:
    """``110101199003071234`` → ``110***********1234``; anything else is fully hidden."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) in (15, 18):
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    return "*" * len(text)


def mask_mobile(value: str | None) -> str:
    """``13812341234`` → ``138****1234`` (a +86 prefix is dropped)."""
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if not digits:
        return ""
    return "*" * len(digits)


def mask_name(value: str | None) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧阳**``; one-character names stay as ``*``."""
    text = (value or "").strip()
    if not text:
        return ""
    keep = 2 if text[:2] in _COMPOUND_SURNAMES and len(text) > 2 else 1
    if len(text) == 1:
        return "*"
    return text[:keep] + "*" * (len(text) - keep)


def mask_address(value: str | None) -> str:
    """``上海市静安区武定路 1 号 301 室`` → ``上海市静安区****``."""
    text = (value or "").strip()
    if not text:
        return ""
    matches = (cut.match(text) for cut in _ADDRESS_CUTS)
    match = next((found for found in matches if found), None)
    prefix = match.group(1) if match else text[:3]
    if len(prefix) >= len(text):
        prefix = text[: max(1, len(text) // 2)]
    return prefix + "****"


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found anywhere in ``text``."""
    if not text:
        return text
    text = _ID_18.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _ID_15.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE_PATTERN.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_value(value: Any) -> Any:
    """``mask_text`` applied through strings, lists and dicts (e.g. an audit detail)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(item) for item in value)
    return value


class MaskingFilter(logging.Filter):
    """Masks ID numbers and mobiles in every record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
