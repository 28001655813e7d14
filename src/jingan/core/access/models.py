"""Roles as data: function permissions plus a data scope, every row MAC-protected (CR-5).

A ``Role`` bundles Django permissions (``RolePermission`` rows) and says whether it is
granted district-wide or per institution. A ``RoleAssignment`` gives one user one role,
for one institution or (``institution`` empty) the whole district. Both kinds of row
carry an HMAC-SM3 over their meaning; a row whose MAC does not match (changed in SQL)
grants nothing and raises an alert.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models


class Duty(models.TextChoices):
    """三权分立: the three administrator duties never combine, and none mixes with business."""

    SYSTEM = "system", "系统管理"
    SECURITY = "security", "安全管理"
    AUDIT = "audit", "安全审计"
    BUSINESS = "business", "业务"


class ScopeKind(models.TextChoices):
    DISTRICT = "district", "全区"
    INSTITUTION = "institution", "指定机构"


class Role(models.Model):
    """A named bundle of function permissions with its kind of data scope."""

    code = models.SlugField("角色编码", max_length=64, unique=True)
    name = models.CharField("角色名称", max_length=64, unique=True)
    description = models.CharField("说明", max_length=255, blank=True)
    duty = models.CharField("职责类别", max_length=16, choices=Duty.choices)
    scope_kind = models.CharField("数据范围", max_length=16, choices=ScopeKind.choices)
    is_builtin = models.BooleanField("内置角色", default=False)
    permissions = models.ManyToManyField(
        Permission, through="RolePermission", related_name="+", verbose_name="功能权限"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "角色"
        verbose_name_plural = "角色"
        ordering = ["duty", "code"]
        permissions = [("assign_role", "授予与收回角色")]

    def __str__(self) -> str:
        return self.name


class RolePermission(models.Model):
    """One function permission of one role, MAC-protected."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="grants")
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")
    mac = models.CharField(max_length=96)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "角色权限"
        verbose_name_plural = "角色权限"
        constraints = [
            models.UniqueConstraint(fields=["role", "permission"], name="access_role_permission")
        ]

    def __str__(self) -> str:
        return f"{self.role_id}:{self.permission_id}"

    @staticmethod
    def canonical(role_code: str, permission_label: str) -> bytes:
        return f"role-permission|{role_code}|{permission_label}".encode()


class RoleAssignment(models.Model):
    """One role held by one staff member, for one institution or the whole district."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    institution = models.ForeignKey(
        "institutions.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="role_assignments",
        verbose_name="机构",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    mac = models.CharField(max_length=96)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "角色授权"
        verbose_name_plural = "角色授权"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "institution"], name="access_assignment_per_institution"
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(institution__isnull=True),
                name="access_assignment_district",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role_id}@{self.institution_id or '*'}"

    @staticmethod
    def scope_lookup(institution_id: int | None) -> dict[str, object]:
        """Filter arguments for one scope: an institution, or district-wide (no institution)."""
        if institution_id is None:
            return {"institution__isnull": True}
        return {"institution_id": institution_id}

    @staticmethod
    def canonical(user_id: int, username: str, role_code: str, institution_id: int | None) -> bytes:
        scope = "*" if institution_id is None else str(institution_id)
        return f"role-assignment|{user_id}|{username}|{role_code}|{scope}".encode()
