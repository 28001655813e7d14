"""Medical institutions of the district and their departments (MR-A7)."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models

from jingan.core.access.scoping import ScopedManager

CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    "编码只能包含字母、数字、点、下划线和连字符，且以字母或数字开头",
)


class InstitutionKind(models.TextChoices):
    SECONDARY_HOSPITAL = "secondary_hospital", "二级医院"
    SPECIALIST = "specialist", "专科"
    REHABILITATION = "rehabilitation", "康复"
    COMMUNITY_HEALTH_CENTRE = "community_health_centre", "社区卫生服务中心"
    STATION = "station", "站所"


class HisDialect(models.TextChoices):
    """How the institution's HIS talks to the platform; one adapter per dialect."""

    HL7_MLLP = "A", "A · HL7 v2.5（MLLP）"
    REST_JSON_PUSH = "B", "B · REST/JSON 推送"
    INTERCONNECTION_WEB_SERVICE = "C", "C · 互联互通 Web Service（SOAP）"
    DATABASE_VIEWS = "D", "D · 数据库视图"


class Institution(models.Model):
    """A medical institution of the district, the unit of data scope."""

    code = models.CharField("机构编码", max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField("机构名称", max_length=100, unique=True)
    short_name = models.CharField("简称", max_length=50, blank=True)
    kind = models.CharField("机构类型", max_length=32, choices=InstitutionKind.choices)
    has_inpatient = models.BooleanField("开展住院业务", default=False)
    his_dialect = models.CharField(
        "HIS 接口方式", max_length=1, choices=HisDialect.choices, default=HisDialect.REST_JSON_PUSH
    )
    address = models.CharField("地址", max_length=200, blank=True)
    # The public switchboard, not a person's number: stored in clear on purpose.
    phone = models.CharField("总机电话", max_length=40, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "pk"

    class Meta:
        ordering = ["code"]
        verbose_name = "医疗机构"
        verbose_name_plural = "医疗机构"

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.short_name or self.name


class DepartmentCategory(models.TextChoices):
    OUTPATIENT = "outpatient", "门诊"
    INPATIENT = "inpatient", "住院"
    MEDICAL_TECHNOLOGY = "medical_technology", "医技"
    ADMINISTRATIVE = "administrative", "行政"


class Department(models.Model):
    """A department (科室) of one institution; its code is unique within the institution."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="departments", verbose_name="所属机构"
    )
    code = models.CharField("科室编码", max_length=32, validators=[CODE_VALIDATOR])
    name = models.CharField("科室名称", max_length=100)
    category = models.CharField("科室类别", max_length=32, choices=DepartmentCategory.choices)
    has_inpatient = models.BooleanField("设有住院病区", default=False)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects: ClassVar[ScopedManager] = ScopedManager()
    scope_field = "institution"

    class Meta:
        ordering = ["institution__code", "code"]
        verbose_name = "科室"
        verbose_name_plural = "科室"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "code"], name="institutions_department_code_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name
