"""The indicator catalogue (SB-4): every indicator declared once, as data.

An ``Indicator`` names its code, Chinese name, requirement, grain, dimensions, unit and
kind, and carries one SELECT over the ``clean_*`` views of the lake. The runner
(``indicators.runner``) binds ``:start``/``:end`` (the inclusive day range being
recomputed), runs it with DuckDB and stores the rows; pages read them back through
``indicators.queries``. A new indicator is a new declaration here, never new Python.

The declared SELECT returns exactly these columns:

``period_start`` DATE, one column per dimension (VARCHAR), ``value`` DOUBLE,
``numerator`` DOUBLE (NULL unless a ratio), ``denominator`` DOUBLE (NULL unless a ratio).

A NULL dimension value means "all values of that dimension" (a ROLLUP/GROUPING SETS
total), so an indicator broken down by module can also store its district total, which
for distinct counts is not the sum of the parts.

Conventions (reference: indicator definitions §0, §3): local time; 人数 counts distinct
persons, 人次 counts events; staff and test sessions are excluded; every indicator is
anchored on one timestamp, named in its description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jingan.supervision.datasets import AGE_GROUPS, MODULES

__all__ = [
    "DIMENSION_TITLES",
    "GRAINS",
    "INDICATORS",
    "KINDS",
    "Indicator",
    "Threshold",
    "dimension_label",
    "indicator",
    "indicators_for_requirement",
]

GRAINS = ("day", "month", "period")
# count: events or rows, additive over periods and dimensions.
# distinct: distinct persons; not additive (a month is not the sum of its days).
# ratio: value = 100 × numerator / denominator; roll-ups are Σnumerator / Σdenominator.
# cumulative: a stock as of the end of the period (totals so far, backlog); a longer
#   period takes its last value, and recomputing a day recomputes every later day.
KINDS = ("count", "distinct", "ratio", "cumulative")
UNITS = ("人", "人次", "次", "%")

DIMENSION_TITLES = {
    "module": "模块",
    "gender": "性别",
    "age_group": "年龄组",
    "institution": "医疗机构",
    "mode": "问诊方式",
}
_GENDER_LABELS = {"1": "男", "2": "女", "0": "未知", "9": "未说明"}
_MODE_LABELS = {"text": "图文", "voice": "语音", "video": "视频"}


@dataclass(frozen=True)
class Threshold:
    """Where a value turns yellow (warning) and red (critical) on a dashboard."""

    comparator: str  # "above" | "below"
    warning: float
    critical: float


@dataclass(frozen=True)
class Indicator:
    """One declared indicator: what it counts, how it is cut, and the SQL that counts it."""

    code: str
    name: str
    description: str
    requirement: str
    datasets: tuple[str, ...]
    grain: str
    dimensions: tuple[str, ...]
    unit: str
    kind: str
    sql: str
    thresholds: Threshold | None = None
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Declarations are data: a typo must fail at import, not on the first nightly run.
        if self.grain not in GRAINS:
            raise ValueError(f"{self.code}: grain {self.grain!r} not in {GRAINS}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.code}: kind {self.kind!r} not in {KINDS}")
        if self.unit not in UNITS:
            raise ValueError(f"{self.code}: unit {self.unit!r} not in {UNITS}")
        if ":start" not in self.sql or ":end" not in self.sql:
            raise ValueError(f"{self.code}: the SQL must use :start and :end")
        unknown = set(self.dimensions) - set(DIMENSION_TITLES)
        if unknown:
            raise ValueError(f"{self.code}: undeclared dimensions {sorted(unknown)}")

    @property
    def is_additive(self) -> bool:
        return self.kind == "count"


def dimension_label(dimension: str, key: str) -> str:
    """The Chinese label of one dimension value (institution names come from queries)."""
    if dimension == "module":
        return MODULES.get(key, key)
    if dimension == "gender":
        return _GENDER_LABELS.get(key, key)
    if dimension == "mode":
        return _MODE_LABELS.get(key, key)
    if dimension == "age_group":
        return "未知" if key == "unknown" else f"{key}岁"
    return key


# --- Shared SQL fragments --------------------------------------------------------------
# Fragments, not functions: each indicator's full SQL stays readable in its snapshot.

# Every day of the range, so a day without events stores 0 rather than nothing.
_DAYS = (
    "calendar AS (SELECT CAST(range AS DATE) AS period_start "
    "FROM range(CAST(:start AS TIMESTAMP), CAST(:end AS TIMESTAMP) + INTERVAL 1 DAY, "
    "INTERVAL 1 DAY))"
)
# Every calendar month touching the range.
_MONTHS = (
    "calendar AS (SELECT CAST(range AS DATE) AS period_start "
    "FROM range(date_trunc('month', CAST(:start AS TIMESTAMP)), "
    "CAST(:end AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 MONTH))"
)
# "Opened the account that day" (§3 DAU): a resident session with at least one page
# view; staff, test accounts and probes (no page view) are left out everywhere.
_ACTIVE_SESSION = "NOT is_staff AND page_views >= 1"
# A resident's first approved verification: one account is verified once (SP-1).
# Who they are (gender, birth date) comes from that approved application itself.
_FIRST_APPROVALS = (
    "first_approvals AS (SELECT account_id, decided_at AS approved_at, gender, birth_date "
    "FROM clean_pa_realname WHERE outcome = 'approved' AND decided_at IS NOT NULL "
    "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY decided_at, application_id) = 1)"
)
_MODULE_LIST = "modules AS (SELECT * FROM (VALUES {}) AS m(module))".format(
    ", ".join(f"('{code}')" for code in MODULES)
)


def _age_in_years(birth: str, on: str) -> str:
    """周岁 on a day: completed years, the birthday counting from its own day (§9)."""
    return (
        f"(year({on}) - year({birth}) - CASE WHEN strftime({on}, '%m%d') < "
        f"strftime({birth}, '%m%d') THEN 1 ELSE 0 END)"
    )


def _age_group(age: str) -> str:
    """The default service age scheme (datasets.AGE_GROUPS) as a CASE expression."""
    cases = " ".join(
        f"WHEN {age} BETWEEN {low} AND {high} THEN '{name}'" for name, low, high in AGE_GROUPS
    )
    return f"CASE {cases} ELSE 'unknown' END"


def _daily_count(table: str, anchor: str, counted: str, where: str = "TRUE") -> str:
    """Per day of the range: how many ``counted`` rows of ``table`` are anchored that day."""
    return f"""
WITH {_DAYS},
events AS (
  SELECT CAST({anchor} AS DATE) AS period_start, {counted} AS counted
  FROM {table}
  WHERE ({where}) AND CAST({anchor} AS DATE) BETWEEN :start AND :end
)
SELECT calendar.period_start,
       CAST(count(DISTINCT events.counted) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN events USING (period_start)
GROUP BY calendar.period_start
"""


def _monthly_count(table: str, anchor: str, counted: str, where: str = "TRUE") -> str:
    """Per calendar month touching the range: distinct ``counted`` anchored in it."""
    return f"""
WITH {_MONTHS},
events AS (
  SELECT CAST(date_trunc('month', {anchor}) AS DATE) AS period_start, {counted} AS counted
  FROM {table}
  WHERE ({where})
    AND CAST({anchor} AS DATE) >= CAST(date_trunc('month', CAST(:start AS TIMESTAMP)) AS DATE)
    AND CAST({anchor} AS DATE) <= :end
)
SELECT calendar.period_start,
       CAST(count(DISTINCT events.counted) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN events USING (period_start)
GROUP BY calendar.period_start
"""


def _cumulative(events_cte: str, day_column: str, sign: str = "1") -> str:
    """Per day of the range: the running total of an ``events`` CTE up to that day."""
    return f"""
WITH {_DAYS},
{events_cte},
daily AS (
  SELECT {day_column} AS day, sum({sign}) AS n FROM events WHERE {day_column} <= :end GROUP BY 1
)
SELECT calendar.period_start,
       CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN daily ON daily.day <= calendar.period_start
GROUP BY calendar.period_start
"""


def _cumulative_approvals_by(dimension: str, expression: str, keys: tuple[str, ...]) -> str:
    """Per day of the range and value of ``dimension``: first approvals so far."""
    values = ", ".join(f"('{key}')" for key in keys)
    return f"""
WITH {_DAYS},
{_FIRST_APPROVALS},
verified AS (
  SELECT CAST(approved_at AS DATE) AS day, {expression} AS {dimension}
  FROM first_approvals WHERE CAST(approved_at AS DATE) <= :end
),
daily AS (SELECT day, {dimension}, count(*) AS n FROM verified GROUP BY ALL),
keys AS (SELECT * FROM (VALUES {values}) AS k({dimension}))
SELECT calendar.period_start, keys.{dimension},
       CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar CROSS JOIN keys
LEFT JOIN daily ON daily.{dimension} = keys.{dimension} AND daily.day <= calendar.period_start
GROUP BY calendar.period_start, keys.{dimension}
"""


_AGE_AT_VERIFICATION = _age_group(_age_in_years("birth_date", "CAST(approved_at AS DATE)"))
_GENDER_KEYS = ("1", "2", "0", "9")
_AGE_KEYS = (*(name for name, _low, _high in AGE_GROUPS), "unknown")

# Module visits of resident sessions: a visit inside a staff or test session is left out.
_RESIDENT_MODULE_VISITS = """staff_sessions AS (
  SELECT session_id FROM clean_pa_sessions
  WHERE is_staff AND CAST(started_at AS DATE) BETWEEN :start - 1 AND :end
),
visits AS (
  SELECT CAST(visited_at AS DATE) AS period_start, module, account_id, visit_id,
         institution_code
  FROM clean_pa_module_visits AS v
  WHERE CAST(visited_at AS DATE) BETWEEN :start AND :end
    AND NOT EXISTS (SELECT 1 FROM staff_sessions s WHERE s.session_id = v.session_id)
)"""


INDICATORS: tuple[Indicator, ...] = (
    # --- SP-1 注册 ---------------------------------------------------------------------
    Indicator(
        code="pa_registered_daily",
        name="新增注册用户数",
        description="当日新注册的公众号居民账户数（按注册时间归日，人数）。",
        requirement="SP-1",
        datasets=("pa_registrations",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="count",
        sql=_daily_count("clean_pa_registrations", "registered_at", "account_id"),
    ),
    Indicator(
        code="pa_registered_gross_cumulative",
        name="累计注册用户数（含已注销）",
        description="截至当日末注册过的账户总数，不扣除注销。",
        requirement="SP-1",
        datasets=("pa_registrations",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="cumulative",
        sql=_cumulative(
            "events AS (SELECT DISTINCT account_id, CAST(registered_at AS DATE) AS day "
            "FROM clean_pa_registrations)",
            "day",
        ),
    ),
    Indicator(
        code="pa_registered_cumulative",
        name="累计注册用户数",
        description="截至当日末累计注册账户数，扣除截至当日已注销的账户（净额）。",
        requirement="SP-1",
        datasets=("pa_registrations",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="cumulative",
        sql=_cumulative(
            "accounts AS (SELECT account_id, min(registered_at) AS registered_at, "
            "min(deregistered_at) AS deregistered_at FROM clean_pa_registrations "
            "GROUP BY account_id),\n"
            "events AS (SELECT CAST(registered_at AS DATE) AS day, 1 AS delta FROM accounts "
            "UNION ALL SELECT CAST(deregistered_at AS DATE), -1 FROM accounts "
            "WHERE deregistered_at IS NOT NULL)",
            "day",
            sign="delta",
        ),
    ),
    Indicator(
        code="pa_realname_daily",
        name="新增实名用户数",
        description="当日首次实名认证通过的账户数（按审核通过时间归日；一个账户只计一次）。",
        requirement="SP-1",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="count",
        sql=f"""
WITH {_DAYS},
{_FIRST_APPROVALS},
events AS (
  SELECT CAST(approved_at AS DATE) AS period_start, account_id FROM first_approvals
  WHERE CAST(approved_at AS DATE) BETWEEN :start AND :end
)
SELECT calendar.period_start,
       CAST(count(events.account_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN events USING (period_start)
GROUP BY calendar.period_start
""",
    ),
    Indicator(
        code="pa_realname_cumulative",
        name="累计实名用户数",
        description="截至当日末实名认证通过的账户总数（一个账户只计一次）。",
        requirement="SP-1",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="cumulative",
        sql=_cumulative(
            _FIRST_APPROVALS
            + ",\nevents AS (SELECT CAST(approved_at AS DATE) AS day FROM first_approvals)",
            "day",
        ),
    ),
    # --- SP-2 实名结构与人工审核 ---------------------------------------------------------
    Indicator(
        code="pa_realname_by_gender",
        name="实名用户性别结构",
        description="截至周期末累计实名用户按性别（GB/T 2261.1）分布。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="period",
        dimensions=("gender",),
        unit="人",
        kind="cumulative",
        sql=_cumulative_approvals_by("gender", "coalesce(gender, '0')", _GENDER_KEYS),
    ),
    Indicator(
        code="pa_realname_by_age_group",
        name="实名用户年龄结构",
        description="截至周期末累计实名用户按实名认证当日周岁年龄分组。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="period",
        dimensions=("age_group",),
        unit="人",
        kind="cumulative",
        sql=_cumulative_approvals_by("age_group", _AGE_AT_VERIFICATION, _AGE_KEYS),
    ),
    Indicator(
        code="pa_manual_review_submitted",
        name="人工审核申请量",
        description="当日提交的人工审核实名申请数（按提交时间归日）。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="次",
        kind="count",
        sql=_daily_count(
            "clean_pa_realname", "submitted_at", "application_id", "method = 'manual'"
        ),
    ),
    Indicator(
        code="pa_manual_review_handled",
        name="人工审核处理量",
        description="当日作出审核结论（通过或驳回）的人工审核申请数（按处理时间归日）。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="次",
        kind="count",
        sql=_daily_count(
            "clean_pa_realname",
            "decided_at",
            "application_id",
            "method = 'manual' AND outcome IN ('approved', 'rejected') AND decided_at IS NOT NULL",
        ),
    ),
    Indicator(
        code="pa_manual_review_pending",
        name="人工审核待处理量",
        description="当日末已提交但尚未作出结论的人工审核申请数（积压）。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="次",
        kind="cumulative",
        thresholds=Threshold("above", 100, 300),
        sql=_cumulative(
            "applications AS (SELECT DISTINCT application_id, CAST(submitted_at AS DATE) AS "
            "submitted, CASE WHEN outcome IN ('approved', 'rejected') THEN "
            "CAST(decided_at AS DATE) END AS decided FROM clean_pa_realname "
            "WHERE method = 'manual'),\n"
            "events AS (SELECT submitted AS day, 1 AS delta FROM applications "
            "UNION ALL SELECT decided, -1 FROM applications WHERE decided IS NOT NULL)",
            "day",
            sign="delta",
        ),
    ),
    Indicator(
        code="pa_manual_review_approval_rate",
        name="人工审核通过率",
        description="当日作出结论的人工审核申请中通过的比例（分子通过数，分母处理数）。",
        requirement="SP-2",
        datasets=("pa_realname",),
        grain="day",
        dimensions=(),
        unit="%",
        kind="ratio",
        thresholds=Threshold("below", 80, 60),
        sql="""
WITH decided AS (
  SELECT CAST(decided_at AS DATE) AS period_start, application_id, outcome
  FROM clean_pa_realname
  WHERE method = 'manual' AND outcome IN ('approved', 'rejected') AND decided_at IS NOT NULL
    AND CAST(decided_at AS DATE) BETWEEN :start AND :end
)
SELECT period_start,
       100.0 * count(DISTINCT application_id) FILTER (WHERE outcome = 'approved')
         / count(DISTINCT application_id) AS value,
       CAST(count(DISTINCT application_id) FILTER (WHERE outcome = 'approved') AS DOUBLE)
         AS numerator,
       CAST(count(DISTINCT application_id) AS DOUBLE) AS denominator
FROM decided
GROUP BY period_start
""",
    ),
    # --- SP-3 趋势（月） ------------------------------------------------------------------
    Indicator(
        code="pa_registered_monthly",
        name="月新增注册用户数",
        description="自然月内新注册的账户数（按注册时间归月）。",
        requirement="SP-3",
        datasets=("pa_registrations",),
        grain="month",
        dimensions=(),
        unit="人",
        kind="count",
        sql=_monthly_count("clean_pa_registrations", "registered_at", "account_id"),
    ),
    Indicator(
        code="pa_realname_monthly",
        name="月新增实名用户数",
        description="自然月内首次实名认证通过的账户数（按审核通过时间归月）。",
        requirement="SP-3",
        datasets=("pa_realname",),
        grain="month",
        dimensions=(),
        unit="人",
        kind="count",
        sql=f"""
WITH {_MONTHS},
{_FIRST_APPROVALS},
events AS (
  SELECT CAST(date_trunc('month', approved_at) AS DATE) AS period_start, account_id
  FROM first_approvals
  WHERE CAST(approved_at AS DATE)
        >= CAST(date_trunc('month', CAST(:start AS TIMESTAMP)) AS DATE)
    AND CAST(approved_at AS DATE) <= :end
)
SELECT calendar.period_start,
       CAST(count(events.account_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN events USING (period_start)
GROUP BY calendar.period_start
""",
    ),
    # --- SP-4/5/6 活跃 --------------------------------------------------------------------
    Indicator(
        code="pa_dau",
        name="日活跃用户数（DAU）",
        description="当日至少打开一次公众号（≥1 次页面浏览）的居民账户数，排除工作人员与测试账户。",
        requirement="SP-4",
        datasets=("pa_sessions",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="distinct",
        sql=_daily_count("clean_pa_sessions", "started_at", "account_id", _ACTIVE_SESSION),
    ),
    Indicator(
        code="pa_mau",
        name="月活跃用户数（MAU）",
        description="自然月内至少打开一次公众号的居民账户数。",
        requirement="SP-5",
        datasets=("pa_sessions",),
        grain="month",
        dimensions=(),
        unit="人",
        kind="distinct",
        sql=_monthly_count("clean_pa_sessions", "started_at", "account_id", _ACTIVE_SESSION),
    ),
    Indicator(
        code="pa_active_30d",
        name="近30日活跃用户数",
        description="截至当日的近30天（含当日）内至少打开一次公众号的居民账户数（滚动口径，补充系列）。",
        requirement="SP-5",
        datasets=("pa_sessions",),
        grain="day",
        dimensions=(),
        unit="人",
        kind="distinct",
        # An account active on day a counts on a .. a+29; cut each span at its next active
        # day so spans never overlap, then a running sum of +1/−1 events counts each
        # account once per day without a 30-fold join.
        sql=f"""
WITH {_DAYS},
active AS (
  SELECT DISTINCT account_id, CAST(started_at AS DATE) AS day FROM clean_pa_sessions
  WHERE {_ACTIVE_SESSION} AND CAST(started_at AS DATE) BETWEEN :start - 29 AND :end
),
spans AS (
  SELECT day AS opens,
         least(day + 30, coalesce(lead(day) OVER (PARTITION BY account_id ORDER BY day),
                                  day + 30)) AS closes
  FROM active
),
events AS (
  SELECT opens AS day, 1 AS delta FROM spans
  UNION ALL SELECT closes, -1 FROM spans
),
daily AS (SELECT day, sum(delta) AS n FROM events GROUP BY day)
SELECT calendar.period_start,
       CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar LEFT JOIN daily ON daily.day <= calendar.period_start
GROUP BY calendar.period_start
""",
    ),
    Indicator(
        code="pa_sessions_daily",
        name="访问次数",
        description="当日居民账户打开公众号的会话数（≥1 次页面浏览，排除工作人员与测试账户）。",
        requirement="SP-6",
        datasets=("pa_sessions",),
        grain="day",
        dimensions=(),
        unit="次",
        kind="count",
        sql=_daily_count("clean_pa_sessions", "started_at", "session_id", _ACTIVE_SESSION),
    ),
    # --- SP-7 模块访问 --------------------------------------------------------------------
    Indicator(
        code="pa_module_visits",
        name="模块访问人次",
        description="当日进入各模块的访问人次（按访问时间归日，排除工作人员会话）。",
        requirement="SP-7",
        datasets=("pa_module_visits", "pa_sessions"),
        grain="day",
        dimensions=("module",),
        unit="人次",
        kind="count",
        sql=f"""
WITH {_DAYS},
{_MODULE_LIST},
{_RESIDENT_MODULE_VISITS},
daily AS (SELECT period_start, module, count(DISTINCT visit_id) AS n FROM visits GROUP BY ALL)
SELECT calendar.period_start, modules.module,
       CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar CROSS JOIN modules
LEFT JOIN daily ON daily.period_start = calendar.period_start AND daily.module = modules.module
GROUP BY GROUPING SETS ((calendar.period_start, modules.module), (calendar.period_start))
""",
    ),
    Indicator(
        code="pa_module_visitors",
        name="模块访问人数",
        description="当日进入各模块的不同居民账户数；合计为当日进入任一模块的账户数。",
        requirement="SP-7",
        datasets=("pa_module_visits", "pa_sessions"),
        grain="day",
        dimensions=("module",),
        unit="人",
        kind="distinct",
        sql=f"""
WITH {_DAYS},
{_MODULE_LIST},
{_RESIDENT_MODULE_VISITS}
SELECT calendar.period_start, modules.module,
       CAST(count(DISTINCT visits.account_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM calendar CROSS JOIN modules
LEFT JOIN visits ON visits.period_start = calendar.period_start
                AND visits.module = modules.module
GROUP BY GROUPING SETS ((calendar.period_start, modules.module), (calendar.period_start))
""",
    ),
    Indicator(
        code="pa_module_visits_by_institution",
        name="机构模块访问人次",
        description="当日进入各模块且指明医疗机构的访问人次，按机构与模块分列。",
        requirement="SP-7",
        datasets=("pa_module_visits", "pa_sessions"),
        grain="day",
        dimensions=("institution", "module"),
        unit="人次",
        kind="count",
        sql=f"""
WITH {_RESIDENT_MODULE_VISITS}
SELECT period_start, institution_code AS institution, module,
       CAST(count(DISTINCT visit_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM visits
WHERE institution_code IS NOT NULL
GROUP BY period_start, institution_code, module
""",
    ),
    # --- Generality: later dashboards only add declarations like these ------------------
    Indicator(
        code="appt_bookings",
        name="预约量",
        description="当日成功预约数（按预约创建时间归日，不含已取消）；合计行为全区。",
        requirement="SB-4",
        datasets=("appointments",),
        grain="day",
        dimensions=("institution",),
        unit="人次",
        kind="count",
        sql="""
SELECT CAST(created_at AS DATE) AS period_start, institution_code AS institution,
       CAST(count(DISTINCT appointment_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM clean_appointments
WHERE status <> 'cancelled' AND CAST(created_at AS DATE) BETWEEN :start AND :end
GROUP BY GROUPING SETS ((CAST(created_at AS DATE), institution_code), (CAST(created_at AS DATE)))
""",
    ),
    Indicator(
        code="appt_cancellations",
        name="预约取消量",
        description="按预约创建时间归日的已取消预约数（单列系列）；合计行为全区。",
        requirement="SB-4",
        datasets=("appointments",),
        grain="day",
        dimensions=("institution",),
        unit="人次",
        kind="count",
        sql="""
SELECT CAST(created_at AS DATE) AS period_start, institution_code AS institution,
       CAST(count(DISTINCT appointment_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM clean_appointments
WHERE status = 'cancelled' AND CAST(created_at AS DATE) BETWEEN :start AND :end
GROUP BY GROUPING SETS ((CAST(created_at AS DATE), institution_code), (CAST(created_at AS DATE)))
""",
    ),
    Indicator(
        code="ih_consultations_accepted",
        name="互联网诊疗问诊人次",
        description="当日被医生接诊的问诊数（按接诊时间归日），按机构与问诊方式分列。",
        requirement="SB-4",
        datasets=("consultations",),
        grain="day",
        dimensions=("institution", "mode"),
        unit="人次",
        kind="count",
        sql="""
WITH accepted AS (
  SELECT CAST(accepted_at AS DATE) AS period_start, institution_code, mode, consultation_id
  FROM clean_consultations
  WHERE accepted_at IS NOT NULL AND CAST(accepted_at AS DATE) BETWEEN :start AND :end
)
SELECT period_start, institution_code AS institution, mode,
       CAST(count(DISTINCT consultation_id) AS DOUBLE) AS value,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator
FROM accepted
GROUP BY GROUPING SETS (
  (period_start, institution_code, mode), (period_start, institution_code),
  (period_start, mode), (period_start)
)
""",
    ),
)

_BY_CODE = {item.code: item for item in INDICATORS}
if len(_BY_CODE) != len(INDICATORS):
    raise ValueError("duplicate indicator codes in the catalogue")


def indicator(code: str) -> Indicator:
    """The declared indicator ``code``; KeyError naming it otherwise."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown indicator {code!r}") from None


def indicators_for_requirement(requirement: str) -> tuple[Indicator, ...]:
    return tuple(item for item in INDICATORS if item.requirement == requirement)
