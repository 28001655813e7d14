"""Data dictionary (code lists) and per-institution settings (MR-A8)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from jingan.core.access.scoping import ScopedManager
from jingan.core.institutions.models import Institution

CATEGORY_CODE_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]*$", "分类编码只能包含小写字母、数字和下划线，且以字母开头"
)
ENTRY_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "条目编码只能包含字母、数字、点、下划线和连字符"
)


class DictionaryCategory(models.Model):
    """A code list, e.g. 性别 (GB/T 2261.1); system lists ship with the platform."""

    code = models.CharField(
        "分类编码", max_length=64, unique=True, validators=[CATEGORY_CODE_VALIDATOR]
    )
    name = models.CharField("分类名称", max_length=64, unique=True)
    description = models.CharField("说明", max_length=255, blank=True)
    is_system = models.BooleanField("系统内置", default=False, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "字典分类"
        verbose_name_plural = "字典分类"

    def __str__(self) -> str:
        return self.name


class DictionaryEntry(models.Model):
    """One code of a code list; system entries are disabled, never deleted."""

    category = models.ForeignKey(
        DictionaryCategory, on_delete=models.CASCADE, related_name="entries", verbose_name="分类"
    )
    code = models.CharField("条目编码", max_length=32, validators=[ENTRY_CODE_VALIDATOR])
    label = models.CharField("名称", max_length=100)
    sort_order = models.PositiveIntegerField("排序", default=0)
    is_active = models.BooleanField("启用", default=True)
    is_system = models.BooleanField("系统内置", default=False, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["category__code", "sort_order", "code"]
        verbose_name = "字典条目"
        verbose_name_plural = "字典条目"
        constraints = [
            models.UniqueConstraint(
                fields=["category", "code"], name="dictionary_entry_code_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class InstitutionSetting(models.Model):
    """One institution's chosen value of a declared setting (see ``jingan.lib.settings_spec``)."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="settings", verbose_name="机构"
    )
    key = models.CharField("参数", max_length=100)
    value = models.JSONField("取值")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="修改人",
    )
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["institution__code", "key"]
        verbose_name = "机构参数"
        verbose_name_plural = "机构参数"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "key"], name="dictionary_institution_setting_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}:{self.key}"
