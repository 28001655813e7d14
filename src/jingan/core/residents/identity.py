"""Resident identity card numbers (GB 11643-1999) checked with python-stdnum, in Chinese."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.utils import timezone
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from jingan.core.crypto.fields import normalize_id_number

NAME_PATTERN = re.compile(r"^[\u4e00-\u9fff·•]{2,30}$|^[A-Za-z][A-Za-z .·-]{1,59}$")


class InvalidIdNumber(ValueError):
    """The number is not a valid resident ID; the message is shown to the resident."""


@dataclass(frozen=True)
class IdFacts:
    """What the ID number itself says about its holder."""

    id_number: str
    birth_date: date
    sex: str  # "M" or "F"


def check_id_number(value: str, *, today: date | None = None) -> IdFacts:
    """Validate an 18-digit ID number: format, check digit, birth date, region code."""
    number = normalize_id_number(value or "")
    if not number:
        raise InvalidIdNumber("请填写身份证号")
    if (
        len(number) != 18
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise InvalidIdNumber("身份证号应为 18 位，前 17 位为数字，最后一位为数字或 X")
    if number[17] != ric.calc_check_digit(number):
        raise InvalidIdNumber("身份证号校验位不正确")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        raise InvalidIdNumber("出生日期无效") from None
    if birth > (today or timezone.localdate()) or birth.year < 1900:
        raise InvalidIdNumber("出生日期无效")
    try:
        ric.get_birth_place(number)
    except ValidationError:
        raise InvalidIdNumber("地区码不存在") from None
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return IdFacts(id_number=number, birth_date=birth, sex=sex)


def check_name(value: str) -> str:
    """A legal name as on the ID card: Chinese characters (with ·) or Latin letters."""
    name = " ".join((value or "").split())
    if not name:
        raise ValueError("请填写姓名")
    if not NAME_PATTERN.match(name):
        raise ValueError("请填写与身份证一致的姓名")
    return name
