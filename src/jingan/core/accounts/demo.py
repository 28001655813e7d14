"""Demo staff accounts for the embedded demo (never loaded in production by default)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import Permission
from django.db import transaction

from jingan.core.accounts.models import User
from jingan.lib.demo import DemoAccount, DemoStep, Scale

DEMO_PASSWORD = "Jingan#Demo2026"

ACCOUNTS = [
    DemoAccount("系统管理员", "admin", DEMO_PASSWORD, "console", "全部功能"),
    DemoAccount("平台运维", "ops", DEMO_PASSWORD, "screen", "运行状态与运行态势大屏"),
]

_PERMISSIONS = {"ops": ["runtime.view_platform_status"]}
_NAMES = {"admin": "系统管理员", "ops": "平台运维"}


def _load_staff(scale: Scale, advance: Callable[[int], None]) -> None:
    for account in ACCOUNTS:
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username=account.username,
                defaults={
                    "display_name": _NAMES[account.username],
                    "is_staff": True,
                    "is_superuser": account.username == "admin",
                },
            )
            if created:
                user.set_password(account.password)
                user.save(update_fields=["password"])
            for dotted in _PERMISSIONS.get(account.username, []):
                app_label, codename = dotted.split(".")
                user.user_permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
        advance(1)


STEPS = [DemoStep("staff", "工作人员演示账号", lambda scale: len(ACCOUNTS), _load_staff)]
