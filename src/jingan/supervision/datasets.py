"""The declared datasets of the supervision lake (SB-1): what each source delivers.

Every dataset is declared once here: its columns (name, type, required, Chinese
title), the key that identifies a row, the column whose local date places a row in a
daily partition, the source that delivers it and which columns are direct identifiers
(cleaning derives what the indicators need from them, then masks or drops them).

Column types are DuckDB types. Raw files arrive as text (CSV); collection checks every
value against its type and keeps a failing row, with the reason, in the rejects.
Times are local (Asia/Shanghai) wall-clock ``yyyy-MM-dd HH:mm:ss``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Source(enum.StrEnum):
    """Where a dataset comes from (SB-1, SB-2)."""

    PUBLIC_ACCOUNT = "public_account"  # 健康静安公众号平台 (HTTP feed, internet side)
    REGIONAL = "regional"  # 区域卫生健康信息平台 (daily files, via the exchange)
    INTERNET_HOSPITAL = "internet_hospital"  # 互联网医院 (HTTP feed, internet side)
    PLATFORM = "platform"  # this platform's own tables


SOURCE_TITLES = {
    Source.PUBLIC_ACCOUNT: "健康静安公众号平台",
    Source.REGIONAL: "区域卫生健康信息平台",
    Source.INTERNET_HOSPITAL: "互联网医院平台",
    Source.PLATFORM: "便捷就医平台（本平台）",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # VARCHAR, BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN
    title: str
    required: bool = True


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    source: Source
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    date_column: str
    # Direct identifiers: cleaning derives birth_date/gender (from an ID number) or a
    # pseudonym, then drops the raw value (SB-3, privacy by default).
    identifiers: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def _c(name: str, type_: str, title: str, required: bool = True) -> Column:
    return Column(name, type_, title, required)


# The ten modules of the public account (SP-7), code → Chinese name.
MODULES = {
    "health_record": "健康档案",
    "outpatient_booking": "门诊预约",
    "inpatient_service": "住院服务",
    "cloud_accompaniment": "云陪诊",
    "internet_care": "互联网诊疗",
    "drug_lookup": "药品查询",
    "renewal": "一键续方",
    "proxy_medication": "代配药",
    "vaccination": "疫苗接种",
    "physical_exam": "体检预约",
}

DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "pa_registrations",
        "公众号注册",
        Source.PUBLIC_ACCOUNT,
        (
            _c("account_id", "VARCHAR", "账户标识"),
            _c("registered_at", "TIMESTAMP", "注册时间"),
            _c("channel", "VARCHAR", "注册渠道"),  # menu | scan | share | search
            _c("deregistered_at", "TIMESTAMP", "注销时间", required=False),
        ),
        key=("account_id",),
        date_column="registered_at",
    ),
    Dataset(
        "pa_realname",
        "公众号实名认证",
        Source.PUBLIC_ACCOUNT,
        (
            _c("application_id", "VARCHAR", "认证申请号"),
            _c("account_id", "VARCHAR", "账户标识"),
            _c("submitted_at", "TIMESTAMP", "提交时间"),
            _c("method", "VARCHAR", "认证方式"),  # face | manual
            _c("outcome", "VARCHAR", "结果"),  # approved | rejected | pending
            _c("decided_at", "TIMESTAMP", "处理时间", required=False),
            _c("id_number", "VARCHAR", "身份证号"),
        ),
        key=("application_id",),
        date_column="submitted_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "pa_sessions",
        "公众号访问会话",
        Source.PUBLIC_ACCOUNT,
        (
            _c("session_id", "VARCHAR", "会话标识"),
            _c("account_id", "VARCHAR", "账户标识"),
            _c("started_at", "TIMESTAMP", "开始时间"),
            _c("ended_at", "TIMESTAMP", "结束时间"),
            _c("page_views", "BIGINT", "页面浏览数"),
            _c("is_staff", "BOOLEAN", "工作人员或测试账户"),
        ),
        key=("session_id",),
        date_column="started_at",
    ),
    Dataset(
        "pa_module_visits",
        "公众号模块访问",
        Source.PUBLIC_ACCOUNT,
        (
            _c("visit_id", "VARCHAR", "访问标识"),
            _c("session_id", "VARCHAR", "会话标识"),
            _c("account_id", "VARCHAR", "账户标识"),
            _c("module", "VARCHAR", "模块"),  # a key of MODULES
            _c("visited_at", "TIMESTAMP", "访问时间"),
            _c("institution_code", "VARCHAR", "医疗机构", required=False),
        ),
        key=("visit_id",),
        date_column="visited_at",
    ),
    Dataset(
        "appointments",
        "预约挂号",
        Source.REGIONAL,
        (
            _c("appointment_id", "VARCHAR", "预约号"),
            _c("account_id", "VARCHAR", "账户标识", required=False),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("department_code", "VARCHAR", "科室"),
            _c("channel", "VARCHAR", "预约渠道"),  # jingan | phone | window | referral
            _c("created_at", "TIMESTAMP", "预约时间"),
            _c("slot_date", "DATE", "就诊日期"),
            _c("status", "VARCHAR", "状态"),  # booked | cancelled | attended | no_show
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("appointment_id",),
        date_column="created_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "registrations",
        "门诊挂号",
        Source.REGIONAL,
        (
            _c("registration_id", "VARCHAR", "挂号流水号"),
            _c("appointment_id", "VARCHAR", "预约号", required=False),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("department_code", "VARCHAR", "科室"),
            _c("registered_at", "TIMESTAMP", "挂号时间"),
            _c("status", "VARCHAR", "状态"),  # registered | refunded
            _c("fee", "DOUBLE", "挂号费（元）"),
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("registration_id",),
        date_column="registered_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "consultations",
        "互联网诊疗问诊",
        Source.INTERNET_HOSPITAL,
        (
            _c("consultation_id", "VARCHAR", "问诊单号"),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("doctor_code", "VARCHAR", "医生"),
            _c("mode", "VARCHAR", "问诊方式"),  # text | voice | video
            _c("paid_at", "TIMESTAMP", "支付时间"),
            _c("accepted_at", "TIMESTAMP", "接诊时间", required=False),
            _c("closed_at", "TIMESTAMP", "结束时间", required=False),
            _c("status", "VARCHAR", "状态"),  # completed | refused | timeout | cancelled
            _c("fee", "DOUBLE", "问诊费（元）"),
            _c("prescription_amount", "DOUBLE", "处方金额（元）", required=False),
            _c("delivery", "BOOLEAN", "选择配送", required=False),
            _c("delivered_at", "TIMESTAMP", "签收时间", required=False),
            _c("review_stars", "BIGINT", "评价星级", required=False),
            _c("diagnosis_code", "VARCHAR", "主诊断 ICD-10", required=False),
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("consultation_id",),
        date_column="paid_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "proxy_medication",
        "代配药",
        Source.INTERNET_HOSPITAL,
        (
            _c("order_id", "VARCHAR", "订单号"),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("kind", "VARCHAR", "代配类型"),  # volunteer | child_for_parent | parent_for_minor
            _c("ordered_at", "TIMESTAMP", "下单时间"),
            _c("status", "VARCHAR", "状态"),  # completed | cancelled
            _c("amount", "DOUBLE", "金额（元）"),
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("order_id",),
        date_column="ordered_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "renewals",
        "一键续方",
        Source.INTERNET_HOSPITAL,
        (
            _c("renewal_id", "VARCHAR", "续方单号"),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("requested_at", "TIMESTAMP", "申请时间"),
            _c("status", "VARCHAR", "状态"),  # approved | rejected | cancelled
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("renewal_id",),
        date_column="requested_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "care_orders",
        "护理与康复服务",
        Source.INTERNET_HOSPITAL,
        (
            _c("order_id", "VARCHAR", "服务单号"),
            _c("institution_code", "VARCHAR", "医疗机构"),
            _c("service_type", "VARCHAR", "服务类型"),  # nursing | rehabilitation
            _c("ordered_at", "TIMESTAMP", "下单时间"),
            _c("status", "VARCHAR", "状态"),  # completed | cancelled
            _c("amount", "DOUBLE", "金额（元）"),
            _c("id_number", "VARCHAR", "患者身份证号"),
        ),
        key=("order_id",),
        date_column="ordered_at",
        identifiers=("id_number",),
    ),
    Dataset(
        "platform_residents",
        "本平台居民账户",
        Source.PLATFORM,
        (
            _c("account_id", "VARCHAR", "账户标识（假名）"),
            _c("registered_at", "TIMESTAMP", "注册时间"),
            _c("verified_at", "TIMESTAMP", "实名时间", required=False),
            _c("gender", "VARCHAR", "性别", required=False),
            _c("birth_year", "BIGINT", "出生年份", required=False),
        ),
        key=("account_id",),
        date_column="registered_at",
    ),
)

DATASETS_BY_NAME = {dataset.name: dataset for dataset in DATASETS}

# Age groups (reference: indicator definitions §9): the default service scheme; the
# census scheme stays selectable. Upper bounds inclusive, in full years (周岁).
AGE_GROUPS = (
    ("0-6", 0, 6),
    ("7-17", 7, 17),
    ("18-44", 18, 44),
    ("45-59", 45, 59),
    ("60-79", 60, 79),
    ("80+", 80, 200),
)
CENSUS_AGE_GROUPS = (("0-14", 0, 14), ("15-59", 15, 59), ("60+", 60, 200))

# What cleaning adds in place of an ID number: a pseudonym and what it says of the person.
PERSON_COLUMNS = (
    Column("person_id", "VARCHAR", "人员假名（HMAC-SM3）"),
    Column("gender", "VARCHAR", "性别"),  # GB/T 2261.1: 1 男, 2 女
    Column("birth_date", "DATE", "出生日期"),
    Column("age", "BIGINT", "年龄（周岁）"),
    Column("age_group", "VARCHAR", "年龄组"),
)
DAY_COLUMN = Column("day", "DATE", "数据日期")


def clean_columns(data: Dataset) -> tuple[Column, ...]:
    """The columns of the clean lake for ``data``: declared minus direct identifiers,
    plus ``day`` (local date of the date column) and, where an ID number was dropped,
    the person columns."""
    kept = tuple(column for column in data.columns if column.name not in data.identifiers)
    person = PERSON_COLUMNS if "id_number" in data.identifiers else ()
    return (*kept, *person, DAY_COLUMN)


def dataset(name: str) -> Dataset:
    """The declared dataset ``name``; KeyError naming it otherwise."""
    try:
        return DATASETS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}") from None
