"""Staff password policy (等保 8.1.4.1 a): length, classes, identity, blocklist, history.

ASVS 5.0 advises against composition rules and forced rotation; 等保三级 requires them
and wins here (see the security checklist, IA-2).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import password_validation as django_validation
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

MAX_AGE = timedelta(days=90)
HISTORY_DEPTH = 5
MIN_CLASSES = 3

_CLASSES = (
    ("大写字母", re.compile(r"[A-Z]")),
    ("小写字母", re.compile(r"[a-z]")),
    ("数字", re.compile(r"\d")),
    ("特殊字符", re.compile(r"[^A-Za-z0-9]")),
)
_BLOCKLIST_FILE = Path(__file__).parent / "data" / "common-passwords-cn.txt"


def _blocklist() -> frozenset[str]:
    lines = _BLOCKLIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


_BLOCKED = _blocklist()


class CharacterClassesValidator:
    """At least three of: upper case, lower case, digits, other characters."""

    def validate(self, password: str, user: Any = None) -> None:
        present = [name for name, pattern in _CLASSES if pattern.search(password)]
        if len(present) < MIN_CLASSES:
            raise ValidationError(
                "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类（当前仅含：%(present)s）。",
                code="password_too_simple",
                params={"present": "、".join(present) or "无"},
            )

    def get_help_text(self) -> str:
        return "须包含大写字母、小写字母、数字、特殊字符中的至少三类。"


class IdentityInPasswordValidator:
    """The username and the mobile number (or its last 8 digits) must not appear inside."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        lowered = password.lower()
        username = (getattr(user, "username", "") or "").lower()
        if len(username) >= 3 and username in lowered:
            raise ValidationError("密码中不能包含用户名。", code="password_contains_username")
        mobile = re.sub(r"\D", "", getattr(user, "mobile", "") or "")
        digits = re.sub(r"\D", "", password)
        if mobile and (mobile in digits or (len(mobile) >= 8 and mobile[-8:] in digits)):
            raise ValidationError("密码中不能包含手机号。", code="password_contains_mobile")

    def get_help_text(self) -> str:
        return "不能包含用户名或手机号。"


class ChineseCommonPasswordValidator:
    """Common passwords of Chinese breach corpora that pass the composition rules."""

    def validate(self, password: str, user: Any = None) -> None:
        if password.lower() in _BLOCKED:
            raise ValidationError(
                "该密码过于常见，容易被猜中，请换一个。", code="password_too_common"
            )

    def get_help_text(self) -> str:
        return "不能使用常见密码。"


class PasswordHistoryValidator:
    """Not the current password nor any of the previous five."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None or user.pk is None:
            return
        hashes = [
            user.password,
            *user.password_history.values_list("password", flat=True)[:HISTORY_DEPTH],
        ]
        if any(encoded and check_password(password, encoded) for encoded in hashes):
            raise ValidationError(
                "新密码不能与最近 %(depth)d 次使用过的密码相同。",
                code="password_reused",
                params={"depth": HISTORY_DEPTH},
            )

    def get_help_text(self) -> str:
        return f"不能与最近 {HISTORY_DEPTH} 次使用过的密码相同。"


# Django's own validators, with messages written for our users (Django 5.2's wording of
# some is not translated into Chinese).


class MinimumLengthValidator(django_validation.MinimumLengthValidator):
    def get_error_message(self) -> str:
        return f"密码长度太短。密码必须包含至少 {self.min_length} 个字符。"

    def get_help_text(self) -> str:
        return f"至少 {self.min_length} 个字符。"


class UserAttributeSimilarityValidator(django_validation.UserAttributeSimilarityValidator):
    def get_error_message(self) -> str:
        return "密码与%(verbose_name)s过于相似。"

    def get_help_text(self) -> str:
        return "不能与账号信息过于相似。"


class CommonPasswordValidator(django_validation.CommonPasswordValidator):
    def get_error_message(self) -> str:
        return "该密码过于常见，容易被猜中，请换一个。"

    def get_help_text(self) -> str:
        return "不能使用常见密码。"


class NumericPasswordValidator(django_validation.NumericPasswordValidator):
    def get_error_message(self) -> str:
        return "密码不能全部为数字。"

    def get_help_text(self) -> str:
        return "不能全部为数字。"
