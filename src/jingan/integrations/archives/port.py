"""What the platform needs from an inpatient institution's record archive (病案归档系统).

The wire format of one archived admission is ``ArchivePayload``: the same JSON whether
the institution pushes it to the platform's signed API or the platform pulls it from
``GET /archive/v1/{institution_code}/admissions``. Validation failures are described in
Chinese, field by field, so a rejected payload says exactly what the sender must fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from stdnum.cn import ric

# ICD-10 as used in China (GB/T 14396): a letter, two digits, optional ".<1-4 alnum>".
ICD10_PATTERN = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
SM3_PATTERN = re.compile(r"^[0-9a-f]{64}$")
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)


class PatientPayload(_Strict):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)

    @field_validator("id_number")
    @classmethod
    def _valid_id_number(cls, value: str) -> str:
        value = value.upper()
        if not ric.is_valid(value):
            raise ValueError("不是有效的 18 位居民身份证号（校验位不符或出生日期无效）")
        return value


class DepartmentPayload(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)


class DiagnosisPayload(_Strict):
    code: str = Field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=200)

    @field_validator("code")
    @classmethod
    def _icd10(cls, value: str) -> str:
        value = value.upper()
        if not ICD10_PATTERN.fullmatch(value):
            raise ValueError(f"“{value}”不是 ICD-10 编码（例如 I10、E11.9）")
        return value


class SectionPayload(_Strict):
    code: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=100)
    page_count: int = Field(ge=1, le=2000)
    document_ref: str = Field(min_length=1, max_length=128)
    document_sm3: str

    @field_validator("document_ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not REF_PATTERN.fullmatch(value):
            raise ValueError("只能包含字母、数字、点、下划线和连字符")
        return value

    @field_validator("document_sm3")
    @classmethod
    def _digest(cls, value: str) -> str:
        value = value.lower()
        if not SM3_PATTERN.fullmatch(value):
            raise ValueError("应为 64 位十六进制 SM3 摘要")
        return value


class ArchivePayload(_Strict):
    """One archived inpatient admission with its record sections (the wire contract)."""

    institution_code: str = Field(min_length=1, max_length=32)
    admission_no: str = Field(min_length=1, max_length=64)
    patient: PatientPayload
    admitted_on: date
    discharged_on: date
    department: DepartmentPayload
    diagnoses: list[DiagnosisPayload] = Field(min_length=1)
    archived_at: datetime
    sections: list[SectionPayload] = Field(min_length=1)

    @field_validator("archived_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("须带时区，例如 2025-03-01T10:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ArchivePayload:
        if self.discharged_on < self.admitted_on:
            raise ValueError(f"出院日期 {self.discharged_on} 早于入院日期 {self.admitted_on}")
        if self.archived_at.date() < self.discharged_on:
            raise ValueError(
                f"归档时间 {self.archived_at.date()} 早于出院日期 {self.discharged_on}"
            )
        codes = [section.code for section in self.sections]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"病案组成部分重复：{'、'.join(duplicates)}")
        return self


@dataclass(frozen=True)
class RejectedItem:
    """An item of a pulled page that failed validation, kept as it came."""

    raw: Any
    reason: str


@dataclass(frozen=True)
class ArchivePage:
    """One page of an institution's admission index."""

    items: list[ArchivePayload]
    next_cursor: str | None
    rejected: list[RejectedItem] = field(default_factory=list)


class ArchiveError(Exception):
    """The archive could not be read; ``retryable`` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class ArchivePort(Protocol):
    def list_admissions(self, *, since: datetime | None, cursor: str | None) -> ArchivePage: ...

    def fetch_document(self, ref: str) -> bytes: ...


# -- Chinese descriptions of validation failures ----------------------------------------

FIELD_LABELS = {
    "institution_code": "机构编码",
    "admission_no": "住院号",
    "patient": "患者",
    "name": "名称",
    "id_number": "身份证号",
    "admitted_on": "入院日期",
    "discharged_on": "出院日期",
    "department": "科室",
    "diagnoses": "诊断",
    "code": "编码",
    "archived_at": "归档时间",
    "sections": "病案组成部分",
    "title": "标题",
    "page_count": "页数",
    "document_ref": "文档标识",
    "document_sm3": "文档 SM3 摘要",
}
PARENT_NAME_LABELS = {"patient": "患者姓名", "department": "科室名称", "diagnoses": "诊断名称"}

TYPE_MESSAGES = {
    "missing": "缺少必填项",
    "string_type": "应为文本",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "greater_than_equal": "应不小于 {ge}",
    "less_than_equal": "应不大于 {le}",
    "date_type": "应为日期 YYYY-MM-DD",
    "date_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "应为日期，不能带时间",
    "datetime_type": "应为时间，例如 2025-03-01T10:00:00+08:00",
    "datetime_parsing": "时间格式不正确，应为 ISO 8601，例如 2025-03-01T10:00:00+08:00",
    "datetime_from_date_parsing": "时间格式不正确，应为 ISO 8601，例如 2025-03-01T10:00:00+08:00",
    "list_type": "应为列表",
    "too_short": "至少需要 {min_length} 项",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
}


def _where(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for index, part in enumerate(location):
        if isinstance(part, int):
            parts.append(f"第 {part + 1} 项")
        elif part == "name" and index > 0 and str(location[index - 1]) in PARENT_NAME_LABELS:
            parts.append("名称")
        else:
            parts.append(FIELD_LABELS.get(str(part), str(part)))
    return "·".join(parts)


def describe_validation_error(error: ValidationError) -> list[str]:
    """One Chinese sentence per problem, naming the field, e.g. "患者·身份证号：缺少必填项"."""
    reasons: list[str] = []
    for problem in error.errors(include_url=False):
        kind = problem["type"]
        if kind == "value_error":
            message = str(problem.get("ctx", {}).get("error", problem["msg"]))
        elif kind in TYPE_MESSAGES:
            message = TYPE_MESSAGES[kind].format(**problem.get("ctx", {}))
        else:
            message = "格式不正确"
        where = _where(tuple(problem["loc"]))
        reasons.append(f"{where}：{message}" if where else message)
    return reasons


def parse_payload(raw: Any) -> tuple[ArchivePayload | None, str]:
    """Validate one raw item: ``(payload, "")`` or ``(None, Chinese reason)``."""
    if not isinstance(raw, dict):
        return None, "每条归档记录应为 JSON 对象"
    try:
        return ArchivePayload.model_validate(raw), ""
    except ValidationError as error:
        return None, "；".join(describe_validation_error(error))


def canonical_json(payload: ArchivePayload) -> bytes:
    """The payload in one fixed serialisation, whose digest detects a changed archive."""
    return payload.model_dump_json().encode("utf-8")
