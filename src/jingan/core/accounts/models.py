"""Staff accounts. Residents log in through WeChat and are modelled in ``core.residents``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from jingan.core.crypto.fields import EncryptedModel, EncryptedTextField

LOCKOUT_THRESHOLD = 5
LOCKOUT_DURATION = timedelta(minutes=30)


class User(EncryptedModel, AbstractUser):
    """A staff member of the district, an institution or the operator."""

    display_name = models.CharField("显示名", max_length=64, blank=True)
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name="所属机构",
    )
    department = models.ForeignKey(
        "institutions.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name="所属科室",
    )
    mobile = EncryptedTextField("手机号", blank=True)
    must_change_password = models.BooleanField("下次登录须修改密码", default=True)
    password_changed_at = models.DateTimeField("密码修改时间", null=True, blank=True)
    failed_login_count = models.PositiveSmallIntegerField("连续登录失败次数", default=0)
    locked_until = models.DateTimeField("锁定至", null=True, blank=True)
    totp_secret = EncryptedTextField("动态口令密钥", blank=True)
    totp_confirmed_at = models.DateTimeField("动态口令绑定时间", null=True, blank=True)
    totp_last_step = models.BigIntegerField("最近使用的口令时间片", default=0)
    disabled_reason = models.CharField("停用原因", max_length=255, blank=True)

    class Meta:
        verbose_name = "工作人员"
        verbose_name_plural = "工作人员"
        permissions = [("unlock_user", "解锁账号与重置动态口令")]

    def __str__(self) -> str:
        return self.display_name or self.username

    # Superuser status grants nothing by itself: permissions come only from roles.
    def has_perm(self, perm: str, obj: Any = None) -> bool:
        # Django's private helper that asks every backend; not in the type stubs.
        from django.contrib.auth.models import _user_has_perm  # type: ignore[attr-defined]

        return self.is_active and _user_has_perm(self, perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        from django.contrib.auth.models import (  # type: ignore[attr-defined]
            _user_has_module_perms,
        )

        return self.is_active and _user_has_module_perms(self, app_label)

    def is_locked(self, now: Any = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())

    @property
    def has_totp(self) -> bool:
        return self.totp_confirmed_at is not None and bool(self.totp_secret)

    def password_expired(self, now: Any = None) -> bool:
        from jingan.core.accounts.passwords import MAX_AGE

        if self.password_changed_at is None:
            return True
        return (now or timezone.now()) - self.password_changed_at > MAX_AGE


class PasswordHistory(models.Model):
    """Earlier password hashes, so a change cannot go back to a recent one."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Bookkeeping, never granted to anyone: no permissions to offer in the role matrix.
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.created_at:%Y-%m-%d}"


class StaffSession(models.Model):
    """A signed-in staff session, so it can be listed and ended (disable, password change)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="staff_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user_id} from {self.ip or '-'}"
