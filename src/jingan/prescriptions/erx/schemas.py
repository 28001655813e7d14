"""Input and output shapes of the e-prescription context, and the small code tables.

``PrescriptionDraft`` is what a doctor (console form or workstation) sends; drug names,
specifications and prices are never taken from it but from the synced circulation
catalogue. The ``*Read`` schemas are the workstation API's answers.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ninja import Schema
from pydantic import Field, ValidationError, field_validator, model_validator

from jingan.prescriptions.erx.errors import ErrorCode, ErxError

# 用药途径 (route of administration): code -> name. A small national-style table; the
# centre only needs code and name to agree with each other.
ROUTES: dict[str, str] = {
    "01": "口服",
    "02": "舌下含服",
    "03": "外用",
    "04": "静脉滴注",
    "05": "静脉注射",
    "06": "肌内注射",
    "07": "皮下注射",
    "08": "吸入",
    "09": "滴眼",
    "10": "滴鼻",
    "11": "直肠给药",
    "12": "含漱",
}

# 用药频次 (frequency): code -> name.
FREQUENCIES: dict[str, str] = {
    "qd": "每日一次",
    "bid": "每日两次",
    "tid": "每日三次",
    "qid": "每日四次",
    "qn": "每晚一次",
    "q8h": "每8小时一次",
    "q12h": "每12小时一次",
    "qw": "每周一次",
    "prn": "必要时",
    "st": "立即",
}

GENDERS: dict[str, str] = {"1": "男", "2": "女"}
RX_TYPES: dict[str, str] = {"1": "西药处方", "2": "中成药处方"}

MAX_ITEMS = 5  # 处方限量: one outpatient prescription holds at most five drugs
MAX_VALID_DAYS = 7
_RXNO_PATTERN = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
_ID_PATTERN = re.compile(r"^\d{17}[\dXx]$")
_ICD_PATTERN = re.compile(r"^[A-Z][0-9A-Z.+*-]{1,19}$")


def _required(value: str, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"请填写{label}")
    if len(text) > max_length:
        raise ValueError(f"{label}不能超过 {max_length} 个字符")
    return text


class DiagnosisIn(Schema):
    """One diagnosis: ICD-10 code and name; exactly one of a prescription's is the main one."""

    code: str
    name: str
    main: bool = False

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        text = (value or "").strip().upper()
        if not _ICD_PATTERN.match(text):
            raise ValueError(f"诊断编码 {value!r} 不是有效的 ICD-10 编码")
        return text

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _required(value, "诊断名称", 100)


class ItemIn(Schema):
    """One drug line: the catalogue code, how much and how to take it."""

    med_list_codg: str
    quantity: Decimal
    single_dose: str
    route_code: str
    frequency_code: str
    days: int

    @field_validator("med_list_codg")
    @classmethod
    def _code(cls, value: str) -> str:
        return _required(value, "医保药品编码", 50)

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Decimal:
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise ValueError(f"药品数量 {value!r} 不是数字") from None
        if not number.is_finite() or number <= 0 or number > 9999:
            raise ValueError("药品数量应大于 0 且不超过 9999")
        if number != number.quantize(Decimal("0.01")):
            raise ValueError("药品数量最多两位小数")
        return number

    @field_validator("single_dose")
    @classmethod
    def _dose(cls, value: str) -> str:
        return _required(value, "单次剂量", 30)

    @field_validator("route_code")
    @classmethod
    def _route(cls, value: str) -> str:
        text = (value or "").strip()
        if text not in ROUTES:
            raise ValueError(f"用药途径代码 {value!r} 不在代码表中")
        return text

    @field_validator("frequency_code")
    @classmethod
    def _frequency(cls, value: str) -> str:
        text = (value or "").strip().lower()
        if text not in FREQUENCIES:
            raise ValueError(f"用药频次代码 {value!r} 不在代码表中")
        return text

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> int:
        try:
            days = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"用药天数 {value!r} 不是整数") from None
        if not 1 <= days <= 30:
            raise ValueError("用药天数应在 1 到 30 天之间")
        return days


class PrescriptionDraft(Schema):
    """A prescription as the doctor writes it (console form or workstation API)."""

    hosp_rxno: str
    patient_name: str
    patient_id_number: str
    patient_gender: str
    patient_age: int
    psn_no: str = ""
    insuplc_admdvs: str = ""
    mdtrt_id: str
    department_code: str
    department_name: str
    doctor_code: str
    doctor_name: str
    doctor_title: str = ""
    diagnoses: list[DiagnosisIn]
    rx_type_code: str = "1"
    valid_days: int = 3
    items: list[ItemIn]

    @field_validator("hosp_rxno")
    @classmethod
    def _rxno(cls, value: str) -> str:
        text = (value or "").strip()
        if not _RXNO_PATTERN.match(text):
            raise ValueError("院内处方号应为 1 到 40 位字母、数字、下划线或短横线")
        return text

    @field_validator("patient_name")
    @classmethod
    def _patient_name(cls, value: str) -> str:
        return _required(value, "患者姓名", 50)

    @field_validator("patient_id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        text = (value or "").strip().upper()
        if not _ID_PATTERN.match(text):
            raise ValueError("患者身份证号应为 18 位，前 17 位为数字，最后一位为数字或 X")
        return text

    @field_validator("patient_gender")
    @classmethod
    def _gender(cls, value: str) -> str:
        text = (value or "").strip()
        if text not in GENDERS:
            raise ValueError("患者性别应为 1（男）或 2（女）")
        return text

    @field_validator("patient_age", mode="before")
    @classmethod
    def _age(cls, value: Any) -> int:
        try:
            age = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"患者年龄 {value!r} 不是整数") from None
        if not 0 <= age <= 150:
            raise ValueError("患者年龄应在 0 到 150 之间")
        return age

    @field_validator("mdtrt_id")
    @classmethod
    def _mdtrt_id(cls, value: str) -> str:
        return _required(value, "就诊 ID（mdtrt_id）", 30)

    @field_validator("department_code")
    @classmethod
    def _dept_code(cls, value: str) -> str:
        return _required(value, "开方科室编码", 30)

    @field_validator("department_name")
    @classmethod
    def _dept_name(cls, value: str) -> str:
        return _required(value, "开方科室名称", 100)

    @field_validator("doctor_code")
    @classmethod
    def _doctor_code(cls, value: str) -> str:
        return _required(value, "医保医师代码", 30)

    @field_validator("doctor_name")
    @classmethod
    def _doctor_name(cls, value: str) -> str:
        return _required(value, "开方医师姓名", 50)

    @field_validator("rx_type_code")
    @classmethod
    def _rx_type(cls, value: str) -> str:
        text = (value or "").strip()
        if text not in RX_TYPES:
            raise ValueError("处方类别应为 1（西药）或 2（中成药）")
        return text

    @field_validator("valid_days", mode="before")
    @classmethod
    def _valid_days(cls, value: Any) -> int:
        try:
            days = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"处方有效天数 {value!r} 不是整数") from None
        if not 1 <= days <= MAX_VALID_DAYS:
            raise ValueError(f"处方有效天数应在 1 到 {MAX_VALID_DAYS} 天之间")
        return days

    @field_validator("psn_no", "insuplc_admdvs", "doctor_title")
    @classmethod
    def _optional(cls, value: str) -> str:
        return (value or "").strip()

    @model_validator(mode="after")
    def _lists(self) -> PrescriptionDraft:
        if not self.diagnoses:
            raise ValueError("至少填写一条诊断")
        mains = [d for d in self.diagnoses if d.main]
        if len(mains) > 1:
            raise ValueError("只能有一条主诊断")
        if not mains:
            # The first diagnosis is the main one unless the doctor said otherwise.
            self.diagnoses[0].main = True
        if not self.items:
            raise ValueError("处方至少包含一种药品")
        if len(self.items) > MAX_ITEMS:
            raise ValueError(f"一张处方最多 {MAX_ITEMS} 种药品，本次 {len(self.items)} 种")
        codes = [item.med_list_codg for item in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError("同一药品不能在一张处方中重复开具")
        if self.insuplc_admdvs and not re.fullmatch(r"\d{6}", self.insuplc_admdvs):
            raise ValueError("参保地医保区划应为 6 位数字")
        return self


_FIELD_LABELS = {
    "hosp_rxno": "院内处方号",
    "patient_name": "患者姓名",
    "patient_id_number": "患者身份证号",
    "patient_gender": "患者性别",
    "patient_age": "患者年龄",
    "mdtrt_id": "就诊 ID",
    "department_code": "开方科室编码",
    "department_name": "开方科室名称",
    "doctor_code": "医保医师代码",
    "doctor_name": "开方医师姓名",
    "diagnoses": "诊断",
    "items": "药品",
    "quantity": "药品数量",
    "days": "用药天数",
    "valid_days": "处方有效天数",
}


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def parse_draft(data: Any) -> PrescriptionDraft:
    """``data`` as a PrescriptionDraft, or ErxError naming the first bad field in Chinese."""
    if isinstance(data, PrescriptionDraft):
        return data
    if not isinstance(data, dict):
        raise ErxError(ErrorCode.INVALID_INPUT, "处方内容应为 JSON 对象", "body")
    try:
        return PrescriptionDraft.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = _field_path(tuple(first.get("loc", ())))
        if first.get("type") == "value_error":
            message = str(first.get("msg", "")).removeprefix("Value error, ")
        elif first.get("type") == "missing":
            last = str(first["loc"][-1]) if first.get("loc") else path
            message = f"缺少必填字段 {_FIELD_LABELS.get(last, last)}（{path}）"
        else:
            last = str(first["loc"][-1]) if first.get("loc") else path
            message = f"字段 {_FIELD_LABELS.get(last, last)}（{path}）格式不正确"
        raise ErxError(ErrorCode.INVALID_INPUT, message, path) from None


# -- API inputs ---------------------------------------------------------------------------


class ReviewIn(Schema):
    """An in-hospital pharmacist's decision."""

    approve: bool
    opinion: str = ""


class RevokeIn(Schema):
    """Why the doctor revokes an uploaded prescription."""

    reason: str = Field(default="")


# -- API outputs --------------------------------------------------------------------------


class ErxErrorRead(Schema):
    code: str
    message: str
    field: str = ""


class DiagnosisRead(Schema):
    code: str
    name: str
    main: bool


class ItemRead(Schema):
    line_no: int
    med_list_codg: str
    generic_name: str
    dosage_form: str
    specification: str
    quantity: Decimal
    unit: str
    price: Decimal
    amount: Decimal
    single_dose: str
    route_code: str
    route_name: str
    frequency_code: str
    frequency_name: str
    days: int


class EventRead(Schema):
    occurred_at: datetime.datetime
    kind: str
    status: str
    status_label: str
    actor_label: str
    note: str


class CodeLabel(Schema):
    code: str
    label: str


class PrescriptionRead(Schema):
    """A prescription as the workstation sees it: our status and the centre's codes."""

    reference: str
    hosp_rxno: str
    status: str
    status_label: str
    patient_name_masked: str
    patient_id_number_masked: str
    patient_gender: str
    patient_age: int
    mdtrt_id: str
    department_code: str
    department_name: str
    doctor_code: str
    doctor_name: str
    rx_type_code: str
    prescribed_at: datetime.datetime
    valid_until: datetime.datetime
    total_amount: Decimal
    hi_rxno: str
    rx_trace_code: str
    rx_status: CodeLabel
    rx_used_status: CodeLabel
    review_status: CodeLabel
    review_opinion: str
    pharmacist_opinion: str
    revoke_outcome: str
    revoke_outcome_label: str
    revoke_reason: str
    dispensed_at: datetime.datetime | None
    pharmacy_name: str
    last_error: str
    diagnoses: list[DiagnosisRead]
    items: list[ItemRead]
    events: list[EventRead]


class RevokeRead(Schema):
    """What a revoke came to: revoked, refused (dispensed) or pending at the pharmacy."""

    outcome: str
    message: str
    prescription: PrescriptionRead


class DrugRead(Schema):
    med_list_codg: str
    generic_name: str
    product_name: str
    dosage_form: str
    specification: str
    manufacturer: str
    approval_no: str
    unit: str
    price: Decimal


class CatalogueQueryResult(Schema):
    """One page of the centre's circulation catalogue as queried live (RX-10)."""

    keyword: str
    page: int
    page_size: int
    total: int
    items: list[DrugRead]


class NotificationAnswer(Schema):
    """The sealed envelope the institution answers a centre notification with."""

    appId: str  # noqa: N815 - the centre's wire names
    code: int
    message: str
