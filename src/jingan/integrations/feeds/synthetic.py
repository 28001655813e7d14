"""Deterministic synthetic source data at district scale (SB-1 demo and bench).

``generate(dataset, day, scale=..., seed=...)`` returns one day of one source dataset
as a pyarrow Table whose columns are the dataset's declared names, in declared order.
A day depends only on ``(seed, scale, dataset, day)``: the feed simulator, the demo and
tests can each produce any day on its own and in any order and get the same rows.

The shapes follow the reference calibration (indicator definitions §11): a stable
resident population per scale (district ≈ 975k, Shanghai-like ages with ≈29 % aged
60+), ~60 % of them registering on the public account over its life, real-name
verification mostly by face, sessions with weekday/holiday and hour-of-day patterns,
26 institutions weighted by size, and a small rate of deliberately bad rows so cleaning
has something to reject.

Everything is vectorised with numpy; strings (IDs, codes) are built as byte matrices,
never row by row. ``jingan.integrations`` may not import ``jingan.supervision``, so the
column lists are restated here; collection checks the header, so a drift is caught.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

Scale = Literal["tiny", "small", "district"]

RESIDENTS: dict[str, int] = {"tiny": 2_000, "small": 20_000, "district": 975_707}
DISTRICT_RESIDENTS = RESIDENTS["district"]

# 健康静安 went live in all district institutions on this day (reference §11).
LAUNCH = date(2021, 6, 28)
# Registrations are spread from the launch to here: the account keeps growing in any
# demo window the platform will plausibly be shown in.
HORIZON = date(2030, 12, 31)
# The age structure holds on this day; everyone then ages with the calendar (no births
# or deaths), which keeps each person's ID number and age consistent on every day.
AGE_REFERENCE_DAY = date(2026, 1, 1)
EPOCH = date(1970, 1, 1)
DAY_SECONDS = 86_400

# Share of rows deliberately broken (missing required field, unknown module, negative fee).
BAD_ROW_RATE = 0.0005

_TS = pa.timestamp("s")
_STR = pa.string()

# The declared columns of supervision.datasets, restated (see module docstring).
COLUMNS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "pa_registrations": (
        ("account_id", _STR),
        ("registered_at", _TS),
        ("channel", _STR),
        ("deregistered_at", _TS),
    ),
    "pa_realname": (
        ("application_id", _STR),
        ("account_id", _STR),
        ("submitted_at", _TS),
        ("method", _STR),
        ("outcome", _STR),
        ("decided_at", _TS),
        ("id_number", _STR),
    ),
    "pa_sessions": (
        ("session_id", _STR),
        ("account_id", _STR),
        ("started_at", _TS),
        ("ended_at", _TS),
        ("page_views", pa.int64()),
        ("is_staff", pa.bool_()),
    ),
    "pa_module_visits": (
        ("visit_id", _STR),
        ("session_id", _STR),
        ("account_id", _STR),
        ("module", _STR),
        ("visited_at", _TS),
        ("institution_code", _STR),
    ),
    "appointments": (
        ("appointment_id", _STR),
        ("account_id", _STR),
        ("institution_code", _STR),
        ("department_code", _STR),
        ("channel", _STR),
        ("created_at", _TS),
        ("slot_date", pa.date32()),
        ("status", _STR),
        ("id_number", _STR),
    ),
    "registrations": (
        ("registration_id", _STR),
        ("appointment_id", _STR),
        ("institution_code", _STR),
        ("department_code", _STR),
        ("registered_at", _TS),
        ("status", _STR),
        ("fee", pa.float64()),
        ("id_number", _STR),
    ),
    "consultations": (
        ("consultation_id", _STR),
        ("institution_code", _STR),
        ("doctor_code", _STR),
        ("mode", _STR),
        ("paid_at", _TS),
        ("accepted_at", _TS),
        ("closed_at", _TS),
        ("status", _STR),
        ("fee", pa.float64()),
        ("prescription_amount", pa.float64()),
        ("delivery", pa.bool_()),
        ("delivered_at", _TS),
        ("review_stars", pa.int64()),
        ("diagnosis_code", _STR),
        ("id_number", _STR),
    ),
    "proxy_medication": (
        ("order_id", _STR),
        ("institution_code", _STR),
        ("kind", _STR),
        ("ordered_at", _TS),
        ("status", _STR),
        ("amount", pa.float64()),
        ("id_number", _STR),
    ),
    "renewals": (
        ("renewal_id", _STR),
        ("institution_code", _STR),
        ("requested_at", _TS),
        ("status", _STR),
        ("id_number", _STR),
    ),
    "care_orders": (
        ("order_id", _STR),
        ("institution_code", _STR),
        ("service_type", _STR),
        ("ordered_at", _TS),
        ("status", _STR),
        ("amount", pa.float64()),
        ("id_number", _STR),
    ),
}
DATASET_NAMES = tuple(COLUMNS)
PUBLIC_ACCOUNT_DATASETS = ("pa_registrations", "pa_realname", "pa_sessions", "pa_module_visits")
INTERNET_HOSPITAL_DATASETS = ("consultations", "proxy_medication", "renewals", "care_orders")
REGIONAL_DATASETS = ("appointments", "registrations")

# Required (non-nullable) columns where a bad row may lose its value: never the key or
# the date column, which place the row; a missing one of those is a different failure.
_BREAKABLE = {
    "pa_registrations": "channel",
    "pa_realname": "id_number",
    "pa_sessions": "account_id",
    "pa_module_visits": "account_id",
    "appointments": "institution_code",
    "registrations": "department_code",
    "consultations": "doctor_code",
    "proxy_medication": "kind",
    "renewals": "institution_code",
    "care_orders": "service_type",
}
_NEGATIVE = {"registrations": "fee", "consultations": "fee", "proxy_medication": "amount",
             "care_orders": "amount"}  # fmt: skip

MODULE_SHARES = {
    "health_record": 0.14,
    "outpatient_booking": 0.24,
    "inpatient_service": 0.05,
    "cloud_accompaniment": 0.03,
    "internet_care": 0.12,
    "drug_lookup": 0.10,
    "renewal": 0.08,
    "proxy_medication": 0.05,
    "vaccination": 0.09,
    "physical_exam": 0.10,
}
_MODULES = np.array(list(MODULE_SHARES), dtype=object)
_MODULE_P = np.array(list(MODULE_SHARES.values()))

# The 26 institutions (core.institutions reference data): code suffix → (kind, inpatient,
# relative outpatient size). Sizes: district hospitals first, community centres smaller.
_KINDS = (
    ["hospital"] * 6
    + ["rehabilitation"] * 2
    + ["station"] * 2
    + ["specialist"]
    + ["community"] * 15
)
INSTITUTIONS = np.array([f"310106{n:03d}" for n in range(1, 27)], dtype=object)
_SIZE = np.array(
    [10, 8, 7, 5, 6, 3, 1.5, 1.5, 2.5, 2, 2]
    + [1.6, 1.4, 1.2, 1.0, 1.3, 1.1, 1.2, 1.4, 1.5, 1.3, 1.2, 1.0, 1.1, 0.9, 1.0]  # fmt: skip
)
_INPATIENT = np.array([True] * 8 + [False, False, True, True, True, False, True]
                      + [False] * 5 + [True] * 6)  # fmt: skip
_KIND = np.array(_KINDS, dtype=object)
_COMMUNITY = _KIND == "community"


def _institution_weights(mask: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    weights = np.where(mask, _SIZE, 0.0)
    if extra is not None:
        weights = weights * extra
    return weights / weights.sum()


_W_OUTPATIENT = _institution_weights(np.ones(26, dtype=bool))
_W_INPATIENT = _institution_weights(_INPATIENT)
_W_VACCINATION = _institution_weights(_COMMUNITY | (INSTITUTIONS == "310106009"))
_W_EXAM = _institution_weights(_COMMUNITY | (_KIND == "hospital"))
# Internet care: the district hospitals carry most of it; community centres some.
_W_INTERNET = _institution_weights(
    (_KIND == "hospital") | (_KIND == "specialist") | (_KIND == "rehabilitation") | _COMMUNITY,
    np.where(_COMMUNITY, 0.25, 1.0),
)
_W_CARE = _institution_weights(_COMMUNITY | (_KIND == "rehabilitation"))
_DOCTORS = np.where(_KIND == "hospital", 30, np.where(_COMMUNITY, 6, 10))

# Department codes (卫统 诊疗科目 codes) offered by kind of institution.
_DEPARTMENTS = {
    "hospital": (["03", "04", "05", "07", "10", "11", "12", "13", "50", "02"],
                 [0.30, 0.15, 0.08, 0.07, 0.06, 0.05, 0.06, 0.05, 0.12, 0.06]),
    "rehabilitation": (["20", "03", "50"], [0.6, 0.25, 0.15]),
    "station": (["05", "07", "12"], [0.4, 0.3, 0.3]),
    "specialist": (["15", "03"], [0.9, 0.1]),
    "community": (["02", "03", "50", "01", "20"], [0.55, 0.15, 0.15, 0.1, 0.05]),
}  # fmt: skip
_FEES = {
    "hospital": ([14.0, 22.0, 35.0], [0.6, 0.3, 0.1]),
    "rehabilitation": ([14.0, 22.0], [0.8, 0.2]),
    "station": ([12.0, 14.0], [0.7, 0.3]),
    "specialist": ([14.0, 22.0, 35.0], [0.6, 0.3, 0.1]),
    "community": ([12.0], [1.0]),
}

# Chronic-disease follow-up diagnoses (internet care is follow-up only, reference §2).
_DIAGNOSES = np.array(
    ["I10", "E11.9", "E78.5", "I25.1", "J44.9", "K21.9", "M81.9", "N40", "J45.9",
     "F32.9", "G47.0", "K29.7", "I63.9", "M17.9", "E03.9", "J30.4"], dtype=object)  # fmt: skip
_DIAGNOSIS_P = np.array([22, 16, 10, 8, 5, 5, 4, 4, 3, 4, 4, 4, 3, 3, 3, 2], dtype=float)
_DIAGNOSIS_P /= _DIAGNOSIS_P.sum()

# Five-year age bands 0–4 … 95–99 (percent): a central-Shanghai profile, ≈29 % aged 60+.
_AGE_BANDS = np.array(
    [3.2, 4.0, 3.8, 3.0, 4.0, 6.0, 7.8, 7.6, 6.6, 6.0, 6.3, 7.0, 6.4, 6.2, 5.4, 3.5, 2.3,
     1.6, 0.6, 0.15])  # fmt: skip

# Hour-of-day weights of phone use (morning peak, lunch dip, evening shoulder) and of
# hospital activity (office hours).
_HOURS_PHONE = np.array(
    [1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 9, 10, 8, 6, 5, 5, 6, 6, 5, 4, 4, 5, 5, 4, 3, 2], float
)
_HOURS_CLINIC = np.array(
    [0, 0, 0, 0, 0, 0, 0.5, 6, 10, 10, 8, 5, 2, 5, 7, 6, 4, 1, 0.5, 0.3, 0.2, 0, 0, 0], float
)
_HOURS_ONLINE = np.array(
    [0.5, 0.2, 0.1, 0.1, 0.2, 0.5, 2, 4, 7, 8, 7, 5, 4, 5, 6, 6, 5, 4, 4, 5, 5, 4, 2, 1], float
)
_HOURS_PHONE /= _HOURS_PHONE.sum()
_HOURS_CLINIC /= _HOURS_CLINIC.sum()
_HOURS_ONLINE /= _HOURS_ONLINE.sum()

# Volume factors by kind of day (workday, weekend, holiday) per family of dataset.
_DAY_FACTORS = {
    "phone": (1.0, 0.80, 0.65),
    "clinic": (1.0, 0.35, 0.15),
    "online": (1.0, 0.60, 0.45),
}

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


# --------------------------------------------------------------------------- calendar


def day_type(day: date) -> Literal["workday", "weekend", "holiday"]:
    """Workday (incl. make-up weekend days), statutory holiday, or ordinary weekend.

    Outside chinese_calendar's data years Mon–Fri are workdays and nothing is a holiday
    (reference §10 fallback).
    """
    import chinese_calendar

    try:
        if chinese_calendar.is_workday(day):
            return "workday"
        _, holiday_name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return "workday" if day.weekday() < 5 else "weekend"
    return "holiday" if holiday_name is not None else "weekend"


def _day_factor(day: date, family: str) -> float:
    workday, weekend, holiday = _DAY_FACTORS[family]
    kind = day_type(day)
    return workday if kind == "workday" else weekend if kind == "weekend" else holiday


# --------------------------------------------------------------------------- helpers


def _stable(text: str) -> int:
    return zlib.crc32(text.encode())


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, *(_stable(str(p)) for p in parts)])


def _day_start(day: date) -> int:
    return (day - EPOCH).days * DAY_SECONDS


def _digits_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as a string array, built as a byte matrix."""
    count = len(numbers)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    matrix = np.empty((count, len(head) + width), dtype=np.uint8)
    matrix[:, : len(head)] = head
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    matrix[:, len(head) :] = (numbers.astype(np.int64)[:, None] // powers % 10) + 48
    return _bytes_to_strings(matrix)


def _bytes_to_strings(matrix: np.ndarray) -> pa.Array:
    count, width = matrix.shape
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(np.ascontiguousarray(matrix).tobytes())
    )


def _times(seconds: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(seconds.astype(np.int64), type=_TS, mask=missing)


def _choice(rng: np.random.Generator, values: np.ndarray, p: np.ndarray, size: int) -> np.ndarray:
    return values[rng.choice(len(values), size=size, p=p)]


def _strings(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, type=_STR, mask=missing)


def _seconds_in_day(rng: np.random.Generator, hours: np.ndarray, size: int) -> np.ndarray:
    hour = rng.choice(24, size=size, p=hours)
    return hour * 3600 + rng.integers(0, 3600, size=size)


def _growth(day: date) -> float:
    # Service volumes grow with adoption: 60 % at launch to full use five years on.
    years = max(0.0, (day - LAUNCH).days / 365.25)
    return 0.6 + 0.4 * min(1.0, years / 5)


def _count(rng: np.random.Generator, mean: float) -> int:
    # Small scales keep Poisson noise; large ones a few percent of day-to-day noise.
    noisy = mean * float(np.exp(rng.normal(0.0, 0.05)))
    return int(rng.poisson(noisy)) if noisy < 200 else round(noisy)


# --------------------------------------------------------------------------- population


@dataclass(frozen=True)
class Population:
    """The residents of one scale and seed; accounts are the registering residents sorted
    by registration time, so "registered by t" is always a prefix."""

    size: int
    birth_day: np.ndarray  # days since 1970-01-01
    male: np.ndarray
    id_base: np.ndarray  # the 17 leading digits of the ID number, as an integer
    care_weight: np.ndarray  # how often a resident needs care (age-driven)
    account_resident: np.ndarray  # account → resident index
    account_number: np.ndarray  # account → scrambled number in its account_id
    account_registered: np.ndarray  # seconds, ascending
    account_deregistered: np.ndarray  # seconds, or -1
    account_channel: np.ndarray
    account_activity: np.ndarray  # relative propensity to open the account on a day
    realname_order: np.ndarray  # accounts that applied, by submission time
    realname_submitted: np.ndarray
    realname_manual: np.ndarray
    realname_outcome: np.ndarray
    realname_decided: np.ndarray  # seconds, or -1 (pending)
    staff_accounts: int
    elderly: np.ndarray  # resident indices aged 60+ on the reference day
    minors: np.ndarray  # resident indices under 18 on the reference day

    def age_at(self, day: date) -> np.ndarray:
        """Full years (approximately) of every resident on ``day``."""
        return ((day - EPOCH).days - self.birth_day) // 365.2425

    def id_numbers(self, residents: np.ndarray) -> pa.Array:
        """Valid 18-digit ID numbers (GB 11643 check digit) of ``residents``."""
        base = self.id_base[residents]
        powers = 10 ** np.arange(16, -1, -1, dtype=np.int64)
        digits = base[:, None] // powers % 10
        matrix = np.empty((len(residents), 18), dtype=np.uint8)
        matrix[:, :17] = digits + 48
        matrix[:, 17] = _ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
        return _bytes_to_strings(matrix)

    def account_ids(self, accounts: np.ndarray) -> pa.Array:
        return _digits_strings("wx", self.account_number[accounts], 9)

    def staff_ids(self, staff: np.ndarray) -> pa.Array:
        return _digits_strings("staff", staff, 5)


def _age_structure_days(rng: np.random.Generator, size: int) -> np.ndarray:
    band = rng.choice(len(_AGE_BANDS), size=size, p=_AGE_BANDS / _AGE_BANDS.sum())
    return band * 1826 + rng.integers(0, 1826, size=size)  # age in days on the reference day


@lru_cache(maxsize=4)
def population(scale: Scale, seed: int) -> Population:
    """The stable residents and accounts of ``scale`` (cached: built once per process)."""
    size = RESIDENTS[scale]
    rng = _rng(seed, "population", scale)
    age_days = _age_structure_days(rng, size)
    birth_day = (AGE_REFERENCE_DAY - EPOCH).days - age_days
    male = rng.random(size) < 0.49
    age = age_days // 365
    # 310108 (former Zhabei) for part of those born before the 2015 merger, else 310106.
    born_before_merger = birth_day < (date(2015, 11, 1) - EPOCH).days
    area = np.where(born_before_merger & (rng.random(size) < 0.45), 310108, 310106)
    births = np.datetime64("1970-01-01") + birth_day.astype("timedelta64[D]")
    year = births.astype("datetime64[Y]").astype(np.int64) + 1970
    month = births.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (births - births.astype("datetime64[M]")).astype(np.int64) + 1
    # Sequence numbers unique per (area, birth date); odd for men (GB 11643).
    order = np.lexsort((rng.random(size), birth_day, area))
    group_key = area[order] * 100_000 + birth_day[order]
    starts = np.r_[0, np.flatnonzero(np.diff(group_key)) + 1]
    rank = np.arange(size) - np.repeat(starts, np.diff(np.r_[starts, size]))
    sequence = np.empty(size, dtype=np.int64)
    sequence[order] = 2 * rank + 10
    sequence = sequence + male.astype(np.int64)
    id_base = area * 10**11 + year * 10**7 + month * 10**5 + dom * 10**3 + sequence

    care_weight = np.select(
        [age < 7, age < 18, age < 45, age < 60, age < 80], [1.4, 0.8, 0.7, 1.0, 2.2], 3.0
    ) * rng.lognormal(0.0, 0.5, size)

    # Who registers on the public account, and when.
    register_p = np.select(
        [age < 14, age < 18, age < 45, age < 60, age < 80], [0.05, 0.45, 0.80, 0.76, 0.58], 0.30
    )
    registers = np.flatnonzero(rng.random(size) < register_p)
    span = (HORIZON - LAUNCH).days + 1
    t = np.arange(span)
    daily = 1.0 / (1.0 + t / 300.0) + 2.5 * np.exp(-t / 20.0)  # launch campaign, then decay
    lockdown = (t >= (date(2022, 4, 1) - LAUNCH).days) & (t < (date(2022, 6, 1) - LAUNCH).days)
    daily = np.where(lockdown, daily * 2.2, daily)
    day_index = rng.choice(span, size=len(registers), p=daily / daily.sum())
    start0 = _day_start(LAUNCH)
    registered = (
        start0 + day_index * DAY_SECONDS + _seconds_in_day(rng, _HOURS_PHONE, len(registers))
    )
    by_time = np.argsort(registered, kind="stable")
    account_resident = registers[by_time]
    account_registered = registered[by_time]
    accounts = len(account_resident)
    # A scrambled but unique account number: multiplication modulo a prime is a bijection.
    account_number = (account_resident.astype(np.int64) + 1) * 48_271 % 999_999_937
    deregisters = rng.random(accounts) < 0.015
    account_deregistered = np.where(
        deregisters,
        account_registered + 3600 + rng.exponential(120 * DAY_SECONDS, accounts).astype(np.int64),
        -1,
    )
    account_channel = _choice(
        rng, np.array(["menu", "scan", "share", "search"], dtype=object),
        np.array([0.45, 0.35, 0.12, 0.08]), accounts,
    )  # fmt: skip
    account_age = age[account_resident]
    account_activity = np.select(
        [account_age < 18, account_age < 45, account_age < 60, account_age < 80],
        [0.6, 0.9, 1.1, 1.4], 0.9,
    ) * rng.lognormal(0.0, 0.8, accounts)  # fmt: skip

    # Real-name verification: most apply within minutes of registering, some days later.
    applies = np.flatnonzero(rng.random(accounts) < 0.88)
    soon = rng.random(len(applies)) < 0.7
    delay = np.where(
        soon,
        rng.integers(30, 900, len(applies)),
        rng.exponential(6 * DAY_SECONDS, len(applies)).astype(np.int64) + 900,
    )
    submitted = account_registered[applies] + delay
    manual = rng.random(len(applies)) < 0.03
    roll = rng.random(len(applies))
    outcome = np.where(
        manual,
        np.where(roll < 0.02, "pending", np.where(roll < 0.16, "rejected", "approved")),
        np.where(roll < 0.04, "rejected", "approved"),
    ).astype(object)
    review = np.where(
        manual,
        # Manual review waits for office hours: 2 hours to 3 days.
        rng.integers(2 * 3600, 72 * 3600, len(applies)),
        rng.integers(5, 60, len(applies)),
    )
    decided = np.where(outcome == "pending", -1, submitted + review)
    realname_by_time = np.argsort(submitted, kind="stable")

    return Population(
        size=size,
        birth_day=birth_day,
        male=male,
        id_base=id_base,
        care_weight=care_weight,
        account_resident=account_resident,
        account_number=account_number,
        account_registered=account_registered,
        account_deregistered=account_deregistered,
        account_channel=account_channel,
        account_activity=account_activity,
        realname_order=applies[realname_by_time],
        realname_submitted=submitted[realname_by_time],
        realname_manual=manual[realname_by_time],
        realname_outcome=outcome[realname_by_time],
        realname_decided=decided[realname_by_time],
        staff_accounts=max(3, size // 5000),
        elderly=np.flatnonzero(age >= 60),
        minors=np.flatnonzero(age < 18),
    )


def _weighted_sample(
    rng: np.random.Generator, weights: np.ndarray, size: int, *, replace: bool = True
) -> np.ndarray:
    if size == 0 or len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    if replace:
        cumulative = np.cumsum(weights)
        return np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right")
    size = min(size, len(weights))
    # Efraimidis–Spirakis: the largest log(u)/w are a weighted sample without replacement.
    keys = np.log(rng.random(len(weights))) / weights
    return np.argpartition(-keys, size - 1)[:size]


# --------------------------------------------------------------------------- bad rows


def _break_rows(
    rng: np.random.Generator, dataset: str, columns: dict[str, pa.Array]
) -> dict[str, pa.Array]:
    """Corrupt a few rows on purpose (missing required field, unknown module, negative fee)."""
    rows = len(next(iter(columns.values())))
    count = int(rng.binomial(rows, BAD_ROW_RATE)) if rows else 0
    if count == 0:
        return columns
    chosen = rng.choice(rows, size=count, replace=False)
    kinds = rng.integers(0, 2, count)
    mask_missing = np.zeros(rows, dtype=bool)
    mask_other = np.zeros(rows, dtype=bool)
    mask_missing[chosen[kinds == 0]] = True
    mask_other[chosen[kinds == 1]] = True
    if dataset == "pa_module_visits":
        columns["module"] = pc.if_else(
            pa.array(mask_other), pa.scalar("unknown_module"), columns["module"]
        )
    elif dataset in _NEGATIVE:
        name = _NEGATIVE[dataset]
        columns[name] = pc.if_else(pa.array(mask_other), pc.negate(columns[name]), columns[name])
    else:
        mask_missing |= mask_other
    name = _BREAKABLE[dataset]
    columns[name] = pc.if_else(
        pa.array(mask_missing), pa.scalar(None, type=columns[name].type), columns[name]
    )
    return columns


# --------------------------------------------------------------------------- datasets


def _pa_registrations(pop: Population, day: date, rng: np.random.Generator) -> dict[str, pa.Array]:
    start = _day_start(day)
    first, last = np.searchsorted(pop.account_registered, [start, start + DAY_SECONDS])
    accounts = np.arange(first, last)
    deregistered = pop.account_deregistered[accounts]
    return {
        "account_id": pop.account_ids(accounts),
        "registered_at": _times(pop.account_registered[accounts]),
        "channel": _strings(pop.account_channel[accounts]),
        "deregistered_at": _times(deregistered, deregistered < 0),
    }


def _pa_realname(pop: Population, day: date, rng: np.random.Generator) -> dict[str, pa.Array]:
    start = _day_start(day)
    first, last = np.searchsorted(pop.realname_submitted, [start, start + DAY_SECONDS])
    rows = np.arange(first, last)
    accounts = pop.realname_order[rows]
    decided = pop.realname_decided[rows]
    return {
        "application_id": _digits_strings(f"RN{day:%Y%m%d}", np.arange(len(rows)), 6),
        "account_id": pop.account_ids(accounts),
        "submitted_at": _times(pop.realname_submitted[rows]),
        "method": _strings(np.where(pop.realname_manual[rows], "manual", "face").astype(object)),
        "outcome": _strings(pop.realname_outcome[rows]),
        "decided_at": _times(decided, decided < 0),
        "id_number": pop.id_numbers(pop.account_resident[accounts]),
    }


@dataclass(frozen=True)
class _Sessions:
    account: np.ndarray  # account index, or -1 - staff number for staff sessions
    started: np.ndarray
    ended: np.ndarray
    page_views: np.ndarray


@lru_cache(maxsize=8)
def _sessions(scale: Scale, seed: int, day: date) -> _Sessions:
    pop = population(scale, seed)
    rng = _rng(seed, scale, "pa_sessions", day.isoformat())
    start = _day_start(day)
    registered = int(np.searchsorted(pop.account_registered, start + DAY_SECONDS))
    # DAU ≈ 5.5 % of registered accounts on a workday (tens of thousands at district scale).
    active = min(registered, _count(rng, registered * 0.055 * _day_factor(day, "phone")))
    users = np.sort(_weighted_sample(rng, pop.account_activity[:registered], active, replace=False))
    per_user = 1 + rng.poisson(0.25, len(users))
    account = np.repeat(users, per_user)
    staff_sessions = _count(rng, len(account) * 0.03) if len(account) else 0
    staff = -1 - rng.integers(0, pop.staff_accounts, staff_sessions)
    account = np.r_[account, staff]
    total = len(account)
    started = start + _seconds_in_day(rng, _HOURS_PHONE, total)
    # A resident registering today opens the account only after registering.
    is_user = account >= 0
    registered_at = np.where(is_user, pop.account_registered[np.maximum(account, 0)], 0)
    started = np.where(
        is_user & (started < registered_at),
        np.minimum(registered_at + rng.integers(5, 600, total), start + DAY_SECONDS - 1),
        started,
    )
    duration = np.clip(rng.lognormal(np.log(150), 0.9, total), 8, 7200).astype(np.int64)
    order = np.argsort(started, kind="stable")
    return _Sessions(
        account=account[order],
        started=started[order],
        ended=started[order] + duration[order],
        page_views=1 + rng.poisson(4, total)[order],
    )


def _account_column(pop: Population, account: np.ndarray) -> pa.Array:
    is_user = account >= 0
    users = pop.account_ids(np.maximum(account, 0))
    staff = pop.staff_ids(-1 - np.minimum(account, -1))
    return pc.if_else(pa.array(is_user), users, staff)


def _session_ids(day: date, count: int) -> pa.Array:
    return _digits_strings(f"S{day:%Y%m%d}", np.arange(count), 7)


def _pa_sessions(pop: Population, day: date, sessions: _Sessions) -> dict[str, pa.Array]:
    return {
        "session_id": _session_ids(day, len(sessions.account)),
        "account_id": _account_column(pop, sessions.account),
        "started_at": _times(sessions.started),
        "ended_at": _times(sessions.ended),
        "page_views": pa.array(sessions.page_views.astype(np.int64)),
        "is_staff": pa.array(sessions.account < 0),
    }


def _pa_module_visits(
    pop: Population, day: date, sessions: _Sessions, rng: np.random.Generator
) -> dict[str, pa.Array]:
    count = len(sessions.account)
    per_session = 1 + rng.poisson(0.35, count)
    session = np.repeat(np.arange(count), per_session)
    total = len(session)
    module = _choice(rng, _MODULES, _MODULE_P, total)
    length = sessions.ended[session] - sessions.started[session]
    visited = sessions.started[session] + (rng.random(total) * length).astype(np.int64)
    institution = np.full(total, None, dtype=object)
    for name, weights in (
        ("outpatient_booking", _W_OUTPATIENT),
        ("inpatient_service", _W_INPATIENT),
        ("vaccination", _W_VACCINATION),
        ("physical_exam", _W_EXAM),
    ):
        where = module == name
        institution[where] = _choice(rng, INSTITUTIONS, weights, int(where.sum()))
    order = np.argsort(visited, kind="stable")
    session_ids = _session_ids(day, count)
    return {
        "visit_id": _digits_strings(f"V{day:%Y%m%d}", np.arange(total), 8),
        "session_id": session_ids.take(pa.array(session[order])),
        "account_id": _account_column(pop, sessions.account[session[order]]),
        "module": _strings(module[order]),
        "visited_at": _times(visited[order]),
        "institution_code": _strings(institution[order], institution[order] == None),  # noqa: E711
    }


def _departments(rng: np.random.Generator, institution: np.ndarray) -> np.ndarray:
    department = np.empty(len(institution), dtype=object)
    kinds = _KIND[institution]
    for kind, (codes, weights) in _DEPARTMENTS.items():
        where = kinds == kind
        department[where] = _choice(
            rng, np.array(codes, dtype=object), np.array(weights), int(where.sum())
        )
    return department


@dataclass(frozen=True)
class _Appointments:
    resident: np.ndarray
    account: np.ndarray  # -1 when not booked through the public account
    institution: np.ndarray  # index into INSTITUTIONS
    department: np.ndarray
    channel: np.ndarray
    created: np.ndarray
    slot_day: np.ndarray  # days since epoch
    status: np.ndarray


@lru_cache(maxsize=32)
def _appointments(scale: Scale, seed: int, day: date) -> _Appointments:
    pop = population(scale, seed)
    rng = _rng(seed, scale, "appointments", day.isoformat())
    factor = pop.size / DISTRICT_RESIDENTS
    # Bookings are made online at any time, so they vary less by day than visits do.
    total = _count(rng, 6_000 * factor * _growth(day) * _day_factor(day, "online"))
    channel = _choice(
        rng, np.array(["jingan", "phone", "window", "referral"], dtype=object),
        np.array([0.45, 0.10, 0.30, 0.15]), total,
    )  # fmt: skip
    start = _day_start(day)
    online = channel == "jingan"
    created = start + np.where(
        online,
        _seconds_in_day(rng, _HOURS_ONLINE, total),
        _seconds_in_day(rng, _HOURS_CLINIC, total),
    )
    registered = int(np.searchsorted(pop.account_registered, start))
    account = np.full(total, -1, dtype=np.int64)
    resident = _weighted_sample(rng, pop.care_weight, total)
    if registered:
        online_accounts = _weighted_sample(
            rng, pop.care_weight[pop.account_resident[:registered]], int(online.sum())
        )
        account[online] = online_accounts
        resident[online] = pop.account_resident[online_accounts]
    else:
        channel[online] = "window"
    institution = rng.choice(26, size=total, p=_W_OUTPATIENT)
    lead = np.minimum(rng.geometric(0.25, total) - 1, 14)
    roll = rng.random(total)
    status = np.where(
        roll < 0.09, "cancelled",
        np.where(roll < 0.16, "no_show", np.where(roll < 0.17, "booked", "attended")),
    ).astype(object)  # fmt: skip
    order = np.argsort(created, kind="stable")
    return _Appointments(
        resident=resident[order],
        account=account[order],
        institution=institution[order],
        department=_departments(rng, institution)[order],
        channel=channel[order],
        created=created[order],
        slot_day=(day - EPOCH).days + lead[order],
        status=status[order],
    )


def _appointment_ids(day: date, rows: np.ndarray) -> pa.Array:
    return _digits_strings(f"A{day:%Y%m%d}", rows, 7)


def _appointments_columns(pop: Population, day: date, booked: _Appointments) -> dict[str, pa.Array]:
    count = len(booked.resident)
    account = booked.account
    return {
        "appointment_id": _appointment_ids(day, np.arange(count)),
        "account_id": pc.if_else(
            pa.array(account >= 0), pop.account_ids(np.maximum(account, 0)), pa.scalar(None, _STR)
        ),
        "institution_code": _strings(INSTITUTIONS[booked.institution]),
        "department_code": _strings(booked.department),
        "channel": _strings(booked.channel),
        "created_at": _times(booked.created),
        "slot_date": pa.array(booked.slot_day.astype(np.int32), type=pa.date32()),
        "status": _strings(booked.status),
        "id_number": pop.id_numbers(booked.resident),
    }


def _registrations(
    scale: Scale, seed: int, pop: Population, day: date, rng: np.random.Generator
) -> dict[str, pa.Array]:
    today = (day - EPOCH).days
    start = _day_start(day)
    # Attended bookings whose slot is today, made up to 14 days before.
    booked_ids: list[pa.Array] = []
    booked_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lead in range(14, -1, -1):
        made = day - timedelta(days=lead)
        booked = _appointments(scale, seed, made)
        rows = np.flatnonzero((booked.slot_day == today) & (booked.status == "attended"))
        booked_ids.append(_appointment_ids(made, rows))
        booked_parts.append(
            (booked.resident[rows], booked.institution[rows], booked.department[rows])
        )
    walk_ins = _count(rng, 8_000 * pop.size / DISTRICT_RESIDENTS * _growth(day)
                      * _day_factor(day, "clinic"))  # fmt: skip
    walk_institution = rng.choice(26, size=walk_ins, p=_W_OUTPATIENT)
    resident = np.concatenate([p[0] for p in booked_parts] + [
        _weighted_sample(rng, pop.care_weight, walk_ins)])  # fmt: skip
    institution = np.concatenate([p[1] for p in booked_parts] + [walk_institution])
    department = np.concatenate(
        [p[2] for p in booked_parts] + [_departments(rng, walk_institution)]
    )
    total = len(resident)
    appointment = pa.concat_arrays([a.cast(_STR) for a in booked_ids] + [pa.nulls(walk_ins, _STR)])
    registered = start + _seconds_in_day(rng, _HOURS_CLINIC, total)
    fee = np.empty(total, dtype=float)
    kinds = _KIND[institution]
    for kind, (fees, weights) in _FEES.items():
        where = kinds == kind
        fee[where] = rng.choice(np.array(fees), size=int(where.sum()), p=np.array(weights))
    refunded = rng.random(total) < 0.025
    order = np.argsort(registered, kind="stable")
    return {
        "registration_id": _digits_strings(f"R{day:%Y%m%d}", np.arange(total), 7),
        "appointment_id": appointment.take(pa.array(order)),
        "institution_code": _strings(INSTITUTIONS[institution[order]]),
        "department_code": _strings(department[order]),
        "registered_at": _times(registered[order]),
        "status": _strings(np.where(refunded, "refunded", "registered").astype(object)[order]),
        "fee": pa.array(fee[order]),
        "id_number": pop.id_numbers(resident[order]),
    }


@lru_cache(maxsize=4)
def _elder_weights(scale: Scale, seed: int, boost: float) -> np.ndarray:
    # Internet services lean old (reference §11: ≥ 50 % aged 60+): boost the elderly.
    pop = population(scale, seed)
    weights = pop.care_weight.copy()
    weights[pop.elderly] *= boost
    return np.cumsum(weights)


def _patients(
    scale: Scale, seed: int, rng: np.random.Generator, count: int, boost: float
) -> np.ndarray:
    cumulative = _elder_weights(scale, seed, boost)
    return np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")


def _online_times(rng: np.random.Generator, day: date, count: int) -> np.ndarray:
    return _day_start(day) + _seconds_in_day(rng, _HOURS_ONLINE, count)


def _money(values: np.ndarray) -> np.ndarray:
    return np.round(values, 2)


def _consultations(
    scale: Scale, seed: int, pop: Population, day: date, rng: np.random.Generator
) -> dict[str, pa.Array]:
    factor = pop.size / DISTRICT_RESIDENTS
    total = _count(rng, 1_200 * factor * _growth(day) * _day_factor(day, "online"))
    institution = rng.choice(26, size=total, p=_W_INTERNET)
    doctor = (rng.random(total) * _DOCTORS[institution]).astype(np.int64) + 1
    doctor_codes = pc.binary_join_element_wise(
        _strings(INSTITUTIONS[institution]), _digits_strings("D", doctor, 3), ""
    )
    mode = _choice(rng, np.array(["text", "voice", "video"], dtype=object),
                   np.array([0.6, 0.15, 0.25]), total)  # fmt: skip
    paid = _online_times(rng, day, total)
    roll = rng.random(total)
    status = np.where(
        roll < 0.03, "refused",
        np.where(roll < 0.05, "timeout", np.where(roll < 0.10, "cancelled", "completed")),
    ).astype(object)  # fmt: skip
    wait = np.clip(rng.lognormal(np.log(480), 0.9, total), 20, 6 * 3600).astype(np.int64)
    accepted = paid + wait
    has_accepted = status == "completed"
    duration = np.where(
        mode == "text",
        rng.lognormal(np.log(900), 0.6, total),
        rng.lognormal(np.log(480), 0.5, total),
    ).astype(np.int64)
    closed = np.where(has_accepted, accepted + duration, paid + wait)  # refusals close too
    has_closed = status != "cancelled"
    fee = np.where(
        mode == "text",
        rng.choice([10.0, 15.0, 20.0, 30.0], total),
        np.where(mode == "voice", rng.choice([20.0, 30.0], total), rng.choice([30.0, 50.0], total)),
    )
    prescribed = has_accepted & (rng.random(total) < 0.55)
    amount = _money(rng.lognormal(np.log(180), 0.6, total))
    delivery = prescribed & (rng.random(total) < 0.45)
    delivered = paid + np.clip(rng.lognormal(np.log(28 * 3600), 0.35, total), 4 * 3600,
                               7 * DAY_SECONDS).astype(np.int64)  # fmt: skip
    reviewed = has_accepted & (rng.random(total) < 0.4)
    stars = rng.choice([5, 4, 3, 2, 1], total, p=[0.70, 0.18, 0.06, 0.03, 0.03])
    diagnosis = _choice(rng, _DIAGNOSES, _DIAGNOSIS_P, total)
    patients = _patients(scale, seed, rng, total, 3.0)
    order = np.argsort(paid, kind="stable")
    o = pa.array(order)
    return {
        "consultation_id": _digits_strings(f"C{day:%Y%m%d}", np.arange(total), 6),
        "institution_code": _strings(INSTITUTIONS[institution[order]]),
        "doctor_code": doctor_codes.take(o),
        "mode": _strings(mode[order]),
        "paid_at": _times(paid[order]),
        "accepted_at": _times(accepted[order], ~has_accepted[order]),
        "closed_at": _times(closed[order], ~has_closed[order]),
        "status": _strings(status[order]),
        "fee": pa.array(fee[order]),
        "prescription_amount": pa.array(amount[order], mask=~prescribed[order]),
        "delivery": pa.array(delivery[order], mask=~prescribed[order]),
        "delivered_at": _times(delivered[order], ~delivery[order]),
        "review_stars": pa.array(stars[order].astype(np.int64), mask=~reviewed[order]),
        "diagnosis_code": _strings(diagnosis[order], ~has_accepted[order]),
        "id_number": pop.id_numbers(patients[order]),
    }


def _proxy_medication(
    scale: Scale, seed: int, pop: Population, day: date, rng: np.random.Generator
) -> dict[str, pa.Array]:
    total = _count(rng, 250 * pop.size / DISTRICT_RESIDENTS * _growth(day)
                   * _day_factor(day, "online"))  # fmt: skip
    kind = _choice(rng, np.array(["volunteer", "child_for_parent", "parent_for_minor"],
                                 dtype=object), np.array([0.15, 0.60, 0.25]), total)  # fmt: skip
    for_minor = kind == "parent_for_minor"
    patient = np.where(
        for_minor,
        pop.minors[rng.integers(0, max(len(pop.minors), 1), total)] if len(pop.minors) else 0,
        pop.elderly[rng.integers(0, max(len(pop.elderly), 1), total)] if len(pop.elderly) else 0,
    )
    institution = rng.choice(26, size=total, p=_W_CARE * 0.5 + _W_OUTPATIENT * 0.5)
    ordered = _online_times(rng, day, total)
    status = np.where(rng.random(total) < 0.07, "cancelled", "completed").astype(object)
    amount = _money(rng.lognormal(np.log(220), 0.6, total))
    order = np.argsort(ordered, kind="stable")
    return {
        "order_id": _digits_strings(f"P{day:%Y%m%d}", np.arange(total), 6),
        "institution_code": _strings(INSTITUTIONS[institution[order]]),
        "kind": _strings(kind[order]),
        "ordered_at": _times(ordered[order]),
        "status": _strings(status[order]),
        "amount": pa.array(amount[order]),
        "id_number": pop.id_numbers(patient[order]),
    }


def _renewals(
    scale: Scale, seed: int, pop: Population, day: date, rng: np.random.Generator
) -> dict[str, pa.Array]:
    total = _count(rng, 450 * pop.size / DISTRICT_RESIDENTS * _growth(day)
                   * _day_factor(day, "online"))  # fmt: skip
    institution = rng.choice(26, size=total, p=_W_INTERNET)
    requested = _online_times(rng, day, total)
    roll = rng.random(total)
    status = np.where(roll < 0.07, "rejected",
                      np.where(roll < 0.12, "cancelled", "approved")).astype(object)  # fmt: skip
    patients = _patients(scale, seed, rng, total, 4.0)
    order = np.argsort(requested, kind="stable")
    return {
        "renewal_id": _digits_strings(f"X{day:%Y%m%d}", np.arange(total), 6),
        "institution_code": _strings(INSTITUTIONS[institution[order]]),
        "requested_at": _times(requested[order]),
        "status": _strings(status[order]),
        "id_number": pop.id_numbers(patients[order]),
    }


def _care_orders(
    scale: Scale, seed: int, pop: Population, day: date, rng: np.random.Generator
) -> dict[str, pa.Array]:
    total = _count(rng, 80 * pop.size / DISTRICT_RESIDENTS * _growth(day)
                   * _day_factor(day, "online"))  # fmt: skip
    service = np.where(rng.random(total) < 0.6, "nursing", "rehabilitation").astype(object)
    institution = rng.choice(26, size=total, p=_W_CARE)
    ordered = _online_times(rng, day, total)
    status = np.where(rng.random(total) < 0.08, "cancelled", "completed").astype(object)
    amount = _money(
        np.where(service == "nursing", rng.uniform(80, 200, total), rng.uniform(100, 300, total))
    )
    patients = _patients(scale, seed, rng, total, 6.0)
    order = np.argsort(ordered, kind="stable")
    return {
        "order_id": _digits_strings(f"N{day:%Y%m%d}", np.arange(total), 6),
        "institution_code": _strings(INSTITUTIONS[institution[order]]),
        "service_type": _strings(service[order]),
        "ordered_at": _times(ordered[order]),
        "status": _strings(status[order]),
        "amount": pa.array(amount[order]),
        "id_number": pop.id_numbers(patients[order]),
    }


# --------------------------------------------------------------------------- public


def schema(dataset: str) -> pa.Schema:
    """The Arrow schema of ``dataset`` (declared names and order); KeyError if unknown."""
    return pa.schema([pa.field(name, kind) for name, kind in COLUMNS[dataset]])


def generate(dataset: str, day: date, *, scale: Scale = "small", seed: int = 20260101) -> pa.Table:
    """One day of ``dataset`` as the source would deliver it (deterministic; see module doc)."""
    if dataset not in COLUMNS:
        raise KeyError(f"unknown synthetic dataset {dataset!r}")
    if scale not in RESIDENTS:
        raise ValueError(f"unknown scale {scale!r}; one of {tuple(RESIDENTS)}")
    pop = population(scale, seed)
    rng = _rng(seed, scale, dataset, day.isoformat(), "rows")
    if day < LAUNCH:
        columns = {name: pa.nulls(0, kind) for name, kind in COLUMNS[dataset]}
    elif dataset == "pa_registrations":
        columns = _pa_registrations(pop, day, rng)
    elif dataset == "pa_realname":
        columns = _pa_realname(pop, day, rng)
    elif dataset == "pa_sessions":
        columns = _pa_sessions(pop, day, _sessions(scale, seed, day))
    elif dataset == "pa_module_visits":
        columns = _pa_module_visits(pop, day, _sessions(scale, seed, day), rng)
    elif dataset == "appointments":
        columns = _appointments_columns(pop, day, _appointments(scale, seed, day))
    elif dataset == "registrations":
        columns = _registrations(scale, seed, pop, day, rng)
    elif dataset == "consultations":
        columns = _consultations(scale, seed, pop, day, rng)
    elif dataset == "proxy_medication":
        columns = _proxy_medication(scale, seed, pop, day, rng)
    elif dataset == "renewals":
        columns = _renewals(scale, seed, pop, day, rng)
    else:
        columns = _care_orders(scale, seed, pop, day, rng)
    columns = _break_rows(_rng(seed, scale, dataset, day.isoformat(), "bad"), dataset, columns)
    return pa.Table.from_arrays(
        [columns[name].cast(kind) for name, kind in COLUMNS[dataset]], schema=schema(dataset)
    )


def to_csv_gz(table: pa.Table) -> bytes:
    """The wire format: UTF-8 CSV with a header, local ``yyyy-MM-dd HH:mm:ss`` times,
    ``true``/``false``, empty field for null, gzip (mtime 0, so bytes are reproducible)."""
    converted = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")
        converted.append(column)
    text_table = pa.Table.from_arrays(converted, names=table.column_names)
    buffer = io.BytesIO()
    pa_csv.write_csv(
        text_table,
        buffer,
        write_options=pa_csv.WriteOptions(include_header=True, quoting_style="needed"),
    )
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)
