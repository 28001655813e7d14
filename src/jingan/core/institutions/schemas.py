"""JSON shapes of the institutions API (HIS department sync)."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema

DepartmentCategoryCode = Literal["outpatient", "inpatient", "medical_technology", "administrative"]


class DepartmentSyncItem(Schema):
    code: str = Field(min_length=1, max_length=32, description="科室编码，在本机构内唯一")
    name: str = Field(min_length=1, max_length=100, description="科室名称")
    category: DepartmentCategoryCode = Field(
        description="科室类别：outpatient 门诊、inpatient 住院、medical_technology 医技、administrative 行政"
    )
    has_inpatient: bool = Field(default=False, description="是否设有住院病区")


class DepartmentSync(Schema):
    """The institution's complete current department list, as its HIS knows it."""

    departments: list[DepartmentSyncItem] = Field(max_length=5000)


class BlockerRead(Schema):
    title: str
    count: int


class KeptActiveRead(Schema):
    code: str
    blockers: list[BlockerRead]


class DepartmentSyncRead(Schema):
    institution_code: str
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    deactivated: list[str]
    kept_active: list[KeptActiveRead] = Field(
        description="HIS 未再上报、但仍有未完结工作而保持启用的科室"
    )


class InstitutionErrorRead(Schema):
    code: str
    message: str
